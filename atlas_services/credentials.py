"""The only module that seals and opens secrets (AES-256-GCM, bound to their row by associated data)."""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from atlas_services.config import get_settings
from atlas_services.errors import ProviderError
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

    def key(self, key_id: str) -> bytes | None:
        return self._keys.get(key_id)


def _aad(tenant_id: object, connection_id: object, credential_id: object, key_id: str) -> bytes:
    return f"atlas-credential-v1|{tenant_id}|{connection_id}|{credential_id}|{key_id}".encode()


def seal(secret: SecretValue, *, tenant_id: object, connection_id: object, credential_id: object,
         keyring: KeyRing | None = None) -> Sealed:
    """Encrypt ``secret`` under the primary key, bound to its (tenant, connection, credential) row."""
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
        raise ProviderError("credential.unavailable",
                            "The credential is sealed under a key that is no longer configured.")
    try:
        plaintext = AESGCM(key).decrypt(
            sealed.nonce, sealed.ciphertext, _aad(tenant_id, connection_id, credential_id, sealed.key_id))
    except InvalidTag:
        raise ProviderError("credential.unavailable", "The credential does not open for this connection.") from None
    return SecretValue(plaintext.decode())
