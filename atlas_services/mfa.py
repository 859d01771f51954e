"""A second factor for local accounts: TOTP (RFC 6238) with one-time recovery codes (issue 11).

Sign-in in two steps. A right password for an account with an authenticator (or, when one of the user's suite
tenants requires MFA, without one yet) opens no session: ``sign_in`` hands back a short-lived, single-use
challenge token instead (an HttpOnly cookie; only its SHA-256 is stored). The second step redeems it with a code
(``verify``) or, where the tenant requires a second factor the user lacks, with a first code from a new
authenticator (``confirm_enrolment_for_challenge``). Only then is a session opened.

- Seeds are sealed by ``atlas_services.credentials`` like connection secrets, bound to their (user, enrolment)
  row. They leave this module only inside an ``EnrolmentOffer``, to be shown once to their owner.
- A code is accepted for the current 30-second step or the one either side of it (clock drift), and only for a
  step later than the last one accepted: a code cannot be used twice, nor can an older one after a newer one.
- Recovery codes are 80 random bits each, stored as SHA-256 of (user, code), each usable once.
- The second step is throttled exactly like the password (``sign_in_throttle``), under the account key
  ``second-factor|<user id>`` and the same client-address bucket.
- Enrolment, removal, reset and recovery-code use are audited in every suite tenant the user belongs to (the
  owners of each one answer for who holds keys there); no detail ever carries a seed or a code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
import qrcode
import qrcode.image.svg
from sqlalchemy import update
from sqlmodel import Session, col, delete, func, select

from atlas_services import audit, sessions, validation
from atlas_services.authz import Actor, Capability, requires
from atlas_services.credentials import Sealed, open_totp_seed, seal_totp_seed
from atlas_services.db import session_scope
from atlas_services.errors import InvalidInput, NotFound
from atlas_services.models import (
    Membership,
    Role,
    SecondFactorChallenge,
    TenantMfaPolicy,
    TotpEnrolment,
    TotpRecoveryCode,
    User,
    utcnow,
)
from atlas_services.passwords import verify_password
from atlas_services.secrets import SecretValue
from atlas_services.sign_in_throttle import attempt_succeeded, reserve_attempt

ISSUER = "Atlas"
STEP_SECONDS = 30
DRIFT_STEPS = 1  # the step before and after the current one: clocks drift, people type slowly
RECOVERY_CODES = 10
VERIFY_TTL = timedelta(minutes=5)
ENROL_TTL = timedelta(minutes=15)  # time to install an authenticator app
PURPOSE_VERIFY = "verify"
PURPOSE_ENROL = "enrol"
MAX_CODE_LENGTH = 64
WRONG_CODE = "That code is not valid. Enter the current code from your authenticator, or an unused recovery code."
_TOTP_CODE = re.compile(r"[0-9]{6}")
_RECOVERY_CODE = re.compile(r"[a-z2-7]{16}")
_SEPARATORS = re.compile(r"[\s-]")


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
class EnrolmentOffer:
    """What the enrolment page shows its user once: the seed (for manual entry) and the same as a QR code."""

    secret: SecretValue
    qr_data_url: str
    account: str


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
        enrolled = _confirmed_enrolment(session, checked.user_id) is not None
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
        enrolment = _confirmed_enrolment(session, user_id, lock=True)
        if enrolment is None:
            raise SecondStepGone()
        accepted = _accept_totp(enrolment, code) or _use_recovery_code(session, user_id, code)
        if accepted:
            row.used_at = utcnow()
            tenant_id = _first_tenant(session, user_id)
    if not accepted:
        raise InvalidInput("code", WRONG_CODE)
    attempt_succeeded(attempt)
    return sessions.open_session(user_id, tenant_id)


def enrolment_offer_for_challenge(challenge: str) -> EnrolmentOffer:
    """The enrolment a tenant's policy demands before a session: the authenticator to set up."""
    return _offer(_live_challenge_user(challenge, PURPOSE_ENROL))


def confirm_enrolment_for_challenge(challenge: str, code: str, client: str = "") -> tuple[str, list[str]]:
    """A first right code from the new authenticator: it is confirmed, and a session opens.

    Returns the session token and the recovery codes (to show once).
    """
    user_id = _live_challenge_user(challenge, PURPOSE_ENROL)
    attempt = reserve_attempt(_throttle_account(user_id), _client(client))
    with session_scope() as session:
        row = _lock_live_challenge(session, challenge, PURPOSE_ENROL)
        codes = _confirm(session, user_id, code)
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
        enrolled = _confirmed_enrolment(session, actor.user_id) is not None
        left = session.exec(select(func.count()).select_from(TotpRecoveryCode).where(
            TotpRecoveryCode.user_id == actor.user_id, col(TotpRecoveryCode.used_at).is_(None))).one()
        return MfaStatus(enrolled=enrolled, recovery_codes_left=int(left) if enrolled else 0,
                         required=required_for(session, actor.user_id))


