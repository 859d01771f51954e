"""Sign in with Microsoft in the worker (worker-only: it reaches Entra through MSAL): begin a flow (the
authorization URL) and redeem Microsoft's answer (the code) into a verified identity, then find the Atlas user by
the immutable oid + tid, or link it on a first sign-in to the pending invitation sent to the verified email.

Every refusal ends the flow as ``refused`` with an sso.* (or auth.*) reason code and an audit row; nothing is
created and no session is issued. Sealed material is wiped from the row once the flow is decided.
"""

from __future__ import annotations

import json
import logging
import uuid

from sqlmodel import Session, select

from atlas_services import audit, gateway, invitations
from atlas_services.credentials import Sealed, open_sso_flow, seal_sso_flow
from atlas_services.db import session_scope
from atlas_services.errors import ProviderError
from atlas_services.graph import oidc
from atlas_services.models import Membership, User, utcnow
from atlas_services.models.sso import SsoFlow, SsoIdentity
from atlas_services.reasons import ReasonCode
from atlas_services.secrets import SecretValue
from atlas_services.sso_sign_in import DONE, READY, REDEEMING, REFUSED, STARTING, digest

log = logging.getLogger("atlas.sso")


def _live(session: Session, flow_id: uuid.UUID, status: str) -> SsoFlow | None:
    flow = session.get(SsoFlow, flow_id, with_for_update=True)
    if flow is None or flow.status != status or flow.expires_at < utcnow():
        return None
    return flow


def begin_flow(flow_id: uuid.UUID) -> None:
    with session_scope() as session:
        flow = _live(session, flow_id, STARTING)
        if flow is None:
            return
        tenant_id, callback_url = flow.tenant_id, flow.redirect_uri
    try:
        started = oidc.begin(gateway.sso_sign_in_app(tenant_id), callback_url)
    except ProviderError as refused:
        _refuse(flow_id, refused.code)
        return
    sealed = seal_sso_flow(SecretValue(json.dumps(started.flow)), tenant_id=tenant_id, flow_id=flow_id,
                           purpose="flow")
    with session_scope() as session:
        flow = _live(session, flow_id, STARTING)
        if flow is None:
            return
        flow.ciphertext, flow.nonce, flow.key_id = sealed.ciphertext, sealed.nonce, sealed.key_id
        flow.state_hash, flow.auth_uri, flow.status = digest(str(started.flow["state"])), started.auth_uri, READY


def redeem_flow(flow_id: uuid.UUID) -> None:
    with session_scope() as session:
        flow = _live(session, flow_id, REDEEMING)
        if flow is None or flow.ciphertext is None or flow.answer_ciphertext is None:
            return
        tenant_id = flow.tenant_id
        msal_flow = json.loads(open_sso_flow(Sealed(flow.ciphertext, flow.nonce or b"", flow.key_id or ""),
                                             tenant_id=tenant_id, flow_id=flow_id, purpose="flow").reveal())
        answer = json.loads(open_sso_flow(Sealed(flow.answer_ciphertext, flow.answer_nonce or b"",
                                                 flow.answer_key_id or ""),
                                          tenant_id=tenant_id, flow_id=flow_id, purpose="answer").reveal())
        # Single use from here on: whatever happens next, the code and verifier are gone from the row.
        flow.ciphertext = flow.nonce = flow.answer_ciphertext = flow.answer_nonce = None
    try:
        identity = oidc.complete(gateway.sso_sign_in_app(tenant_id), msal_flow, answer)
        user_id = _sign_in(tenant_id, identity)
    except ProviderError as refused:
        _refuse(flow_id, refused.code)
        return
    with session_scope() as session:
        flow = session.get(SsoFlow, flow_id, with_for_update=True)
        if flow is None:
            return
        flow.status, flow.user_id = DONE, user_id
        audit.record(session, tenant_id=tenant_id, actor_user_id=user_id, action="sso.sign_in", target_type="user",
                     target_id=user_id, details={"entra_tenant_id": identity.tid, "oid": identity.oid})


def _sign_in(tenant_id: uuid.UUID, identity: oidc.VerifiedIdentity) -> uuid.UUID:
    """The user for this identity in this suite tenant: by oid + tid only; a first sign-in links to a pending
    invitation sent to the verified email. SSO_NO_MEMBERSHIP otherwise (nothing created)."""
    with session_scope() as session:
        linked = session.exec(select(SsoIdentity).where(SsoIdentity.entra_tenant_id == identity.tid,
                                                        SsoIdentity.oid == identity.oid)).first()
        if linked is not None:
            user = session.get(User, linked.user_id)
            member = session.exec(select(Membership.id).where(Membership.user_id == linked.user_id,
                                                              Membership.tenant_id == tenant_id)).first()
            if user is None or user.disabled or member is None:
                invited = invitations.join_by_verified_email(session, user.email, tenant_id) if user else None
                if invited != linked.user_id:
                    raise ProviderError(ReasonCode.SSO_NO_MEMBERSHIP)
            linked.last_sign_in_at = utcnow()
            return linked.user_id
        user_id = invitations.join_by_verified_email(session, identity.email, tenant_id)
        if user_id is None:
            raise ProviderError(ReasonCode.SSO_NO_MEMBERSHIP)
        session.add(SsoIdentity(user_id=user_id, entra_tenant_id=identity.tid, oid=identity.oid,
                                last_sign_in_at=utcnow()))
        audit.record(session, tenant_id=tenant_id, actor_user_id=user_id, action="sso.linked", target_type="user",
                     target_id=user_id, details={"entra_tenant_id": identity.tid, "oid": identity.oid})
        return user_id


def _refuse(flow_id: uuid.UUID, code: ReasonCode) -> None:
    with session_scope() as session:
        flow = session.get(SsoFlow, flow_id, with_for_update=True)
        if flow is None:
            return
        flow.status, flow.reason_code, flow.auth_uri = REFUSED, ReasonCode(code).value, None
        flow.ciphertext = flow.nonce = flow.answer_ciphertext = flow.answer_nonce = None
        audit.record(session, tenant_id=flow.tenant_id, actor_user_id=None, action="sso.refused",
                     target_type="sso_flow", target_id=flow.id, details={"reason_code": flow.reason_code})
    log.info("sign in with Microsoft refused: %s", code)
