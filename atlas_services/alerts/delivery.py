"""Sending one alert (workers only): open the tenant's webhook, format for its kind, POST through the guarded
sender, and record the attempt on the row (status, attempts, a reason code; never the URL or a response body).
"""

from __future__ import annotations

import uuid
from typing import Any

from atlas_services.alerts.settings import allow_list
from atlas_services.config import get_settings
from atlas_services.credentials import Sealed, open_webhook_url
from atlas_services.db import session_scope
from atlas_services.errors import ProviderError
from atlas_services.graph.webhooks import Resolver, WebhookFailed, post_json, resolve
from atlas_services.logs import log_context
from atlas_services.models import Alert, AlertStatus, AlertWebhook, WebhookKind, utcnow
from atlas_services.reasons import ReasonCode


def payload(kind: str, alert: Alert) -> dict[str, Any]:
    """The message for Teams (a MessageCard), Slack ({"text"}) or generic JSON; names and ids only."""
    facts = {k: v for k, v in alert.details.items() if v is not None}
    if kind == WebhookKind.TEAMS:
        return {"@type": "MessageCard", "@context": "https://schema.org/extensions", "summary": alert.title,
                "title": f"Atlas: {alert.title}",
                "sections": [{"facts": [{"name": k, "value": str(v)} for k, v in facts.items()]}]}
    if kind == WebhookKind.SLACK:
        lines = "\n".join(f"• {k}: {v}" for k, v in facts.items())
        return {"text": f"*Atlas: {alert.title}*" + (f"\n{lines}" if lines else "")}
    return {"source": "atlas", "alert_id": str(alert.id), "event": alert.event, "title": alert.title,
            "created_at": alert.created_at.isoformat(), "details": facts}


def deliver(alert_id: uuid.UUID, resolver: Resolver = resolve) -> float | None:
    """Try to send a pending alert once; the delay before the next try when it should be retried, else None.

    The row is locked for the send (SKIP LOCKED), so two deliveries of one alert never both send it.
    """
    settings = get_settings()
    with session_scope() as session:
        alert = session.get(Alert, alert_id, with_for_update={"skip_locked": True})
        if alert is None or alert.status != AlertStatus.PENDING:
            return None
        webhook = session.get(AlertWebhook, alert.tenant_id)
        alert.attempts += 1
        alert.last_attempt_at = utcnow()
        try:
            with log_context(tenant_id=alert.tenant_id):  # httpx logs each request: the line says whose
                _send(webhook, alert, resolver)
        except ProviderError as exc:
            alert.status, alert.last_error_code = AlertStatus.FAILED, str(exc.code)
            return None
        except WebhookFailed as failed:
            alert.last_error_code = failed.code.value
            if failed.retryable and alert.attempts < settings.alert_max_attempts:
                return float(settings.alert_retry_seconds * 2 ** (alert.attempts - 1))
            alert.status = AlertStatus.FAILED
            return None
        alert.status, alert.sent_at, alert.last_error_code = AlertStatus.SENT, utcnow(), None
        return None


def _send(webhook: AlertWebhook | None, alert: Alert, resolver: Resolver) -> None:
    if webhook is None:
        raise WebhookFailed(ReasonCode.ALERT_TARGET_REFUSED, retryable=False)
    url = open_webhook_url(Sealed(webhook.ciphertext, webhook.nonce, webhook.key_id), tenant_id=alert.tenant_id)
    post_json(url.reveal(), payload(webhook.kind, alert), allow_list(), resolver=resolver)