def enrolment_offer(actor: Actor) -> EnrolmentOffer:
    """A new authenticator for the signed-in user (InvalidInput when one is already set up: remove it first)."""
    return _offer(actor.user_id)


def confirm_enrolment(actor: Actor, code: str, client: str = "") -> list[str]:
    """The first right code confirms the authenticator; returns the recovery codes (to show once)."""
    attempt = reserve_attempt(_throttle_account(actor.user_id), _client(client))
    with session_scope() as session:
        codes = _confirm(session, actor.user_id, code)
    if codes is None:
        raise InvalidInput("code", WRONG_CODE)
    attempt_succeeded(attempt)
    return codes


def remove(actor: Actor, proof: str, client: str = "") -> None:
    """Remove the signed-in user's authenticator, proved by a current code or the account's password."""
    attempt = reserve_attempt(_throttle_account(actor.user_id), _client(client))
    proof = proof if isinstance(proof, str) else ""
    with session_scope() as session:
        enrolment = _confirmed_enrolment(session, actor.user_id, lock=True)
        if enrolment is None:
            raise InvalidInput("proof", "You have no authenticator set up.")
        user = session.get(User, actor.user_id)
        proved = _accept_totp(enrolment, proof) or (
            user is not None and 0 < len(proof) <= 1024 and verify_password(user.password_hash, proof))
        if proved:
            _forget(session, actor.user_id)
            _audit_everywhere(session, actor.user_id, actor.user_id, "mfa.removed")
    if not proved:
        raise InvalidInput("proof", "That is neither a current code nor your password.")
    attempt_succeeded(attempt)


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
        had = _confirmed_enrolment(session, user.id) is not None
        _forget(session, user.id)
        if had:
            _audit_everywhere(session, user.id, actor.user_id, "mfa.reset")


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


def _normalized(code: object) -> str:
    if not isinstance(code, str) or len(code) > MAX_CODE_LENGTH:
        return ""
    return _SEPARATORS.sub("", code).lower()


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


def _live_challenge_query(challenge: object, purpose: str):  # type: ignore[no-untyped-def]
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
        found: SecondFactorChallenge = row[0]
        return found.user_id


def _lock_live_challenge(session: Session, challenge: object, purpose: str) -> SecondFactorChallenge:
    """The challenge, locked until the commit: two posts of one challenge cannot both redeem it."""
    row = session.exec(_live_challenge_query(challenge, purpose).with_for_update(
        of=SecondFactorChallenge)).first()
    if row is None:
        raise SecondStepGone()
    return row[0]  # type: ignore[no-any-return]


def _first_tenant(session: Session, user_id: uuid.UUID) -> uuid.UUID:
    """The tenant a new session opens in (as for a password sign-in): the user's first membership."""
    tenant_id = session.exec(select(Membership.tenant_id).where(Membership.user_id == user_id)
                             .order_by(col(Membership.created_at))).first()
    if tenant_id is None:
        raise SecondStepGone()  # no membership left between the two steps
    return tenant_id


def _confirmed_enrolment(session: Session, user_id: uuid.UUID, lock: bool = False) -> TotpEnrolment | None:
    query = select(TotpEnrolment).where(TotpEnrolment.user_id == user_id,
                                        col(TotpEnrolment.confirmed_at).is_not(None))
    return session.exec(query.with_for_update() if lock else query).first()


def _seed(enrolment: TotpEnrolment) -> SecretValue:
    return open_totp_seed(Sealed(enrolment.ciphertext, enrolment.nonce, enrolment.key_id),
                          user_id=enrolment.user_id, enrolment_id=enrolment.id)


def _matching_step(enrolment: TotpEnrolment, code: object, now: datetime | None = None) -> int | None:
    """The time step whose code ``code`` is, within the drift allowed and after the last step used; else None."""
    typed = _normalized(code)
    if not _TOTP_CODE.fullmatch(typed):
        return None
    totp = pyotp.TOTP(_seed(enrolment).reveal(), interval=STEP_SECONDS)
    current = totp.timecode(now or utcnow())
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # Every candidate is compared (in constant time), so the time taken says nothing about which matched.
        if hmac.compare_digest(totp.generate_otp(step), typed) and (
                enrolment.last_used_step is None or step > enrolment.last_used_step):
            found = step
    return found


def _accept_totp(enrolment: TotpEnrolment, code: object) -> bool:
    """Accept a code (the enrolment row must be locked): its step becomes the last used one."""
    step = _matching_step(enrolment, code)
    if step is None:
        return False
    enrolment.last_used_step = step
    return True


def _recovery_hash(user_id: uuid.UUID, code: str) -> str:
    return hashlib.sha256(f"atlas-recovery-v1|{user_id}|{code}".encode()).hexdigest()


