"""The canary sweep for alerts: a webhook URL holding a unique token goes in through the CLI (stdin), alerts are
evaluated and sent on the success, retry (5xx, re-enqueued in Redis), redirect, refused-host and unopenable
paths, and then no encoding of the token is found in a full pg_dump, any log line, the CLI's output, Redis, or
what the webhook received."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from atlas_cli.main import app as cli
from atlas_jobs.alerts import enqueue_alert
from atlas_services.alerts import settings as alerts
from atlas_services.alerts.delivery import deliver
from atlas_services.alerts.evaluate import run_pass
from atlas_services.config import get_settings
from atlas_services.db import session_scope
from atlas_services.models import Alert, AlertWebhook, OperationRun, utcnow
from tests.support.canary import encodings, pg_dump_text, redis_text
from tests.support.factories import create_connection, make_actor
from tests.support.webhook_receiver import Hook

TOKEN = f"CANARY~{uuid.uuid4().hex}"


@pytest.fixture
def private_loopback(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ATLAS_ALERT_HOSTS", "private:127.0.0.1,hooks.example.test")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def _set(owner: object, url: str) -> str:
    result = CliRunner().invoke(cli, ["alerts", "set", "--kind", "slack", "--tenant", owner.tenant_name,  # type: ignore[attr-defined]
                                      "--as", owner.email, "--json"], input=url)  # type: ignore[attr-defined]
    assert result.exit_code == 0, result.output
    return result.output


def test_the_webhook_token_reaches_no_log_no_dump_no_redis_and_no_payload(
        db: None, private_loopback: None, huey_queue: object, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    outputs: list[str] = []
    owner = make_actor("owner")
    connection = create_connection(owner)
    failing, redirecting, good = Hook(status=503), Hook(status=302), Hook()
    redirecting.location = good.url() + TOKEN

    outputs.append(_set(owner, f"http://127.0.0.1:{failing.port}/hook/{TOKEN}"))
    with session_scope() as session:
        session.add(OperationRun(tenant_id=owner.tenant_id, connection_id=connection.id, scope_key="canary",
                                 op_type="health_check", status="failed", finished_at=utcnow()))
    created = run_pass(enqueue_alert)  # the retry path re-enqueues into Redis' schedule
    assert len(created) == 1 and deliver(created[0]) is not None
    enqueue_alert(created[0], delay=60)

    outputs.append(_set(owner, f"http://127.0.0.1:{redirecting.port}/hook/{TOKEN}"))
    assert deliver(alerts.request_test(owner)) is None
    outputs.append(_set(owner, f"http://127.0.0.1:{good.port}/hook/{TOKEN}"))
    assert deliver(alerts.request_test(owner)) is None
    refused = CliRunner().invoke(cli, ["alerts", "set", "--tenant", owner.tenant_name, "--as", owner.email,
                                       "--json"], input=f"https://evil.example/{TOKEN}")
    assert refused.exit_code != 0
    outputs.append(refused.output)

    # A sealed URL copied onto another tenant's row does not open there: the refusal records a code only.
    other = make_actor("owner")
    with session_scope() as session:
        row = session.get(AlertWebhook, owner.tenant_id)
        assert row is not None
        session.add(AlertWebhook(tenant_id=other.tenant_id, kind="json", ciphertext=row.ciphertext,
                                 nonce=row.nonce, key_id=row.key_id, hint=row.hint))
    assert deliver(alerts.request_test(other)) is None
    for command in (["alerts", "show"], ["alerts", "list"]):
        outputs.append(CliRunner().invoke(cli, [*command, "--tenant", owner.tenant_name, "--as", owner.email,
                                                "--json"]).output)

    with session_scope() as session:
        codes = sorted(str(a.last_error_code) for a in session.exec(select(Alert)).all())
    assert codes == ["None", "alert.redirect_refused", "alert.unreachable", "credential.unavailable"]
    assert good.received and failing.received and redirecting.received  # the haystacks are real
    logs = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    stores = {"logs": logs, "pg_dump": pg_dump_text(), "redis": redis_text(), "cli": "\n".join(outputs),
              "payloads": repr([*good.received, *failing.received, *redirecting.received])}
    assert str(created[0]) in stores["redis"]
    found = [f"{where}: {name}" for where, text in stores.items() for name, needle in encodings(TOKEN).items()
             if needle.lower() in text.lower()]
    leaks = [line for line in logs.splitlines() if TOKEN in line]
    assert found == [], leaks[:3]
    for hook in (failing, redirecting, good):
        hook.server.shutdown()
