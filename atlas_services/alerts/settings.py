"""A suite tenant's alert webhook (set by owners and managers: provider.manage) and its alerts (provider.view).

DB-only (the web tier calls it): the URL is checked for form and allow-list here, sealed, and shown only as a
hint; sending, and the DNS and address checks, happen in a worker (alerts.delivery).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select

from atlas_services import audit
from atlas_services.alerts.targets import AllowList, hint, parse_target
from atlas_services.authz import Actor, Capability, requires
from atlas_services.config import get_settings
from atlas_services.credentials import seal_webhook_url
from atlas_services.db import session_scope
from atlas_services.errors import InvalidInput, NotFound
from atlas_services.models import Alert, AlertEvent, AlertWebhook, WebhookKind, utcnow
from atlas_services.secrets import SecretValue


@dataclass(frozen=True)
class WebhookView:
    kind: str
    hint: str
    updated_at: datetime


@dataclass(frozen=True)
class AlertView:
    id: uuid.UUID
    event: str
    title: str
    status: str
    attempts: int
    last_error_code: str | None
    created_at: datetime
    sent_at: datetime | None


def allow_list() -> AllowList:
    return AllowList.parse(get_settings().alert_hosts)


@requires(Capability.PROVIDER_VIEW)
def show(actor: Actor) -> WebhookView | None:
    with session_scope() as session:
        row = session.get(AlertWebhook, actor.tenant_id)
        return None if row is None else WebhookView(row.kind, row.hint, row.updated_at)


@requires(Capability.PROVIDER_MANAGE)
def set_webhook(actor: Actor, kind: str, url: str) -> WebhookView:
    """Set (or replace) the webhook; audited without the URL. Events from now on are alerted."""
    if kind not in set(WebhookKind):
        raise InvalidInput("kind", "Choose teams, slack or json")
    target = parse_target(url, allow_list())
    shown = hint(target, url)
    now = utcnow()
    with session_scope() as session:
        sealed = seal_webhook_url(SecretValue(url.strip()), tenant_id=actor.tenant_id)
        row = session.get(AlertWebhook, actor.tenant_id, with_for_update=True)
        if row is None:
            row = AlertWebhook(tenant_id=actor.tenant_id, kind=kind, ciphertext=b"", nonce=b"", key_id="", since=now)
            session.add(row)
        row.kind, row.ciphertext, row.nonce, row.key_id = kind, sealed.ciphertext, sealed.nonce, sealed.key_id
        row.hint, row.updated_at, row.updated_by = shown, now, actor.user_id
        audit.record(session, tenant_id=actor.tenant_id, actor_user_id=actor.user_id, action="alerts.webhook_set",
                     target_type="tenant", target_id=actor.tenant_id, details={"kind": kind, "hint": shown})
    return WebhookView(kind, shown, now)


@requires(Capability.PROVIDER_MANAGE)
def clear(actor: Actor) -> bool:
    """Remove the webhook (no more alerts are sent); False when there was none."""
    with session_scope() as session:
        row = session.get(AlertWebhook, actor.tenant_id, with_for_update=True)
        if row is None:
            return False
        session.delete(row)
        audit.record(session, tenant_id=actor.tenant_id, actor_user_id=actor.user_id,
                     action="alerts.webhook_cleared", target_type="tenant", target_id=actor.tenant_id)
    return True


@requires(Capability.PROVIDER_MANAGE)
def request_test(actor: Actor) -> uuid.UUID:
    """Record a test alert; the caller enqueues its delivery (the web tier and the CLI never send)."""
    with session_scope() as session:
        if session.get(AlertWebhook, actor.tenant_id) is None:
            raise NotFound("alert webhook")
        alert = Alert(tenant_id=actor.tenant_id, event=AlertEvent.TEST, dedup_key=f"test:{uuid.uuid4()}",
                      title="Atlas test alert", details={"requested_by": str(actor.user_id)})
        session.add(alert)
        audit.record(session, tenant_id=actor.tenant_id, actor_user_id=actor.user_id, action="alerts.test_requested",
                     target_type="alert", target_id=alert.id)
        return alert.id


@requires(Capability.PROVIDER_VIEW)
def recent(actor: Actor, limit: int = 50) -> list[AlertView]:
    """The tenant's latest alerts, newest first."""
    if not isinstance(limit, int) or not 1 <= limit <= 500:
        raise InvalidInput("limit", "Choose between 1 and 500")
    with session_scope() as session:
        rows = session.exec(select(Alert).where(Alert.tenant_id == actor.tenant_id)
                            .order_by(col(Alert.created_at).desc(), col(Alert.id)).limit(limit)).all()
        return [AlertView(r.id, r.event, r.title, r.status, r.attempts, r.last_error_code, r.created_at, r.sent_at)
                for r in rows]
