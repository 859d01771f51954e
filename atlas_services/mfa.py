"""A second factor for local accounts: TOTP (RFC 6238) with one-time recovery codes (issue 11).

Sign-in in two steps. A right password for an account with an authenticator (or, when one of the user's suite
tenants requires MFA, without one yet) opens no session: ``sign_in`` hands back a short-lived, single-use
challenge token instead (an HttpOnly cookie; only its SHA-256 is stored). The second step redeems it with a code
(``verify``) or, where the tenant requires a second factor the user lacks, with a first code from a new
authenticator (``confirm_enrolment_for_challenge``). Only then is a session opened.

The authenticator itself (seeds, codes, recovery codes) is ``atlas_services.totp``.

- The second step is throttled exactly like the password (``sign_in_throttle``), under the account key
  ``second-factor|<user id>`` and the same client-address bucket.
- Enrolment, removal, reset and recovery-code use are audited in every suite tenant the user belongs to (the
  owners of each one answer for who holds keys there); no detail ever carries a seed or a code.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, col, delete, func, select
from sqlmodel.sql.expression import Select

from atlas_services import audit, sessions, sso_config, totp, validation
from atlas_services.authz import Actor, Capability, requires
from atlas_services.db import session_scope
from atlas_services.errors import InvalidInput, NotFound
from atlas_services.models import Membership, Role, User, utcnow
from atlas_services.models.mfa import SecondFactorChallenge, TenantMfaPolicy, TotpRecoveryCode
from atlas_services.passwords import verify_password
from atlas_services.sign_in_throttle import attempt_succeeded, reserve_attempt
from atlas_services.totp import WRONG_CODE as WRONG_CODE  # re-exported: the routes and tests name it here
from atlas_services.totp import EnrolmentOffer as EnrolmentOffer

VERIFY_TTL = timedelta(minutes=5)
ENROL_TTL = timedelta(minutes=15)  # time to install an authenticator app
PURPOSE_VERIFY = "verify"
PURPOSE_ENROL = "enrol"


class SecondStepGone(NotFound):
    """The challenge is unknown, used, expired, or its user can no longer sign in: start again at the password."""

    def __init__(self) -> None:
        super().__init__("sign-in step")


@dataclass(frozen=True)
class SignIn:
    """What a right password leads to: a session, or a second step (``challenge`` and which one)."""

    session_token: str | None = None
    challenge: str | None = None
    purpose: str | None = None


@dataclass(frozen=True)
class MfaStatus:
    enrolled: bool
    recovery_codes_left: int
    required: bool  # by one of the user's suite tenants


# ---------------------------------------------------------------- sign-in


def sign_in(email: str, password: str, client: str = "") -> SignIn:
    """The password step: a session, or a challenge for the second step (no session yet).

    Raises what ``sessions.check_password`` raises (InvalidInput, Throttled) for a wrong password.
    """
    checked = sessions.check_password(email, password, client)
    with session_scope() as session:
        # After the password (no hint whether an account exists), before any second step.
        if sso_config.password_refused(session, checked.user_id):
            raise sso_config.SsoRequired
        enrolled = totp.confirmed_enrolment(session, checked.user_id) is not None
        if not enrolled and not required_for(session, checked.user_id):
            purpose = None
        else:
            purpose = PURPOSE_VERIFY if enrolled else PURPOSE_ENROL
            token = _new_challenge(session, checked.user_id, purpose)
    if purpose is None:
        return SignIn(session_token=sessions.open_session(checked.user_id, checked.tenant_id))
    return SignIn(challenge=token, purpose=purpose)


def verify(challenge: str, code: str, client: str = "") -> str:
    """The second step: a current TOTP code or an unused recovery code redeems the challenge for a session token.

    SecondStepGone when the challenge is not a live ``verify`` one; Throttled after too many wrong codes for the
    user or the client address; InvalidInput(WRONG_CODE) for a wrong, old or reused code (the challenge stays
    usable until it expires, within the throttle).
    """
    user_id = _live_challenge_user(challenge, PURPOSE_VERIFY)
    attempt = reserve_attempt(_throttle_account(user_id), _client(client))
    with session_scope() as session:
        row = _lock_live_challenge(session, challenge, PURPOSE_VERIFY)
        enrolment = totp.confirmed_enrolment(session, user_id, lock=True)
        if enrolment is None:
            raise SecondStepGone()
        accepted = totp.accept_code(enrolment, code) or totp.use_recovery_code(session, user_id, code)
        if accepted:
            row.used_at = utcnow()
            tenant_id = _first_tenant(session, user_id)
    if not accepted:
        raise InvalidInput("code", WRONG_CODE)
    attempt_succeeded(attempt)
    return sessions.open_session(user_id, tenant_id)


def enrolment_offer_for_challenge(challenge: str) -> EnrolmentOffer:
    """The enrolment a tenant's policy demands before a session: the authenticator to set up."""
    return totp.offer(_live_challenge_user(challenge, PURPOSE_ENROL))


