"""The authenticator itself (TOTP, RFC 6238) and its one-time recovery codes; the sign-in steps are
``atlas_services.mfa``.

- Seeds are sealed by ``atlas_services.credentials`` like connection secrets, bound to their (user, enrolment)
  row. They leave this module only inside an ``EnrolmentOffer``, to be shown once to their owner.
- A code is accepted for the current 30-second step or the one either side of it (clock drift), and only for a
  step later than the last one accepted: a code cannot be used twice, nor can an older one after a newer one.
- Recovery codes are 80 random bits each, stored as SHA-256 of (user, code), each usable once.
- Enrolment and recovery-code use are audited in every suite tenant the user belongs to (the owners of each one
  answer for who holds keys there); no detail ever carries a seed or a code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

import pyotp
import qrcode
import qrcode.image.svg
from sqlalchemy import update
from sqlmodel import Session, col, delete, func, select

from atlas_services import audit
from atlas_services.credentials import Sealed, open_totp_seed, seal_totp_seed
from atlas_services.db import session_scope
from atlas_services.errors import InvalidInput, NotFound
from atlas_services.models import Membership, User, utcnow
from atlas_services.models.mfa import SecondFactorChallenge, TotpEnrolment, TotpRecoveryCode
from atlas_services.secrets import SecretValue

ISSUER = "Atlas"
STEP_SECONDS = 30
DRIFT_STEPS = 1  # the step before and after the current one: clocks drift, people type slowly
RECOVERY_CODES = 10
MAX_CODE_LENGTH = 64
WRONG_CODE = "That code is not valid. Enter the current code from your authenticator, or an unused recovery code."
_TOTP_CODE = re.compile(r"[0-9]{6}")
_RECOVERY_CODE = re.compile(r"[a-z2-7]{16}")
_SEPARATORS = re.compile(r"[\s-]")


@dataclass(frozen=True)
class EnrolmentOffer:
    """What the enrolment page shows its user once: the seed (for manual entry) and the same as a QR code."""

    secret: SecretValue
    qr_data_url: str
    account: str


def _normalized(code: object) -> str:
    if not isinstance(code, str) or len(code) > MAX_CODE_LENGTH:
        return ""
    return _SEPARATORS.sub("", code).lower()


def confirmed_enrolment(session: Session, user_id: uuid.UUID, lock: bool = False) -> TotpEnrolment | None:
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
    generator = pyotp.TOTP(_seed(enrolment).reveal(), interval=STEP_SECONDS)
    current = generator.timecode(now or utcnow())
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # Every candidate is compared (in constant time), so the time taken says nothing about which matched.
        if hmac.compare_digest(generator.generate_otp(step), typed) and (
                enrolment.last_used_step is None or step > enrolment.last_used_step):
            found = step
    return found


def accept_code(enrolment: TotpEnrolment, code: object) -> bool:
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


def use_recovery_code(session: Session, user_id: uuid.UUID, code: object) -> bool:
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
    audit_everywhere(session, user_id, user_id, "mfa.recovery_code_used", {"recovery_codes_left": int(left)})
    return True


def offer(user_id: uuid.UUID) -> EnrolmentOffer:
    """The user's pending (unconfirmed) authenticator, created when there is none, as a seed and a QR code.

    A reload shows the same seed (the user may already have scanned it); a confirmed one is never shown again.
    """
    with session_scope() as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound("user")
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


def confirm(session: Session, user_id: uuid.UUID, code: object) -> list[str] | None:
    """Confirm the pending authenticator with a right code; new recovery codes (shown once), or None."""
    enrolment = session.exec(select(TotpEnrolment).where(TotpEnrolment.user_id == user_id)
                             .with_for_update()).first()
    if enrolment is None or enrolment.confirmed_at is not None:
        raise InvalidInput("enrolment", "There is no authenticator waiting to be confirmed. Start again.")
    if not accept_code(enrolment, code):
        return None
    enrolment.confirmed_at = utcnow()
    codes = new_recovery_codes(session, user_id)
    audit_everywhere(session, user_id, user_id, "mfa.enrolled")
    return codes


def new_recovery_codes(session: Session, user_id: uuid.UUID) -> list[str]:
    """A fresh set of recovery codes, as shown to the user (once); every earlier one stops working."""
    session.execute(delete(TotpRecoveryCode).where(col(TotpRecoveryCode.user_id) == user_id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    for code_value in codes:
        session.add(TotpRecoveryCode(user_id=user_id, code_hash=_recovery_hash(user_id, code_value)))
    return [_display_code(c) for c in codes]


def forget(session: Session, user_id: uuid.UUID) -> None:
    """Drop the user's authenticator, recovery codes and pending second steps."""
    session.execute(delete(TotpRecoveryCode).where(col(TotpRecoveryCode.user_id) == user_id))
    session.execute(delete(TotpEnrolment).where(col(TotpEnrolment.user_id) == user_id))
    session.execute(delete(SecondFactorChallenge).where(col(SecondFactorChallenge.user_id) == user_id))


def audit_everywhere(session: Session, user_id: uuid.UUID, actor_user_id: uuid.UUID, action: str,
                     details: dict[str, int] | None = None) -> None:
    """Record ``action`` about the user in every suite tenant they belong to: each tenant's owners see it."""
    for tenant_id in session.exec(select(Membership.tenant_id).where(Membership.user_id == user_id)).all():
        audit.record(session, tenant_id=tenant_id, actor_user_id=actor_user_id, action=action, target_type="user",
                     target_id=user_id, details=dict(details or {}))
