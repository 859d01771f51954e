"""The only module that seals and opens secrets (AES-256-GCM, bound to their row by associated data)."""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from atlas_services.config import get_settings
from atlas_services.errors import ProviderError
from atlas_services.logs import register_secret
from atlas_services.reasons import ReasonCode
from atlas_services.secrets import SecretValue


@dataclass(frozen=True)
class Sealed:
    ciphertext: bytes
    nonce: bytes
    key_id: str


class KeyRing:
    """Keys by id; the first configured key is the primary one used to seal."""

    def __init__(self, spec: str) -> None:
        self._keys: dict[str, bytes] = {}
        for part in (p.strip() for p in spec.split(",") if p.strip()):
            key_id, _, encoded = part.partition(":")
            try:
                key = base64.b64decode(encoded, validate=True)
            except binascii.Error as exc:
                raise ValueError(f"encryption key '{key_id}' is not valid base64") from exc
            if not key_id or len(key) != 32:
                raise ValueError(f"encryption key '{key_id}' must be 32 bytes, base64-encoded, as id:key")
            self._keys[key_id] = key
        if not self._keys:
            raise ValueError("ATLAS_ENCRYPTION_KEYS holds no key")
        self.primary_id = next(iter(self._keys))

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    def key(self, key_id: str) -> bytes | None:
        return self._keys.get(key_id)


def _handled(plaintext: str) -> SecretValue:
    """Every secret this module opens is remembered by the log redaction first (atlas_services.logs)."""
    register_secret(plaintext)
    return SecretValue(plaintext)


def _aad(tenant_id: object, connection_id: object, credential_id: object, key_id: str) -> bytes:
    return f"atlas-credential-v1|{tenant_id}|{connection_id}|{credential_id}|{key_id}".encode()


def seal(secret: SecretValue, *, tenant_id: object, connection_id: object, credential_id: object,
         keyring: KeyRing | None = None) -> Sealed:
    """Encrypt ``secret`` under the primary key, bound to its (tenant, connection, credential) row."""
    register_secret(secret.reveal())
    ring = keyring or KeyRing(get_settings().encryption_keys)
    key_id = ring.primary_id
    key = ring.key(key_id)
    assert key is not None
    nonce = os.urandom(12)
    ciphertext = AESGCM(key).encrypt(
        nonce, secret.reveal().encode(), _aad(tenant_id, connection_id, credential_id, key_id))
    return Sealed(ciphertext=ciphertext, nonce=nonce, key_id=key_id)


def open_sealed(sealed: Sealed, *, tenant_id: object, connection_id: object, credential_id: object,
                keyring: KeyRing | None = None) -> SecretValue:
    """Decrypt a sealed secret; any mismatch fails closed with ``credential.unavailable``."""
    ring = keyring or KeyRing(get_settings().encryption_keys)
    key = ring.key(sealed.key_id)
    if key is None:
        raise ProviderError(ReasonCode.CREDENTIAL_UNAVAILABLE,
                            "The credential is sealed under a key that is no longer configured.")
    try:
        plaintext = AESGCM(key).decrypt(
            sealed.nonce, sealed.ciphertext, _aad(tenant_id, connection_id, credential_id, sealed.key_id))
    except InvalidTag:
        raise ProviderError(ReasonCode.CREDENTIAL_UNAVAILABLE,
                            "The credential does not open for this connection.") from None
    return _handled(plaintext.decode())


def _totp_aad(user_id: object, enrolment_id: object, key_id: str) -> bytes:
    return f"atlas-totp-seed-v1|{user_id}|{enrolment_id}|{key_id}".encode()


