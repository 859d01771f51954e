"""Alerts (issue 10) against real PostgreSQL and real HTTP servers on 127.0.0.1: the sealed webhook setting, the
alert pass (each event once), delivery with retries, and the SSRF guard (allow-list, loopback by DNS name, a
redirect to a private address)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select, update

from atlas_services.alerts import settings as alerts
from atlas_services.alerts.delivery import deliver
from atlas_services.alerts.evaluate import run_pass, threshold_for
from atlas_services.alerts.targets import AllowList
from atlas_services.config import get_settings
from atlas_services.db import session_scope
from atlas_services.errors import Forbidden, InvalidInput
from atlas_services.graph.webhooks import WebhookFailed, post_json
from atlas_services.models import (
    Alert,
    AlertWebhook,
    AuditEvent,
    OperationRun,
    ProviderConnection,
    ProviderCredential,
    Schedule,
    utcnow,
)
from atlas_services.reasons import ReasonCode
from tests.support.factories import create_connection, make_actor
from tests.support.webhook_receiver import Hook


@pytest.fixture
def hosts(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    def use(spec: str) -> None:
        monkeypatch.setenv("ATLAS_ALERT_HOSTS", spec)
        monkeypatch.setenv("ATLAS_ALERT_RETRY_SECONDS", "1")
        get_settings.cache_clear()
    yield use
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    yield server
    server.server.shutdown()


def _failed_run(actor: Any, connection_id: uuid.UUID) -> uuid.UUID:
    with session_scope() as session:
        run = OperationRun(tenant_id=actor.tenant_id, connection_id=connection_id, scope_key=f"t:{uuid.uuid4()}",
                           op_type="inventory_sync", status="failed", reason_code="graph.unavailable",
                           finished_at=utcnow())
        session.add(run)
        return run.id


def test_the_webhook_url_is_sealed_shown_as_a_hint_and_set_only_by_managers(db: None, hosts: Any, hook: Hook) -> None:
    hosts("private:127.0.0.1")
    owner = make_actor("owner")
    view = alerts.set_webhook(owner, "slack", hook.url())
    assert view.hint == "127.0.0.1 …1234"
    with session_scope() as session:
        row = session.get(AlertWebhook, owner.tenant_id)
        assert row is not None and b"TOKEN" not in row.ciphertext
        details = [e.details for e in session.exec(select(AuditEvent).where(AuditEvent.tenant_id == owner.tenant_id))]
    assert "TOKEN" not in json.dumps(details)
    with pytest.raises(Forbidden):
        alerts.set_webhook(make_actor("operator", tenant_name=None), "slack", hook.url())
    with pytest.raises(InvalidInput) as refused:
        alerts.set_webhook(owner, "slack", "https://evil.example/hook/TOKEN-x")
    assert "TOKEN" not in str(refused.value)
    with pytest.raises(InvalidInput):  # plain http to a host not marked private
        hosts("hooks.example")
        alerts.set_webhook(owner, "json", "http://hooks.example/TOKEN")
    assert alerts.show(make_actor("owner")) is None  # another tenant sees nothing
    assert alerts.clear(owner) and alerts.show(owner) is None


def test_a_failed_run_alerts_once_and_is_delivered_to_slack(db: None, hosts: Any, hook: Hook) -> None:
    hosts("private:127.0.0.1")
    owner = make_actor("owner")
    alerts.set_webhook(owner, "slack", hook.url())
    connection = create_connection(owner)
    run_id = _failed_run(owner, connection.id)
    queued: list[uuid.UUID] = []
    created = run_pass(queued.append)
    assert created == queued and len(created) == 1
    assert run_pass(queued.append) == []  # de-duplicated
    assert deliver(created[0]) is None
    assert hook.received and "failed" in hook.received[0]["text"] and "TOKEN" not in json.dumps(hook.received)
    with session_scope() as session:
        alert = session.get(Alert, created[0])
        assert alert is not None and alert.status == "sent" and alert.attempts == 1
        assert alert.dedup_key == f"run:{run_id}"
    assert deliver(created[0]) is None and len(hook.received) == 1  # sent already: never twice
    assert [a.status for a in alerts.recent(owner)] == ["sent"]
    assert alerts.recent(make_actor("owner")) == []


def test_a_failing_webhook_is_retried_with_backoff_then_given_up(db: None, hosts: Any, monkeypatch: Any) -> None:
    server = Hook(status=503)
    hosts("private:127.0.0.1")
    monkeypatch.setenv("ATLAS_ALERT_MAX_ATTEMPTS", "3")
    get_settings.cache_clear()
    owner = make_actor("owner")
    alerts.set_webhook(owner, "teams", server.url())
    alert_id = alerts.request_test(owner)
    assert [deliver(alert_id), deliver(alert_id), deliver(alert_id)] == [1.0, 2.0, None]
    with session_scope() as session:
        alert = session.get(Alert, alert_id)
        assert alert is not None and (alert.status, alert.attempts) == ("failed", 3)
        assert alert.last_error_code == ReasonCode.ALERT_UNREACHABLE
    assert server.received[0]["@type"] == "MessageCard"
    server.server.shutdown()


def test_a_name_resolving_to_loopback_is_refused_unless_marked_private(hook: Hook) -> None:
    with pytest.raises(WebhookFailed) as refused:
        post_json(f"https://localhost:{hook.port}/hook", {"text": "x"}, AllowList.parse("localhost"))
    assert refused.value.code == ReasonCode.ALERT_TARGET_REFUSED
    with pytest.raises(WebhookFailed) as unlisted:
        post_json(hook.url(), {"text": "x"}, AllowList.parse("hooks.slack.com"))
    assert unlisted.value.code == ReasonCode.ALERT_TARGET_REFUSED
    assert hook.received == []
    assert post_json(hook.url("localhost"), {"text": "x"}, AllowList.parse("private:localhost")) == 200
    assert len(hook.received) == 1


def test_a_redirect_is_not_followed(hook: Hook) -> None:
    redirecting = Hook(status=302, location=hook.url())
    with pytest.raises(WebhookFailed) as refused:
        post_json(redirecting.url(), {"text": "x"}, AllowList.parse("private:127.0.0.1"))
    assert refused.value.code == ReasonCode.ALERT_REDIRECT_REFUSED and not refused.value.retryable
    assert len(redirecting.received) == 1 and hook.received == []
    redirecting.server.shutdown()


def test_a_rebinding_resolver_cannot_reach_a_private_address(hook: Hook) -> None:
    # A public-looking host that resolves to one public and one private address: refused as a whole.
    def resolver(host: str, port: int) -> list[str]:
        return ["127.0.0.1", "93.184.216.34"]
    with pytest.raises(WebhookFailed) as refused:
        post_json(f"https://hooks.example:{hook.port}/x", {}, AllowList.parse("hooks.example"), resolver=resolver)
    assert refused.value.code == ReasonCode.ALERT_TARGET_REFUSED and hook.received == []


def test_an_expiring_credential_alerts_once_per_threshold(db: None, hosts: Any, hook: Hook) -> None:
    hosts("private:127.0.0.1")
    owner = make_actor("owner")
    alerts.set_webhook(owner, "json", hook.url())
    connection = create_connection(owner)
    with session_scope() as session:
        session.exec(update(ProviderCredential).where(ProviderCredential.connection_id == connection.id)  # type: ignore[call-overload]
                     .values(expires_at=utcnow() + timedelta(days=20)))
    first = run_pass(lambda _: None)
    assert len(first) == 1 and run_pass(lambda _: None) == []
    with session_scope() as session:
        session.exec(update(ProviderCredential).where(ProviderCredential.connection_id == connection.id)  # type: ignore[call-overload]
                     .values(expires_at=utcnow() + timedelta(hours=20)))
    second = run_pass(lambda _: None)
    with session_scope() as session:
        keys = {session.get(Alert, a).dedup_key.rsplit(":", 1)[1] for a in first + second}  # type: ignore[union-attr]
    assert keys == {"30", "1"}


def test_thresholds() -> None:
    now = utcnow()
    assert threshold_for(now + timedelta(days=31), now) is None
    assert threshold_for(now + timedelta(days=29), now) == 30
    assert threshold_for(now + timedelta(days=6), now) == 7
    assert threshold_for(now - timedelta(days=2), now) == 1


def test_an_unhealthy_connection_and_a_skipping_schedule_alert_once(db: None, hosts: Any, hook: Hook) -> None:
    hosts("private:127.0.0.1")
    owner = make_actor("owner")
    alerts.set_webhook(owner, "json", hook.url())
    connection = create_connection(owner)
    with session_scope() as session:
        session.exec(update(ProviderConnection).where(ProviderConnection.id == connection.id)  # type: ignore[call-overload]
                     .values(health_status="unhealthy", health_reason_code="auth.failed", last_checked_at=utcnow()))
        # Creating a connection gave it its tenant's default schedules: one of them is skipping (under threshold).
        session.exec(update(Schedule).where(Schedule.connection_id == connection.id,  # type: ignore[call-overload]
                                            Schedule.op_type == "compliance_snapshot")
                     .values(consecutive_skips=2, last_outcome="scope_busy"))
    first = run_pass(lambda _: None)
    with session_scope() as session:
        assert {session.get(Alert, a).event for a in first} == {"connection_unhealthy"}  # type: ignore[union-attr]
        session.exec(update(Schedule).where(Schedule.connection_id == connection.id,  # type: ignore[call-overload]
                                            Schedule.op_type == "compliance_snapshot").values(consecutive_skips=3))
    second = run_pass(lambda _: None)
    with session_scope() as session:
        assert {session.get(Alert, a).event for a in second} == {"schedule_skipping"}  # type: ignore[union-attr]
    assert run_pass(lambda _: None) == []
    assert alerts.recent(make_actor("owner")) == []  # another tenant: nothing


def test_no_webhook_no_alerts(db: None) -> None:
    owner = make_actor("owner")
    _failed_run(owner, create_connection(owner).id)
    assert run_pass(lambda _: None) == []
