"""The TOTP second factor (issue 11): enrolment, the two-step sign-in, replay and time-window refusals, recovery
codes usable once, throttling, the tenant policy, removal and an owner's reset, all against real PostgreSQL.

Each refusal is checked for what it must not leave behind: no session row.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, update
from sqlmodel import col, select

from atlas_services import mfa, sessions
from atlas_services.authz import Actor
from atlas_services.db import session_scope
from atlas_services.errors import Forbidden, InvalidInput, NotFound, ProviderError, Throttled
from atlas_services.models import AuditEvent, UserSession
from atlas_services.models.mfa import SecondFactorChallenge, TotpEnrolment, TotpRecoveryCode
from tests.support.factories import PASSWORD, join_tenant, make_actor, random_suffix
from tests.support.totp import code_at


def _sessions() -> int:
    with session_scope() as session:
        return int(session.exec(select(func.count()).select_from(UserSession)).one())


def _actions(actor: Actor) -> list[str]:
    with session_scope() as session:
        return list(session.exec(select(AuditEvent.action).where(AuditEvent.tenant_id == actor.tenant_id)
                                 .order_by(col(AuditEvent.at))).all())


def _enrol(actor: Actor) -> tuple[str, list[str]]:
    offer = mfa.enrolment_offer(actor)
    seed = offer.secret.reveal()
    codes = mfa.confirm_enrolment(actor, code_at(seed))
    return seed, codes


def _challenge(actor: Actor) -> str:
    outcome = mfa.sign_in(actor.email, PASSWORD)
    assert outcome.session_token is None and outcome.challenge and outcome.purpose == mfa.PURPOSE_VERIFY
    return outcome.challenge


def test_without_an_authenticator_the_password_opens_a_session_as_before(db: None) -> None:
    owner = make_actor("owner")
    outcome = mfa.sign_in(owner.email, PASSWORD)
    assert outcome.challenge is None and sessions.actor_for_session(outcome.session_token) == owner


def test_enrolment_seals_the_seed_shows_a_qr_code_and_hands_out_ten_recovery_codes_once(db: None) -> None:
    owner = make_actor("owner")
    offer = mfa.enrolment_offer(owner)
    seed = offer.secret.reveal()
    assert offer.qr_data_url.startswith("data:image/svg+xml;base64,") and seed not in offer.qr_data_url
    assert mfa.enrolment_offer(owner).secret.reveal() == seed  # a reload shows the seed the user may have scanned
    assert not mfa.status(owner).enrolled
    with pytest.raises(InvalidInput):
        mfa.confirm_enrolment(owner, "000000" if code_at(seed) != "000000" else "111111")
    codes = mfa.confirm_enrolment(owner, code_at(seed))
    assert len(codes) == 10 and len(set(codes)) == 10
    assert mfa.status(owner) == mfa.MfaStatus(enrolled=True, recovery_codes_left=10, required=False)
    with session_scope() as session:
        row = session.exec(select(TotpEnrolment).where(TotpEnrolment.user_id == owner.user_id)).one()
        hashes = list(session.exec(select(TotpRecoveryCode.code_hash)).all())
    assert seed.encode() not in row.ciphertext and row.confirmed_at is not None
    assert not any(code.replace("-", "") in "".join(hashes) for code in codes)
    with pytest.raises(InvalidInput):  # never shown again
        mfa.enrolment_offer(owner)
    assert _actions(owner) == ["mfa.enrolled"]


def test_the_second_step_opens_the_session_and_the_password_alone_does_not(db: None) -> None:
    owner = make_actor("owner")
    seed, _ = _enrol(owner)
    before = _sessions()
    challenge = _challenge(owner)
    assert _sessions() == before  # a right password alone: no session
    token = mfa.verify(challenge, code_at(seed, +1))
    assert sessions.actor_for_session(token) == owner
    with pytest.raises(NotFound):  # the challenge was single-use
        mfa.verify(challenge, code_at(seed, +1))
    with session_scope() as session:
        stored = list(session.exec(select(SecondFactorChallenge.token_hash)).all())
    assert challenge not in stored and sessions.token_digest(challenge) in stored


@pytest.mark.parametrize("steps", [-2, -3, +2, +20, -1000])
def test_codes_from_the_wrong_time_window_are_refused(db: None, steps: int) -> None:
    # A random seed gives the same code at two steps about once in 300,000 enrolments: such a seed cannot tell a
    # wrong window from a right one, so enrol another member rather than skip.
    for _ in range(5):
        owner = make_actor("owner")
        seed, _ = _enrol(owner)
        wrong = code_at(seed, steps)
        if wrong not in {code_at(seed, s) for s in (-1, 0, 1)}:
            break
    challenge = _challenge(owner)
    before = _sessions()
    with pytest.raises(InvalidInput):
        mfa.verify(challenge, wrong)
    assert _sessions() == before


def test_a_code_reused_within_its_window_is_refused_and_so_is_an_older_one(db: None) -> None:
    owner = make_actor("owner")
    seed, _ = _enrol(owner)
    mfa.verify(_challenge(owner), code_at(seed, +1))
    before = _sessions()
    challenge = _challenge(owner)
    for replayed in (code_at(seed, +1), code_at(seed, 0), code_at(seed, -1)):
        with pytest.raises(InvalidInput):
            mfa.verify(challenge, replayed)
    assert _sessions() == before


def test_a_recovery_code_signs_in_once_and_its_use_is_audited(db: None) -> None:
    owner = make_actor("owner")
    _, codes = _enrol(owner)
    token = mfa.verify(_challenge(owner), codes[3].upper().replace("-", " "))  # typed loosely
    assert sessions.actor_for_session(token) == owner
    before = _sessions()
    with pytest.raises(InvalidInput):
        mfa.verify(_challenge(owner), codes[3])
    assert _sessions() == before
    assert mfa.status(owner).recovery_codes_left == 9
    with session_scope() as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "mfa.recovery_code_used")).one()
    assert event.details == {"recovery_codes_left": 9} and event.target_id == str(owner.user_id)


@pytest.mark.parametrize("challenge", ["", "x", "y" * 500, "0f6a2c9e-not-a-challenge-but-long-enough", None, 42])
def test_a_second_step_without_a_live_challenge_is_refused(db: None, challenge: object) -> None:
    owner = make_actor("owner")
    seed, _ = _enrol(owner)
    with pytest.raises(NotFound):
        mfa.verify(challenge, code_at(seed, +1))  # type: ignore[arg-type]
    assert _sessions() == 0


def test_an_expired_challenge_is_refused(db: None) -> None:
    owner = make_actor("owner")
    seed, _ = _enrol(owner)
    challenge = _challenge(owner)
    with session_scope() as session:
        session.execute(update(SecondFactorChallenge).values(expires_at=SecondFactorChallenge.created_at
                                                             - timedelta(seconds=1)))
    with pytest.raises(NotFound):
        mfa.verify(challenge, code_at(seed, +1))
    assert _sessions() == 0


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "x" * 65, None, 123456, ["123456"]])
def test_malformed_codes_are_refused_as_wrong(db: None, code: object) -> None:
    owner = make_actor("owner")
    _enrol(owner)
    with pytest.raises(InvalidInput):
        mfa.verify(_challenge(owner), code)  # type: ignore[arg-type]
    assert _sessions() == 0


def test_the_second_step_is_throttled_like_the_password(db: None) -> None:
    owner = make_actor("owner")
    seed, _ = _enrol(owner)
    challenge = _challenge(owner)
    wrong = next(c for c in ("000000", "111111", "222222") if c not in {code_at(seed, s) for s in (-1, 0, 1, 2)})
    for _ in range(5):
        with pytest.raises(InvalidInput):
            mfa.verify(challenge, wrong)
    with pytest.raises(Throttled):
        mfa.verify(challenge, code_at(seed, +1))
    assert _sessions() == 0


def test_a_seed_opens_only_for_its_own_row(db: None) -> None:
    alice, bob = make_actor("owner"), make_actor("owner")
    _enrol(alice)
    _enrol(bob)
    with session_scope() as session:
        a = session.exec(select(TotpEnrolment).where(TotpEnrolment.user_id == alice.user_id)).one()
        session.execute(update(TotpEnrolment).where(col(TotpEnrolment.user_id) == bob.user_id).values(
            ciphertext=a.ciphertext, nonce=a.nonce, key_id=a.key_id))
    with pytest.raises(ProviderError):  # alice's seed copied onto bob's row does not open
        mfa.verify(_challenge(bob), "123456")
    assert _sessions() == 0


def test_the_tenant_policy_sends_members_without_an_authenticator_to_enrol_first(db: None) -> None:
    owner = make_actor("owner")
    manager = join_tenant(owner, email=f"m-{random_suffix()}@example.test", role="manager")
    with pytest.raises(Forbidden):
        mfa.set_policy(sessions.actor_for_session(sessions.authenticate(manager.email, PASSWORD)), True)  # type: ignore[arg-type]
    assert mfa.set_policy(owner, True) is True
    assert _actions(owner)[-1] == "mfa.policy_changed"
    outcome = mfa.sign_in(manager.email, PASSWORD)
    assert outcome.session_token is None and outcome.purpose == mfa.PURPOSE_ENROL and outcome.challenge
    with pytest.raises(NotFound):  # an enrolment challenge is no verify challenge
        mfa.verify(outcome.challenge, "123456")
    seed = mfa.enrolment_offer_for_challenge(outcome.challenge).secret.reveal()
    with pytest.raises(InvalidInput):
        mfa.confirm_enrolment_for_challenge(outcome.challenge, "abc")
    token, codes = mfa.confirm_enrolment_for_challenge(outcome.challenge, code_at(seed))
    assert sessions.actor_for_session(token).email == manager.email and len(codes) == 10  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        mfa.enrolment_offer_for_challenge(outcome.challenge)
    # From now on the manager signs in with a code.
    assert mfa.sign_in(manager.email, PASSWORD).purpose == mfa.PURPOSE_VERIFY


def test_removal_needs_a_current_code_or_the_password_and_is_audited(db: None) -> None:
    owner = make_actor("owner")
    seed, _ = _enrol(owner)
    with pytest.raises(InvalidInput):
        mfa.remove(owner, "not my password")
    assert mfa.status(owner).enrolled
    mfa.remove(owner, PASSWORD)
    assert not mfa.status(owner).enrolled
    seed, _ = _enrol(owner)
    mfa.remove(owner, code_at(seed, +1))
    assert mfa.status(owner) == mfa.MfaStatus(enrolled=False, recovery_codes_left=0, required=False)
    assert _actions(owner) == ["mfa.enrolled", "mfa.removed", "mfa.enrolled", "mfa.removed"]
    assert mfa.sign_in(owner.email, PASSWORD).session_token is not None


def test_an_owner_resets_a_members_lost_authenticator_only_in_tenants_they_own(db: None) -> None:
    owner = make_actor("owner")
    email = f"op-{random_suffix()}@example.test"
    join_tenant(owner, email=email, role="operator")
    operator = sessions.actor_for_session(sessions.authenticate(email, PASSWORD))
    assert operator is not None
    _enrol(operator)
    stranger = make_actor("owner")
    with pytest.raises(NotFound):  # another tenant's member is nobody to this owner
        mfa.reset(stranger, email)
    with pytest.raises(Forbidden):
        mfa.reset(operator, email)
    other_owner = make_actor("owner")
    join_tenant(other_owner, email=email, role="readonly")
    with pytest.raises(InvalidInput):  # the member also holds keys to a tenant this owner does not own
        mfa.reset(owner, email)
    assert mfa.status(operator).enrolled
    join_tenant(other_owner, email=owner.email, role="owner")
    mfa.reset(owner, email.upper())
    assert not mfa.status(operator).enrolled
    assert "mfa.reset" in _actions(owner) and "mfa.reset" in _actions(other_owner)


def test_the_cli_sets_and_shows_the_policy_and_resets_a_member(db: None) -> None:
    import json

    from typer.testing import CliRunner

    from atlas_cli.main import app

    runner = CliRunner()
    owner = make_actor("owner")
    email = f"op-{random_suffix()}@example.test"
    join_tenant(owner, email=email, role="operator")
    operator = sessions.actor_for_session(sessions.authenticate(email, PASSWORD))
    assert operator is not None
    _enrol(operator)
    who = ["--tenant", owner.tenant_name, "--as", owner.email, "--json"]
    assert json.loads(runner.invoke(app, ["mfa", "policy", "show", *who]).output)["mfa_required"] is False
    assert json.loads(runner.invoke(app, ["mfa", "policy", "set", "on", *who]).output)["mfa_required"] is True
    assert json.loads(runner.invoke(app, ["mfa", "policy", "show", *who]).output)["mfa_required"] is True
    refused = runner.invoke(app, ["mfa", "policy", "set", "maybe", *who])
    assert refused.exit_code == 1 and "on or off" in refused.output
    assert runner.invoke(app, ["mfa", "reset", email, *who]).exit_code == 0
    assert not mfa.status(operator).enrolled
    assert _actions(owner)[-2:] == ["mfa.policy_changed", "mfa.reset"]
    # The operator's next sign-in: the policy now asks them to set up a new authenticator first.
    assert mfa.sign_in(email, PASSWORD).purpose == mfa.PURPOSE_ENROL
    gone = runner.invoke(app, ["mfa", "reset", "nobody@example.test", *who])
    assert gone.exit_code == 1 and json.loads(gone.output) == {"error": "member not found"}


def test_key_rotation_reseals_authenticator_seeds_and_counts_them_as_in_use(
        db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import base64

    from atlas_services.config import get_settings
    from atlas_services.credentials import key_usage, reseal_all

    k1 = "k1:" + base64.b64encode(b"\x11" * 32).decode()
    k2 = "k2:" + base64.b64encode(b"\x22" * 32).decode()

    def use(spec: str) -> None:
        monkeypatch.setenv("ATLAS_ENCRYPTION_KEYS", spec)
        get_settings.cache_clear()

    try:
        use(k1)
        owner = make_actor("owner")
        seed, _ = _enrol(owner)
        use(f"{k2},{k1}")
        # k1 still seals a seed: removing it now would lock the owner out, so it is not reported unused.
        assert {u.key_id: u.rows for u in key_usage()} == {"k2": 0, "k1": 1}
        assert reseal_all().resealed == 1
        use(k2)
        assert {u.key_id: u.rows for u in key_usage()} == {"k2": 1}
        assert sessions.actor_for_session(mfa.verify(_challenge(owner), code_at(seed, +1))) == owner
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


@pytest.mark.parametrize("kind", ["totp", "recovery"])
def test_one_code_posted_twice_at_once_opens_one_session(db: None, kind: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    owner = make_actor("owner")
    seed, codes = _enrol(owner)
    code = code_at(seed, +1) if kind == "totp" else codes[0]
    challenges = [_challenge(owner) for _ in range(4)]

    def attempt(challenge: str) -> str:
        try:
            mfa.verify(challenge, code)
        except InvalidInput:
            return "refused"
        return "signed-in"

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = sorted(pool.map(attempt, challenges))
    assert outcomes == ["refused", "refused", "refused", "signed-in"]
    assert _sessions() == 1