def seal_totp_seed(seed: SecretValue, *, user_id: object, enrolment_id: object,
                   keyring: KeyRing | None = None) -> Sealed:
    """Encrypt a user's TOTP seed under the primary key, bound to its (user, enrolment) row.

    A seed is a secret like a client secret: the same cipher and keys, another associated-data domain, so a
    sealed seed never opens as a credential (nor a credential as a seed), nor for another user or enrolment.
    """
    register_secret(seed.reveal())
    ring = keyring or KeyRing(get_settings().encryption_keys)
    key = ring.key(ring.primary_id)
    assert key is not None
    nonce = os.urandom(12)
    ciphertext = AESGCM(key).encrypt(nonce, seed.reveal().encode(), _totp_aad(user_id, enrolment_id, ring.primary_id))
    return Sealed(ciphertext=ciphertext, nonce=nonce, key_id=ring.primary_id)


def open_totp_seed(sealed: Sealed, *, user_id: object, enrolment_id: object,
                   keyring: KeyRing | None = None) -> SecretValue:
    """Decrypt a TOTP seed; any mismatch fails closed with ``credential.unavailable``."""
    ring = keyring or KeyRing(get_settings().encryption_keys)
    key = ring.key(sealed.key_id)
    if key is None:
        raise ProviderError(ReasonCode.CREDENTIAL_UNAVAILABLE,
                            "The authenticator is sealed under a key that is no longer configured.")
    try:
        plaintext = AESGCM(key).decrypt(sealed.nonce, sealed.ciphertext,
                                        _totp_aad(user_id, enrolment_id, sealed.key_id))
    except InvalidTag:
        raise ProviderError(ReasonCode.CREDENTIAL_UNAVAILABLE, "The authenticator does not open.") from None
    return _handled(plaintext.decode())


def _webhook_aad(tenant_id: object, key_id: str) -> bytes:
    return f"atlas-alert-webhook-v1|{tenant_id}|{key_id}".encode()


def seal_webhook_url(url: SecretValue, *, tenant_id: object, keyring: KeyRing | None = None) -> Sealed:
    """Encrypt a suite tenant's alert webhook URL (Teams and Slack URLs embed a token), bound to the tenant."""
    register_secret(url.reveal())
    ring = keyring or KeyRing(get_settings().encryption_keys)
    key = ring.key(ring.primary_id)
    assert key is not None
    nonce = os.urandom(12)
    ciphertext = AESGCM(key).encrypt(nonce, url.reveal().encode(), _webhook_aad(tenant_id, ring.primary_id))
    return Sealed(ciphertext=ciphertext, nonce=nonce, key_id=ring.primary_id)


def open_webhook_url(sealed: Sealed, *, tenant_id: object, keyring: KeyRing | None = None) -> SecretValue:
    """Decrypt a webhook URL; any mismatch (another tenant, a missing key) fails closed."""
    ring = keyring or KeyRing(get_settings().encryption_keys)
    key = ring.key(sealed.key_id)
    if key is None:
        raise ProviderError(ReasonCode.CREDENTIAL_UNAVAILABLE,
                            "The alert webhook is sealed under a key that is no longer configured.")
    try:
        plaintext = AESGCM(key).decrypt(sealed.nonce, sealed.ciphertext, _webhook_aad(tenant_id, sealed.key_id))
    except InvalidTag:
        raise ProviderError(ReasonCode.CREDENTIAL_UNAVAILABLE, "The alert webhook does not open.") from None
    return _handled(plaintext.decode())


def _seal_bound(plaintext: str, aad: Callable[[str], bytes], keyring: KeyRing | None) -> Sealed:
    register_secret(plaintext)
    ring = keyring or KeyRing(get_settings().encryption_keys)
    key = ring.key(ring.primary_id)
    assert key is not None
    nonce = os.urandom(12)
    return Sealed(ciphertext=AESGCM(key).encrypt(nonce, plaintext.encode(), aad(ring.primary_id)), nonce=nonce,
                  key_id=ring.primary_id)


def _open_bound(sealed: Sealed, aad: Callable[[str], bytes], what: str, keyring: KeyRing | None) -> SecretValue:
    ring = keyring or KeyRing(get_settings().encryption_keys)
    key = ring.key(sealed.key_id)
    if key is None:
        raise ProviderError(ReasonCode.CREDENTIAL_UNAVAILABLE,
                            f"The {what} is sealed under a key that is no longer configured.")
    try:
        return _handled(AESGCM(key).decrypt(sealed.nonce, sealed.ciphertext, aad(sealed.key_id)).decode())
    except InvalidTag:
        raise ProviderError(ReasonCode.CREDENTIAL_UNAVAILABLE, f"The {what} does not open.") from None


