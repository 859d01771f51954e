"""A real `atlas worker` runs the alert pass beside its consumer: a run that failed becomes one alert, the
worker's queue sends it to a real receiver on 127.0.0.1, and later passes never send it again."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlmodel import select

from atlas_services.alerts import settings as alerts
from atlas_services.config import get_settings
from atlas_services.db import session_scope
from atlas_services.models import Alert, OperationRun, utcnow
from tests.support.factories import create_connection, make_actor
from tests.support.processes import running_worker
from tests.support.webhook_receiver import Hook


def test_the_workers_alert_loop_sends_a_failed_run_once(db: None, huey_queue: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    hook = Hook()
    monkeypatch.setenv("ATLAS_ALERT_HOSTS", "private:127.0.0.1")
    monkeypatch.setenv("ATLAS_ALERT_INTERVAL_SECONDS", "1")
    monkeypatch.setenv("ATLAS_SCHEDULER_INTERVAL_SECONDS", "0")
    get_settings.cache_clear()
    owner = make_actor("owner")
    alerts.set_webhook(owner, "json", hook.url())
    connection = create_connection(owner)
    with session_scope() as session:
        session.add(OperationRun(tenant_id=owner.tenant_id, connection_id=connection.id, scope_key="w",
                                 op_type="inventory_sync", status="failed", finished_at=utcnow()))
    try:
        with running_worker():
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not hook.received:
                time.sleep(0.5)
            time.sleep(3)  # a few more passes: none may alert again
        with session_scope() as session:
            rows = list(session.exec(select(Alert)).all())
    finally:
        hook.server.shutdown()
        get_settings.cache_clear()
    assert len(hook.received) == 1 and hook.received[0]["event"] == "run_failed"
    assert [(a.status, a.attempts) for a in rows] == [("sent", 1)]
