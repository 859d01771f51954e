"""The one shape of a worker's background loops (reaper, scheduler, alerts): a pass every period until stopped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


def start_loop(name: str, period: float, work: Callable[[], object], stop: threading.Event, *,
               at_once: bool = False) -> threading.Thread:
    """Run ``work`` every ``period`` seconds (first at once when ``at_once``) until ``stop`` is set. A failed pass
    is logged by its exception type only (its text may carry anything) and tried again next period."""

    def loop() -> None:
        if not at_once and stop.wait(period):
            return
        while True:
            try:
                work()
            except Exception as exc:  # noqa: BLE001 - the database or Redis may be briefly away; try next period
                log.warning("%s pass failed: %s", name, type(exc).__name__)
            if stop.wait(period):
                return

    thread = threading.Thread(target=loop, name=f"atlas-{name}", daemon=True)
    thread.start()
    return thread