def _new_recovery_code() -> str:
    return base64.b32encode(secrets.token_bytes(10)).decode().lower()  # 80 bits, 16 characters


def _display_code(code: str) -> str:
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def _use_recovery_code(session: Session, user_id: uuid.UUID, code: object) -> bool:
    """Spend an unused recovery code (atomically: two posts of one code cannot both succeed)."""
    typed = _normalized(code)
    if not _RECOVERY_CODE.fullmatch(typed):
        return False
    spent = session.execute(
        update(TotpRecoveryCode)
        .where(col(TotpRecoveryCode.user_id) == user_id,
               col(TotpRecoveryCode.code_hash) == _recovery_hash(user_id, typed),
               col(TotpRecoveryCode.used_at).is_(None))
        .values(used_at=utcnow()).returning(col(TotpRecoveryCode.id))).first()
    if spent is None:
        return False
    left = session.exec(select(func.count()).select_from(TotpRecoveryCode).where(
        TotpRecoveryCode.user_id == user_id, col(TotpRecoveryCode.used_at).is_(None))).one()
    _audit_everywhere(session, user_id, user_id, "mfa.recovery_code_used", {"recovery_codes_left": int(left)})
    return True


def _offer(user_id: uuid.UUID) -> EnrolmentOffer:
    """The user's pending (unconfirmed) authenticator, created when there is none, as a seed and a QR code.

    A reload shows the same seed (the user may already have scanned it); a confirmed one is never shown again.
    """
    with session_scope() as session:
        user = session.get(User, user_id)
        if user is None:
            raise SecondStepGone()
        enrolment = session.exec(select(TotpEnrolment).where(TotpEnrolment.user_id == user_id)
                                 .with_for_update()).first()
        if enrolment is not None and enrolment.confirmed_at is not None:
            raise InvalidInput("enrolment", "An authenticator is already set up. Remove it first to set up another.")
        if enrolment is None:
            enrolment = TotpEnrolment(user_id=user_id, ciphertext=b"", nonce=b"", key_id="")
            seed = SecretValue(pyotp.random_base32())  # 160 bits, as RFC 4226 recommends
            sealed = seal_totp_seed(seed, user_id=user_id, enrolment_id=enrolment.id)
            enrolment.ciphertext, enrolment.nonce, enrolment.key_id = sealed.ciphertext, sealed.nonce, sealed.key_id
            session.add(enrolment)
        else:
            seed = _seed(enrolment)
        account = user.email
    uri = pyotp.TOTP(seed.reveal(), interval=STEP_SECONDS).provisioning_uri(name=account, issuer_name=ISSUER)
    return EnrolmentOffer(secret=seed, qr_data_url=_qr_data_url(uri), account=account)


def _qr_data_url(uri: str) -> str:
    """The QR code as an SVG data URL: drawn here, so no image service ever sees the seed."""
    svg = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, border=2).to_string()
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode()


def _confirm(session: Session, user_id: uuid.UUID, code: object) -> list[str] | None:
    """Confirm the pending authenticator with a right code; new recovery codes (shown once), or None."""
    enrolment = session.exec(select(TotpEnrolment).where(TotpEnrolment.user_id == user_id)
                             .with_for_update()).first()
    if enrolment is None or enrolment.confirmed_at is not None:
        raise InvalidInput("enrolment", "There is no authenticator waiting to be confirmed. Start again.")
    if not _accept_totp(enrolment, code):
        return None
    enrolment.confirmed_at = utcnow()
    session.execute(delete(TotpRecoveryCode).where(col(TotpRecoveryCode.user_id) == user_id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    for code_value in codes:
        session.add(TotpRecoveryCode(user_id=user_id, code_hash=_recovery_hash(user_id, code_value)))
    _audit_everywhere(session, user_id, user_id, "mfa.enrolled")
    return [_display_code(c) for c in codes]


def _forget(session: Session, user_id: uuid.UUID) -> None:
    """Drop the user's authenticator, recovery codes and pending second steps."""
    session.execute(delete(TotpRecoveryCode).where(col(TotpRecoveryCode.user_id) == user_id))
    session.execute(delete(TotpEnrolment).where(col(TotpEnrolment.user_id) == user_id))
    session.execute(delete(SecondFactorChallenge).where(col(SecondFactorChallenge.user_id) == user_id))


def _audit_everywhere(session: Session, user_id: uuid.UUID, actor_user_id: uuid.UUID, action: str,
                      details: dict[str, int] | None = None) -> None:
    for tenant_id in session.exec(select(Membership.tenant_id).where(Membership.user_id == user_id)).all():
        audit.record(session, tenant_id=tenant_id, actor_user_id=actor_user_id, action=action, target_type="user",
                     target_id=user_id, details=dict(details or {}))