def seal_sso_credential(material: SecretValue, *, tenant_id: object, keyring: KeyRing | None = None) -> Sealed:
    """Encrypt a suite tenant's sign-in app credential (secret, or JSON with key and certificate), bound to the
    tenant's sso_configs row; it never opens as a connection credential, a seed or another tenant's."""
    return _seal_bound(material.reveal(), lambda k: f"atlas-sso-app-v1|{tenant_id}|{k}".encode(), keyring)


def open_sso_credential(sealed: Sealed, *, tenant_id: object, keyring: KeyRing | None = None) -> SecretValue:
    return _open_bound(sealed, lambda k: f"atlas-sso-app-v1|{tenant_id}|{k}".encode(), "sign-in app credential",
                       keyring)


def seal_sso_flow(material: SecretValue, *, tenant_id: object, flow_id: object, purpose: str,
                  keyring: KeyRing | None = None) -> Sealed:
    """Encrypt a sign-in flow's MSAL state (``purpose`` "flow": PKCE verifier, nonce) or Microsoft's answer
    ("answer": the code), bound to the flow row and to which of the two it is."""
    return _seal_bound(material.reveal(),
                       lambda k: f"atlas-sso-flow-v1|{purpose}|{tenant_id}|{flow_id}|{k}".encode(), keyring)


def open_sso_flow(sealed: Sealed, *, tenant_id: object, flow_id: object, purpose: str,
                  keyring: KeyRing | None = None) -> SecretValue:
    return _open_bound(sealed, lambda k: f"atlas-sso-flow-v1|{purpose}|{tenant_id}|{flow_id}|{k}".encode(),
                       "sign-in flow", keyring)


@dataclass(frozen=True)
class KeyUsage:
    key_id: str
    rows: int
    configured: bool
    primary: bool


def key_usage(keyring: KeyRing | None = None) -> list[KeyUsage]:
    """How many credential rows each key seals: a key may leave ATLAS_ENCRYPTION_KEYS only at 0 rows."""
    from sqlalchemy import func
    from sqlmodel import select

    from atlas_services.db import session_scope
    from atlas_services.models import ProviderCredential
    from atlas_services.models.mfa import TotpEnrolment
    from atlas_services.models.sso import SsoConfig

    ring = keyring or KeyRing(get_settings().encryption_keys)
    with session_scope() as session:
        counts = dict(session.exec(select(ProviderCredential.key_id, func.count())
                                   .group_by(ProviderCredential.key_id)).all())
        # Authenticator seeds are sealed under the same keys: a key still sealing one is still in use.
        for key_id, rows in session.exec(select(TotpEnrolment.key_id, func.count())
                                         .group_by(TotpEnrolment.key_id)).all():
            counts[key_id] = counts.get(key_id, 0) + rows
        for key_id, rows in session.exec(select(SsoConfig.key_id, func.count()).group_by(SsoConfig.key_id)).all():
            counts[key_id] = counts.get(key_id, 0) + rows  # sign-in app credentials too
    ids = list(dict.fromkeys([*ring.key_ids, *sorted(counts)]))
    return [KeyUsage(key_id=k, rows=int(counts.get(k, 0)), configured=ring.key(k) is not None,
                     primary=k == ring.primary_id) for k in ids]


@dataclass(frozen=True)
class ResealReport:
    resealed: int
    unavailable: int  # rows sealed under a key that is no longer configured (or that fail to open)


