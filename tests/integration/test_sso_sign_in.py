"""Sign in with Microsoft through the services against real PostgreSQL and the simulator over real HTTP: the flow
rows, the worker's begin/redeem (called here directly; the queue path is covered by the browser test), identity
matching by oid + tid, linking to a pending invitation by verified email, the "SSO required" policy with its
break-glass owner, and each refusal leaving no identity, membership or session behind."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import select

from atlas_services import invitations, mfa, sso_config, sso_sign_in, sso_worker
from atlas_services.authz import Actor
from atlas_services.db import session_scope
from atlas_services.errors import Forbidden, InvalidInput, ProviderError
from atlas_services.models import AuditEvent, Membership, UserSession
from atlas_services.models.sso import SsoConfig, SsoFlow, SsoIdentity
from atlas_services.reasons import ReasonCode
from atlas_sim.server import RunningSimulator
from tests.support.factories import PASSWORD, join_tenant, make_actor

pytestmark = pytest.mark.usefixtures("simulator")
MEGAN = "megan@contoso.example"
REDIRECT = "http://127.0.0.1:3000/auth/sso/callback"


def _count(model: type) -> int:
    with session_scope() as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def _configure(owner: Actor, simulator: RunningSimulator) -> None:
    tenant = next(t for t in simulator.scenario.tenants if t.display_name == "Contoso")
    sso_config.configure(owner, cloud="simulator", entra_tenant_id=tenant.id, client_id=tenant.apps[0].client_id,
                         client_secret=tenant.apps[0].secrets[0].value)


def _tenant_name(actor: Actor) -> str:
    from atlas_services.models import Tenant
    with session_scope() as session:
        tenant = session.get(Tenant, actor.tenant_id)
        assert tenant is not None
        return tenant.name


def _to_callback(owner: Actor, login: str = MEGAN) -> tuple[str, str, dict[str, str]]:
    """Start a flow, let the worker begin it, and play the browser at the simulator: (flow id, cookie, answer)."""
    browser = secrets.token_urlsafe(16)
    flow_id = sso_sign_in.start(_tenant_name(owner), browser, REDIRECT)
    assert sso_sign_in.poll(flow_id, browser).status == sso_sign_in.STARTING
    sso_worker.begin_flow(flow_id)
    view = sso_sign_in.poll(flow_id, browser)
    assert view.status == sso_sign_in.READY and view.auth_uri
    query = {k: v[0] for k, v in parse_qs(urlsplit(view.auth_uri).query).items()}
    with httpx.Client() as client:
        answer = client.post(view.auth_uri.split("?")[0], data=query | {"login": login})
    assert answer.status_code == 302
    return str(flow_id), browser, {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()}


def _redeem(flow_id: str, browser: str, answer: dict[str, str]) -> sso_sign_in.FlowView:
    sso_sign_in.callback(flow_id, browser, answer)
    sso_worker.redeem_flow(__import__("uuid").UUID(flow_id))
    return sso_sign_in.poll(flow_id, browser)


def test_an_invited_member_signs_in_once_and_is_then_found_by_oid_and_tid(db: None,
                                                                          simulator: RunningSimulator) -> None:
    owner = make_actor("owner")
    _configure(owner, simulator)
    invitations.invite_member(owner, email=MEGAN, role="operator", password=PASSWORD)
    flow_id, browser, answer = _to_callback(owner)
    assert _redeem(flow_id, browser, answer).status == sso_sign_in.DONE
    token = sso_sign_in.finish(flow_id, browser)
    with session_scope() as session:
        assert session.exec(select(UserSession)).first() is not None
        identity = session.exec(select(SsoIdentity)).one()
        member = session.exec(select(Membership).where(Membership.user_id == identity.user_id,
                                                       Membership.tenant_id == owner.tenant_id)).one()
        assert member.role == "operator"
        flow = session.get(SsoFlow, __import__("uuid").UUID(flow_id))
        assert flow is not None and flow.ciphertext is None and flow.answer_ciphertext is None
    assert token
    # The session is issued once.
    with pytest.raises(ProviderError) as again:
        sso_sign_in.finish(flow_id, browser)
    assert again.value.code == ReasonCode.SSO_FLOW_UNKNOWN
    # The second sign-in needs no invitation: oid + tid find the user.
    flow_id, browser, answer = _to_callback(owner)
    assert _redeem(flow_id, browser, answer).status == sso_sign_in.DONE
    assert _count(SsoIdentity) == 1
    with session_scope() as session:
        actions = set(session.exec(select(AuditEvent.action).where(AuditEvent.tenant_id == owner.tenant_id)).all())
    assert {"sso.configured", "sso.linked", "sso.sign_in"} <= actions


def test_without_an_invitation_to_the_verified_email_nothing_is_created(db: None,
                                                                       simulator: RunningSimulator) -> None:
    owner = make_actor("owner")
    _configure(owner, simulator)
    invitations.invite_member(owner, email="someone.else@contoso.example", role="operator", password=PASSWORD)
    flow_id, browser, answer = _to_callback(owner)
    view = _redeem(flow_id, browser, answer)
    assert (view.status, view.reason_code) == (sso_sign_in.REFUSED, ReasonCode.SSO_NO_MEMBERSHIP)
    assert _count(SsoIdentity) == 0 and _count(UserSession) == 0
    with pytest.raises(ProviderError):
        sso_sign_in.finish(flow_id, browser)


@pytest.mark.parametrize(("fault", "code"), [("wrong_tid", ReasonCode.SSO_WRONG_TENANT),
                                             ("other_audience", ReasonCode.SSO_WRONG_AUDIENCE),
                                             ("expired", ReasonCode.SSO_TOKEN_EXPIRED),
                                             ("malformed", ReasonCode.SSO_TOKEN_INVALID)])
def test_bad_id_tokens_create_no_account_and_no_session(db: None, simulator: RunningSimulator, fault: str,
                                                       code: ReasonCode) -> None:
    owner = make_actor("owner")
    _configure(owner, simulator)
    invitations.invite_member(owner, email=MEGAN, role="operator", password=PASSWORD)
    flow_id, browser, answer = _to_callback(owner)
    with simulator.id_token_fault(fault):
        view = _redeem(flow_id, browser, answer)
    assert (view.status, view.reason_code) == (sso_sign_in.REFUSED, code)
    assert _count(SsoIdentity) == 0 and _count(UserSession) == 0
    with session_scope() as session:
        assert session.exec(select(Membership).where(Membership.tenant_id == owner.tenant_id)).all().__len__() == 1


def test_a_tampered_state_is_refused_and_spends_the_flow(db: None, simulator: RunningSimulator) -> None:
    owner = make_actor("owner")
    _configure(owner, simulator)
    flow_id, browser, answer = _to_callback(owner)
    with pytest.raises(ProviderError) as caught:
        sso_sign_in.callback(flow_id, browser, answer | {"state": answer["state"] + "x"})
    assert caught.value.code == ReasonCode.SSO_STATE_MISMATCH
    with pytest.raises(ProviderError) as again:
        sso_sign_in.callback(flow_id, browser, answer)
    assert again.value.code == ReasonCode.SSO_FLOW_UNKNOWN


def test_a_callback_without_a_matching_flow_is_refused(db: None, simulator: RunningSimulator) -> None:
    owner = make_actor("owner")
    _configure(owner, simulator)
    flow_id, browser, answer = _to_callback(owner)
    for wrong_flow, wrong_browser in [(flow_id, "another-browser"), ("not-a-uuid", browser),
                                      (str(__import__("uuid").uuid4()), browser), (flow_id, "")]:
        with pytest.raises(ProviderError) as caught:
            sso_sign_in.callback(wrong_flow, wrong_browser, answer)
        assert caught.value.code == ReasonCode.SSO_FLOW_UNKNOWN


def test_a_replayed_code_is_refused(db: None, simulator: RunningSimulator) -> None:
    owner = make_actor("owner")
    _configure(owner, simulator)
    invitations.invite_member(owner, email=MEGAN, role="operator", password=PASSWORD)
    flow_id, browser, answer = _to_callback(owner)
    assert _redeem(flow_id, browser, answer).status == sso_sign_in.DONE
    # The same code through a second flow of the same browser (its own state): Entra refuses the replay.
    second_id, second_browser, second_answer = _to_callback(owner)
    view = _redeem(second_id, second_browser, second_answer | {"code": answer["code"]})
    assert (view.status, view.reason_code) == (sso_sign_in.REFUSED, ReasonCode.SSO_CODE_REFUSED)


def test_an_unconfigured_or_unknown_workspace_is_refused_alike(db: None) -> None:
    owner = make_actor("owner")
    for name in (_tenant_name(owner), "no-such-workspace", ""):
        with pytest.raises(ProviderError) as caught:
            sso_sign_in.start(name, "browser", REDIRECT)
        assert caught.value.code == ReasonCode.SSO_NOT_CONFIGURED


def test_sso_required_refuses_passwords_except_the_break_glass_owner(db: None, simulator: RunningSimulator) -> None:
    owner = make_actor("owner")
    _configure(owner, simulator)
    join_tenant(owner, email="operator.sso@example.test", role="operator")
    with pytest.raises(InvalidInput):
        sso_config.require(owner, True, "operator.sso@example.test")  # not an owner
    view = sso_config.require(owner, True, owner.email)
    assert view.sso_required and view.break_glass_email == owner.email
    with pytest.raises(sso_config.SsoRequired):
        mfa.sign_in("operator.sso@example.test", PASSWORD)
    assert mfa.sign_in(owner.email, PASSWORD).session_token
    # A wrong password still says only "wrong password".
    with pytest.raises(InvalidInput):
        mfa.sign_in("operator.sso@example.test", "wrong-password")
    sso_config.require(owner, False)
    assert mfa.sign_in("operator.sso@example.test", PASSWORD).session_token


def test_only_owners_configure_and_the_secret_is_sealed_and_shown_as_a_hint(db: None,
                                                                           simulator: RunningSimulator) -> None:
    owner = make_actor("owner")
    manager = join_tenant(owner, email="manager.sso@example.test", role="manager")
    assert manager
    _configure(owner, simulator)
    secret = simulator.scenario.tenants[0].apps[0].secrets[0].value
    view = sso_config.settings(owner)
    assert view.configured and view.hint.endswith(secret[-4:]) and secret not in repr(view)
    with session_scope() as session:
        row = session.get(SsoConfig, owner.tenant_id)
        assert row is not None and secret.encode() not in row.ciphertext
    from tests.support.factories import make_actor as _make
    other = _make("manager", tenant_name=_tenant_name(owner))
    with pytest.raises(Forbidden):
        sso_config.configure(other, cloud="simulator", entra_tenant_id=view.entra_tenant_id,
                             client_id=view.client_id, client_secret="x" * 20)
    with pytest.raises(InvalidInput):
        sso_config.configure(owner, cloud="simulator", entra_tenant_id="not-a-guid", client_id=view.client_id,
                             client_secret="x" * 20)
    sso_config.clear(owner)
    assert not sso_config.settings(owner).configured


def test_key_usage_counts_sign_in_apps_and_rotation_reseals_them(db: None) -> None:
    import base64

    from atlas_services.credentials import (
        KeyRing,
        Sealed,
        key_usage,
        open_sso_credential,
        reseal_all,
        seal_sso_credential,
    )
    from atlas_services.secrets import SecretValue

    k1 = "k1:" + base64.b64encode(b"\x01" * 32).decode()
    k2 = "k2:" + base64.b64encode(b"\x02" * 32).decode()
    owner = make_actor("owner")
    sealed = seal_sso_credential(SecretValue("the-sign-in-secret"), tenant_id=owner.tenant_id, keyring=KeyRing(k1))
    with session_scope() as session:
        session.add(SsoConfig(tenant_id=owner.tenant_id, cloud="simulator", entra_tenant_id=str(owner.tenant_id),
                              client_id=str(owner.tenant_id), kind="client_secret", ciphertext=sealed.ciphertext,
                              nonce=sealed.nonce, key_id=sealed.key_id, hint="…cret"))
    assert {u.key_id: u.rows for u in key_usage(KeyRing(f"{k2},{k1}"))} == {"k2": 0, "k1": 1}
    report = reseal_all(keyring=KeyRing(f"{k2},{k1}"))
    assert (report.resealed, report.unavailable) == (1, 0)
    assert {u.key_id: u.rows for u in key_usage(KeyRing(k2))} == {"k2": 1}
    with session_scope() as session:
        row = session.get(SsoConfig, owner.tenant_id)
        assert row is not None
        opened = open_sso_credential(Sealed(row.ciphertext, row.nonce, row.key_id), tenant_id=owner.tenant_id,
                                     keyring=KeyRing(k2))
    assert opened.reveal() == "the-sign-in-secret"


def test_live_flows_per_workspace_are_capped_and_expired_ones_are_swept(db: None, simulator: RunningSimulator,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import timedelta

    from atlas_services.errors import Throttled
    from atlas_services.models import utcnow

    owner = make_actor("owner")
    _configure(owner, simulator)
    monkeypatch.setattr(sso_sign_in, "MAX_LIVE_FLOWS", 3)
    first = sso_sign_in.start(_tenant_name(owner), "b", REDIRECT)
    for _ in range(2):
        sso_sign_in.start(_tenant_name(owner), "b", REDIRECT)
    with pytest.raises(Throttled):
        sso_sign_in.start(_tenant_name(owner), "b", REDIRECT)
    with session_scope() as session:
        flow = session.get(SsoFlow, first)
        assert flow is not None
        flow.expires_at = utcnow() - timedelta(seconds=1)
    sso_sign_in.start(_tenant_name(owner), "b", REDIRECT)  # the expired one went, making room
    assert _count(SsoFlow) == 3
