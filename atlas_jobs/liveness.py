"""This worker process's liveness row: written at start, beaten from a thread, marked stopped on a clean exit."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from atlas_services import ops_counts, workers
from atlas_services.config import get_settings

log = logging.getLogger(__name__)


@contextmanager
def alive(interval: float | None = None) -> Iterator[uuid.UUID]:
    """Keep this process's worker row beating for the block; yields its id."""
    period = interval if interval is not None else get_settings().heartbeat_seconds
    worker_id = workers.register()
    stop = threading.Event()

    def loop() -> None:
        nonlocal worker_id
        while not stop.wait(period):
            try:
                if not workers.beat(worker_id):  # pruned or marked stopped by mistake: come back
                    worker_id = workers.register()
            except Exception as exc:  # noqa: BLE001 - a database blip: the next beat tries again
                log.warning("worker liveness beat failed: %s", type(exc).__name__)
            _flush_counts()

    thread = threading.Thread(target=loop, name="atlas-liveness", daemon=True)
    thread.start()
    try:
        yield worker_id
    finally:
        stop.set()
        thread.join(timeout=period + 5)
        _flush_counts()
        try:
            workers.stopped(worker_id)
        except Exception as exc:  # noqa: BLE001 - the row then ages out like a crashed worker's
            log.warning("could not mark the worker stopped: %s", type(exc).__name__)


def _flush_counts() -> None:
    """Hand this process's Graph and token counts to /metrics (atlas_services.ops_counts), with the beat."""
    try:
        ops_counts.flush()
    except Exception as exc:  # noqa: BLE001 - kept in memory: the next beat carries them
        log.warning("could not write the worker's counters: %s", type(exc).__name__)
