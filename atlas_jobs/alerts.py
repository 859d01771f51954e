"""Alerts in the worker: the alert pass (a loop beside the scheduler's) and the send task.

The task's only argument is the alert id. A failed send that may succeed later is re-enqueued with a doubling
delay (huey's schedule); the row counts attempts, so a lost delay is at worst one alert left pending.
"""

from __future__ import annotations

import logging
import threading
import uuid

from atlas_jobs.huey_app import huey
from atlas_jobs.periodic import start_loop
from atlas_services.alerts.evaluate import run_pass
from atlas_services.authz import Capability
from atlas_services.config import get_settings

log = logging.getLogger(__name__)


@huey.task()  # type: ignore[untyped-decorator]
def send_alert(alert_id: str) -> None:
    # Lazy, like tasks.execute_run: the web tier enqueues through this module but must not reach the sender
    # (atlas_services.graph). Listed in pyproject's import-linter config.
    from atlas_services.alerts.delivery import deliver

    retry_in = deliver(uuid.UUID(alert_id))
    if retry_in is not None:
        enqueue_alert(uuid.UUID(alert_id), delay=retry_in)


# Atlas sends alerts by itself, to the webhook someone holding provider.manage set; nobody's capability is
# re-checked at send time, and the webhook is cleared (so nothing is sent) when it is removed.
send_alert.__atlas_capability__ = Capability.PROVIDER_MANAGE


def enqueue_alert(alert_id: uuid.UUID, delay: float | None = None) -> None:
    task = send_alert.s(str(alert_id), delay=delay)
    if delay:
        huey.add_schedule(task)
    else:
        huey.enqueue(task)


def alert_pass() -> list[uuid.UUID]:
    return run_pass(enqueue=enqueue_alert)


def start_alert_thread(stop: threading.Event, interval: float | None = None) -> threading.Thread | None:
    """Run the alert pass every ``interval`` seconds until ``stop``; 0 turns the loop off."""
    period = interval if interval is not None else float(get_settings().alert_interval_seconds)
    if period <= 0:
        return None
    return start_loop("alerts", period, alert_pass, stop)
