"""The scheduler loop each worker runs beside its consumer: every few seconds, one scheduling pass.

Every worker runs one; passes claim each due schedule with FOR UPDATE SKIP LOCKED, so several at once start
each due schedule once, and any live worker keeps the schedules going when another dies.
"""

from __future__ import annotations

import logging
import threading

from atlas_jobs.periodic import start_loop
from atlas_jobs.tasks import enqueue_scheduled_run
from atlas_services.config import get_settings
from atlas_services.schedules.tick import TickReport, run_tick

log = logging.getLogger(__name__)


def tick() -> TickReport:
    """One scheduling pass, enqueueing what it starts."""
    return run_tick(enqueue=enqueue_scheduled_run)


def start_scheduler_thread(stop: threading.Event, interval: float | None = None) -> threading.Thread | None:
    """Run a pass every ``interval`` seconds (the setting by default) until ``stop``; 0 turns the loop off."""
    period = interval if interval is not None else float(get_settings().scheduler_interval_seconds)
    if period <= 0:
        log.info("scheduler loop off (ATLAS_SCHEDULER_INTERVAL_SECONDS=0)")
        return None
    return start_loop("scheduler", period, tick, stop)
