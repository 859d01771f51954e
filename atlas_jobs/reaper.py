"""The reaper loop each worker runs beside its consumer: stale runs fail, and their scopes free up.

Every worker runs one; reaping is a compare-and-set update, so several at once do no harm, and a
dead worker's runs are reaped by any live one.
"""

from __future__ import annotations

import logging
import threading

from atlas_services.config import get_settings
from atlas_services.runs import lifecycle

log = logging.getLogger(__name__)


def start_reaper_thread(stop: threading.Event, interval: float | None = None) -> threading.Thread:
    # Half the heartbeat timeout: a lost worker's run fails within 1.5x the timeout.
    period = interval if interval is not None else max(1.0, get_settings().heartbeat_timeout_seconds / 2)

    def loop() -> None:
        while not stop.wait(period):
            try:
                lifecycle.reap()
            except Exception as exc:  # noqa: BLE001 - the database may be briefly away; try again next period
                log.warning("reaper pass failed: %s", type(exc).__name__)

    thread = threading.Thread(target=loop, name="atlas-reaper", daemon=True)
    thread.start()
    return thread