def confirm_enrolment_for_challenge(challenge: str, code: str, client: str = "") -> tuple[str, list[str]]:
    """A first right code from the new authenticator: it is confirmed, and a session opens.

    Returns the session token and the recovery codes (to show once).
    """
    user_id = _live_challenge_user(challenge, PURPOSE_ENROL)
    attempt = reserve_attempt(_throttle_account(user_id), _client(client))
    with session_scope() as session:
        row = _lock_live_challenge(session, challenge, PURPOSE_ENROL)
        codes = totp.confirm(session, user_id, code)
        if codes is not None:
            row.used_at = utcnow()
            tenant_id = _first_tenant(session, user_id)
    if codes is None:
        raise InvalidInput("code", WRONG_CODE)
    attempt_succeeded(attempt)
    return sessions.open_session(user_id, tenant_id), codes


# ---------------------------------------------------------------- the signed-in user's own authenticator


def status(actor: Actor) -> MfaStatus:
    with session_scope() as session:
        enrolled = totp.confirmed_enrolment(session, actor.user_id) is not None
        left = session.exec(select(func.count()).select_from(TotpRecoveryCode).where(
            TotpRecoveryCode.user_id == actor.user_id, col(TotpRecoveryCode.used_at).is_(None))).one()
        return MfaStatus(enrolled=enrolled, recovery_codes_left=int(left) if enrolled else 0,
                         required=required_for(session, actor.user_id))


def enrolment_offer(actor: Actor) -> EnrolmentOffer:
    """A new authenticator for the signed-in user (InvalidInput when one is already set up: remove it first)."""
    return totp.offer(actor.user_id)


def confirm_enrolment(actor: Actor, code: str, client: str = "") -> list[str]:
    """The first right code confirms the authenticator; returns the recovery codes (to show once)."""
    attempt = reserve_attempt(_throttle_account(actor.user_id), _client(client))
    with session_scope() as session:
        codes = totp.confirm(session, actor.user_id, code)
    if codes is None:
        raise InvalidInput("code", WRONG_CODE)
    attempt_succeeded(attempt)
    return codes


def remove(actor: Actor, proof: str, client: str = "") -> None:
    """Remove the signed-in user's authenticator, proved by a current code or the account's password."""
    attempt = reserve_attempt(_throttle_account(actor.user_id), _client(client))
    proof = proof if isinstance(proof, str) else ""
    with session_scope() as session:
        enrolment = totp.confirmed_enrolment(session, actor.user_id, lock=True)
        if enrolment is None:
            raise InvalidInput("proof", "You have no authenticator set up.")
        user = session.get(User, actor.user_id)
        proved = totp.accept_code(enrolment, proof) or (
            user is not None and 0 < len(proof) <= 1024 and verify_password(user.password_hash, proof))
        if proved:
            totp.forget(session, actor.user_id)
            totp.audit_everywhere(session, actor.user_id, actor.user_id, "mfa.removed")
    if not proved:
        raise InvalidInput("proof", "That is neither a current code nor your password.")
    attempt_succeeded(attempt)


def renew_recovery_codes(actor: Actor, code: str, client: str = "") -> list[str]:
    """New recovery codes for the signed-in user (the old ones stop working), proved by a current code."""
    attempt = reserve_attempt(_throttle_account(actor.user_id), _client(client))
    with session_scope() as session:
        enrolment = totp.confirmed_enrolment(session, actor.user_id, lock=True)
        codes = None
        if enrolment is not None and totp.accept_code(enrolment, code):
            codes = totp.new_recovery_codes(session, actor.user_id)
            totp.audit_everywhere(session, actor.user_id, actor.user_id, "mfa.recovery_codes_renewed")
    if codes is None:
        raise InvalidInput("code", WRONG_CODE)
    attempt_succeeded(attempt)
    return codes


# ---------------------------------------------------------------- tenant policy and owners' reset


@requires(Capability.PROVIDER_VIEW)
def policy(actor: Actor) -> bool:
    """Whether the actor's suite tenant requires a second factor for local accounts."""
    with session_scope() as session:
        row = session.get(TenantMfaPolicy, actor.tenant_id)
        return bool(row and row.mfa_required)


@requires(Capability.TENANT_MANAGE)
def set_policy(actor: Actor, required: bool) -> bool:
    """Turn "MFA required for local accounts" on or off for the actor's suite tenant (audited).

    Takes effect at each member's next sign-in: those without an authenticator must then set one up first.
    """
    if not isinstance(required, bool):
        raise InvalidInput("required", "Choose on or off")
    with session_scope() as session:
        row = session.get(TenantMfaPolicy, actor.tenant_id, with_for_update=True)
        before = bool(row and row.mfa_required)
        if row is None:
            row = TenantMfaPolicy(tenant_id=actor.tenant_id)
            session.add(row)
        row.mfa_required, row.updated_at, row.updated_by = required, utcnow(), actor.user_id
        if before != required:
            audit.record(session, tenant_id=actor.tenant_id, actor_user_id=actor.user_id,
                         action="mfa.policy_changed", target_type="tenant", target_id=actor.tenant_id,
                         details={"mfa_required": required})
    return required