def reseal_all(batch_size: int = 200, keyring: KeyRing | None = None,
               on_batch: Callable[[int, int], None] | None = None) -> ResealReport:
    """Re-seal every credential (and then every authenticator seed) not under the primary key, one committed
    batch at a time.

    Resumable: an interrupted run leaves finished batches done, and the next run picks up the rest.
    ``on_batch(done, total)`` reports progress.
    """
    from sqlalchemy import func
    from sqlmodel import col, select

    from atlas_services.db import session_scope
    from atlas_services.models import ProviderCredential
    from atlas_services.models.mfa import TotpEnrolment

    ring = keyring or KeyRing(get_settings().encryption_keys)
    skip: set[Any] = set()  # rows that cannot be opened: counted, left as they are
    resealed = 0
    with session_scope() as session:
        total = int(session.exec(select(func.count()).select_from(ProviderCredential).where(
            ProviderCredential.key_id != ring.primary_id)).one())
        seeds = int(session.exec(select(func.count()).select_from(TotpEnrolment).where(
            TotpEnrolment.key_id != ring.primary_id)).one())
    total += seeds
    while True:
        with session_scope() as session:
            rows = session.exec(
                select(ProviderCredential)
                .where(ProviderCredential.key_id != ring.primary_id, col(ProviderCredential.id).not_in(skip))
                .order_by(col(ProviderCredential.id)).limit(batch_size).with_for_update(skip_locked=True)
            ).all()
            if not rows:
                break
            for row in rows:
                context = {"tenant_id": row.tenant_id, "connection_id": row.connection_id, "credential_id": row.id}
                try:
                    plaintext = open_sealed(Sealed(row.ciphertext, row.nonce, row.key_id), keyring=ring, **context)
                except ProviderError:
                    skip.add(row.id)
                    continue
                sealed = seal(plaintext, keyring=ring, **context)
                row.ciphertext, row.nonce, row.key_id = sealed.ciphertext, sealed.nonce, sealed.key_id
                resealed += 1
        if on_batch is not None:
            on_batch(resealed + len(skip), total)
    while seeds:
        with session_scope() as session:
            enrolments = session.exec(
                select(TotpEnrolment)
                .where(TotpEnrolment.key_id != ring.primary_id, col(TotpEnrolment.id).not_in(skip))
                .order_by(col(TotpEnrolment.id)).limit(batch_size).with_for_update(skip_locked=True)
            ).all()
            if not enrolments:
                break
            for enrolment in enrolments:
                where = {"user_id": enrolment.user_id, "enrolment_id": enrolment.id}
                try:
                    seed = open_totp_seed(Sealed(enrolment.ciphertext, enrolment.nonce, enrolment.key_id),
                                          keyring=ring, **where)
                except ProviderError:
                    skip.add(enrolment.id)
                    continue
                sealed = seal_totp_seed(seed, keyring=ring, **where)
                enrolment.ciphertext, enrolment.nonce, enrolment.key_id = sealed.ciphertext, sealed.nonce, sealed.key_id
                resealed += 1
        if on_batch is not None:
            on_batch(resealed + len(skip), total)
    done, unavailable = _reseal_sso_configs(ring)
    return ResealReport(resealed=resealed + done, unavailable=len(skip) + unavailable)


def _reseal_sso_configs(ring: KeyRing) -> tuple[int, int]:
    """Re-seal the sign-in app credentials (one row per suite tenant: one transaction)."""
    from sqlmodel import select

    from atlas_services.db import session_scope
    from atlas_services.models.sso import SsoConfig

    done = unavailable = 0
    with session_scope() as session:
        for row in session.exec(select(SsoConfig).where(SsoConfig.key_id != ring.primary_id)
                                .with_for_update(skip_locked=True)).all():
            try:
                material = open_sso_credential(Sealed(row.ciphertext, row.nonce, row.key_id),
                                               tenant_id=row.tenant_id, keyring=ring)
            except ProviderError:
                unavailable += 1
                continue
            sealed = seal_sso_credential(material, tenant_id=row.tenant_id, keyring=ring)
            row.ciphertext, row.nonce, row.key_id = sealed.ciphertext, sealed.nonce, sealed.key_id
            done += 1
    return done, unavailable
