"""The reaper loop each worker runs beside its consumer: stale runs fail, their scopes free up, and queued runs
whose job is missing from the queue are enqueued again (the outbox sweep).

Every worker runs one; reaping is a compare-and-set update, so several at once do no harm, and a dead worker's
runs are reaped by any live one. The sweep runs in one worker at a time (an advisory lock in the service).
"""

from __future__ import annotations

import logging
import threading

from atlas_jobs import tasks
from atlas_jobs.periodic import start_loop
from atlas_services.config import get_settings
from atlas_services.runs import lifecycle, outbox

log = logging.getLogger(__name__)


def reap_and_sweep(sweeper: outbox.Sweeper) -> None:
    lifecycle.reap()
    sweeper.sweep(tasks.run_ids_in_queue, tasks.deliver)


def start_reaper_thread(stop: threading.Event, interval: float | None = None) -> threading.Thread:
    # Half the heartbeat timeout: a lost worker's run fails within 1.5x the timeout, a lost job is delivered again
    # within 2 periods.
    period = interval if interval is not None else max(1.0, get_settings().heartbeat_timeout_seconds / 2)

    sweeper = outbox.Sweeper()
    # A first pass at once: runs whose jobs were lost while no worker was up are enqueued again a period later.
    return start_loop("reaper", period, lambda: reap_and_sweep(sweeper), stop, at_once=True)
