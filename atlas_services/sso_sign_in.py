"""Sign in with Microsoft, the browser's side (DB-only: the web tier's plain HTTP routes call it).

The web process makes no outbound call. ``start`` writes a flow row and the route enqueues ``sso_begin`` (the
worker asks MSAL for the authorization URL); the browser waits on ``poll`` and is sent to Microsoft. The callback
(``callback``) checks the flow is this browser's, live and unused, and its ``state`` (constant time), seals
Microsoft's answer onto the row, and the route enqueues ``sso_redeem``; ``finish`` hands out the session once the
worker marked the flow done. A flow is bound to the browser by an HttpOnly cookie, expires in minutes and issues
at most one session. Task arguments carry only the flow id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from atlas_services import sessions
from atlas_services.credentials import seal_sso_flow
from atlas_services.db import session_scope
from atlas_services.errors import ProviderError, Throttled
from atlas_services.models import Tenant, utcnow
from atlas_services.models.sso import SsoConfig, SsoFlow
from atlas_services.reasons import ReasonCode
from atlas_services.secrets import SecretValue

FLOW_MINUTES = 10
# Starting a flow costs a queued task and needs no account: at most this many live flows per suite tenant.
MAX_LIVE_FLOWS = 200
STARTING, READY, REDEEMING, DONE, REFUSED = "starting", "ready", "redeeming", "done", "refused"
_MAX_PARAM = 4096


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", errors="replace")).hexdigest()


@dataclass(frozen=True)
class FlowView:
    status: str
    auth_uri: str | None = None
    reason_code: str | None = None


def start(tenant_name: object, browser_token: str, redirect_uri: str) -> uuid.UUID:
    """A new flow for the suite tenant named ``tenant_name``; SSO_NOT_CONFIGURED for an unknown tenant too.
    ``redirect_uri``: this web tier's callback URL (Entra refuses any not registered on the sign-in app)."""
    name = tenant_name.strip() if isinstance(tenant_name, str) else ""
    with session_scope() as session:
        tenant_id = session.exec(select(Tenant.id).where(Tenant.name == name[:100])).first() if name else None
        if tenant_id is None or session.get(SsoConfig, tenant_id) is None:
            raise ProviderError(ReasonCode.SSO_NOT_CONFIGURED)
        now = utcnow()
        # Decided or abandoned flows go once expired (their sealed material is already gone or useless).
        session.execute(delete(SsoFlow).where(col(SsoFlow.tenant_id) == tenant_id, col(SsoFlow.expires_at) < now))
        live = session.exec(select(func.count()).select_from(SsoFlow).where(SsoFlow.tenant_id == tenant_id)).one()
        if live >= MAX_LIVE_FLOWS:
            raise Throttled("Too many sign-ins are in progress for this workspace; try again in a few minutes.")
        flow = SsoFlow(tenant_id=tenant_id, browser_hash=digest(browser_token), redirect_uri=redirect_uri[:2000],
                       created_at=now,
                       expires_at=now + timedelta(minutes=FLOW_MINUTES))
        session.add(flow)
        session.flush()
        return flow.id


def _browser_flow(session: Session, flow_id: object, browser_token: object, *, lock: bool = False) -> SsoFlow:
    """This browser's live flow, else SSO_FLOW_UNKNOWN (unknown, another browser's, expired: all the same)."""
    try:
        key = uuid.UUID(str(flow_id))
    except ValueError:
        raise ProviderError(ReasonCode.SSO_FLOW_UNKNOWN) from None
    flow = session.get(SsoFlow, key, with_for_update=lock)
    if (flow is None or not isinstance(browser_token, str) or not browser_token
            or not hmac.compare_digest(flow.browser_hash, digest(browser_token)) or flow.expires_at < utcnow()):
        raise ProviderError(ReasonCode.SSO_FLOW_UNKNOWN)
    return flow


def poll(flow_id: object, browser_token: object) -> FlowView:
    with session_scope() as session:
        flow = _browser_flow(session, flow_id, browser_token)
        return FlowView(flow.status, flow.auth_uri if flow.status == READY else None, flow.reason_code)


def callback(flow_id: object, browser_token: object, params: dict[str, str]) -> uuid.UUID:
    """Microsoft's redirect back: SSO_FLOW_UNKNOWN without a matching live flow in this browser,
    SSO_STATE_MISMATCH for a wrong state (the flow is then spent). Returns the flow id to redeem."""
    answer = {k: v[:_MAX_PARAM] for k, v in params.items() if k in ("code", "state", "session_state", "error")
              and isinstance(v, str)}
    with session_scope() as session:
        flow = _browser_flow(session, flow_id, browser_token, lock=True)
        if flow.status != READY or flow.state_hash is None or flow.used_at is not None:
            raise ProviderError(ReasonCode.SSO_FLOW_UNKNOWN)
        if not hmac.compare_digest(flow.state_hash, digest(answer.get("state", ""))):
            flow.status, flow.reason_code, flow.used_at = REFUSED, ReasonCode.SSO_STATE_MISMATCH.value, utcnow()
            refused = True
        else:
            refused = False
            sealed = seal_sso_flow(SecretValue(json.dumps(answer)), tenant_id=flow.tenant_id, flow_id=flow.id,
                                   purpose="answer")
            flow.status, flow.auth_uri = REDEEMING, None
            flow.answer_ciphertext, flow.answer_nonce, flow.answer_key_id = (sealed.ciphertext, sealed.nonce,
                                                                             sealed.key_id)
    if refused:
        raise ProviderError(ReasonCode.SSO_STATE_MISMATCH)
    return flow.id


def finish(flow_id: object, browser_token: object) -> str:
    """The session token for a flow the worker marked done, once; the flow is spent."""
    with session_scope() as session:
        flow = _browser_flow(session, flow_id, browser_token, lock=True)
        if flow.status != DONE or flow.user_id is None or flow.used_at is not None:
            raise ProviderError(ReasonCode(flow.reason_code) if flow.reason_code else ReasonCode.SSO_FLOW_UNKNOWN)
        flow.used_at = utcnow()
        user_id, tenant_id = flow.user_id, flow.tenant_id
    return sessions.open_session(user_id, tenant_id)