@requires(Capability.TENANT_MANAGE)
def reset(actor: Actor, user_ref: str) -> None:
    """An owner clears a member's lost authenticator (audited); ``user_ref`` is their email or user id. The member
    sets up a new one at next sign-in when the policy requires it.

    Only for members all of whose suite tenants the actor owns: an owner of one tenant must not weaken an account
    that holds keys to a tenant they do not own.
    """
    if not isinstance(user_ref, str) or not user_ref.strip() or len(user_ref) > 254:
        raise NotFound("member")
    try:
        who = col(User.id) == uuid.UUID(user_ref)
    except ValueError:
        who = col(User.email) == validation.email_key(user_ref)
    with session_scope() as session:
        user = session.exec(select(User).join(Membership, col(Membership.user_id) == col(User.id)).where(
            who, Membership.tenant_id == actor.tenant_id)).first()
        if user is None:
            raise NotFound("member")
        theirs = set(session.exec(select(Membership.tenant_id).where(Membership.user_id == user.id)).all())
        owned = set(session.exec(select(Membership.tenant_id).where(
            Membership.user_id == actor.user_id, Membership.role == Role.OWNER)).all())
        if not theirs <= owned:
            raise InvalidInput("user", "Only someone who owns every suite tenant of this user can reset their "
                                       "authenticator.")
        had = totp.confirmed_enrolment(session, user.id) is not None
        totp.forget(session, user.id)
        if had:
            totp.audit_everywhere(session, user.id, actor.user_id, "mfa.reset")


# ---------------------------------------------------------------- internals


def required_for(session: Session, user_id: uuid.UUID) -> bool:
    """Whether any suite tenant the user belongs to requires a second factor (the strictest one wins)."""
    return session.exec(select(func.count()).select_from(Membership).join(
        TenantMfaPolicy, col(TenantMfaPolicy.tenant_id) == col(Membership.tenant_id)).where(
        Membership.user_id == user_id, col(TenantMfaPolicy.mfa_required).is_(True))).one() > 0


def _client(client: object) -> str:
    return (client if isinstance(client, str) else "")[:64]


def _throttle_account(user_id: uuid.UUID) -> str:
    return f"second-factor|{user_id}"


def _new_challenge(session: Session, user_id: uuid.UUID, purpose: str) -> str:
    now = utcnow()
    # Spent and expired challenges of this user are of no further use.
    session.execute(delete(SecondFactorChallenge).where(
        col(SecondFactorChallenge.user_id) == user_id,
        (col(SecondFactorChallenge.expires_at) <= now) | col(SecondFactorChallenge.used_at).is_not(None)))
    token = secrets.token_urlsafe(32)
    session.add(SecondFactorChallenge(user_id=user_id, token_hash=sessions.token_digest(token), purpose=purpose,
                                      created_at=now,
                                      expires_at=now + (VERIFY_TTL if purpose == PURPOSE_VERIFY else ENROL_TTL)))
    return token


def _live_challenge_query(challenge: object, purpose: str) -> Select[SecondFactorChallenge, User]:
    if not isinstance(challenge, str) or not 20 <= len(challenge) <= 200:
        raise SecondStepGone()
    return (select(SecondFactorChallenge, User)
            .join(User, col(User.id) == col(SecondFactorChallenge.user_id))
            .where(SecondFactorChallenge.token_hash == sessions.token_digest(challenge),
                   SecondFactorChallenge.purpose == purpose, col(SecondFactorChallenge.used_at).is_(None),
                   col(SecondFactorChallenge.expires_at) > utcnow(), col(User.disabled).is_(False)))


def _live_challenge_user(challenge: object, purpose: str) -> uuid.UUID:
    with session_scope() as session:
        row = session.exec(_live_challenge_query(challenge, purpose)).first()
        if row is None:
            raise SecondStepGone()
        return row[0].user_id


def _lock_live_challenge(session: Session, challenge: object, purpose: str) -> SecondFactorChallenge:
    """The challenge, locked until the commit: two posts of one challenge cannot both redeem it."""
    row = session.exec(_live_challenge_query(challenge, purpose).with_for_update(
        of=SecondFactorChallenge)).first()
    if row is None:
        raise SecondStepGone()
    return row[0]


def _first_tenant(session: Session, user_id: uuid.UUID) -> uuid.UUID:
    """The tenant a new session opens in (as for a password sign-in): the user's first membership."""
    tenant_id = session.exec(select(Membership.tenant_id).where(Membership.user_id == user_id)
                             .order_by(col(Membership.created_at))).first()
    if tenant_id is None:
        raise SecondStepGone()  # no membership left between the two steps
    return tenant_id
