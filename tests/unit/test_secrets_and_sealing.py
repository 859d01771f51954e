"""Secrets never show themselves; sealed values open only for the row they were sealed to."""

from __future__ import annotations

import base64
import json
import pickle
import uuid

import pytest

from atlas_services.credentials import KeyRing, open_sealed, seal
from atlas_services.errors import ProviderError
from atlas_services.secrets import SecretValue

CANARY = "CANARY-" + uuid.uuid4().hex
RING = KeyRing("k1:" + base64.b64encode(b"1" * 32).decode() + ",k0:" + base64.b64encode(b"0" * 32).decode())


def test_secret_value_hides_itself_everywhere() -> None:
    secret = SecretValue(CANARY)
    for shown in (repr(secret), str(secret), f"{secret}", f"{secret!r}", "%s" % secret, str([secret])):  # noqa: UP031
        assert CANARY not in shown
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    with pytest.raises(TypeError):
        json.dumps({"s": secret})
    assert secret.reveal() == CANARY and secret.last4() == CANARY[-4:]


def test_sealed_secret_opens_only_for_its_own_row() -> None:
    row = {"tenant_id": uuid.uuid4(), "connection_id": uuid.uuid4(), "credential_id": uuid.uuid4()}
    sealed = seal(SecretValue(CANARY), keyring=RING, **row)
    assert sealed.key_id == "k1" and CANARY.encode() not in sealed.ciphertext
    assert open_sealed(sealed, keyring=RING, **row).reveal() == CANARY
    for field in row:
        moved = {**row, field: uuid.uuid4()}
        with pytest.raises(ProviderError) as caught:
            open_sealed(sealed, keyring=RING, **moved)
        assert caught.value.code == "credential.unavailable" and CANARY not in str(caught.value)


def test_a_removed_key_fails_closed() -> None:
    row = {"tenant_id": 1, "connection_id": 2, "credential_id": 3}
    sealed = seal(SecretValue(CANARY), keyring=RING, **row)
    without_k1 = KeyRing("k0:" + base64.b64encode(b"0" * 32).decode())
    with pytest.raises(ProviderError) as caught:
        open_sealed(sealed, keyring=without_k1, **row)
    assert caught.value.code == "credential.unavailable"


@pytest.mark.parametrize("spec", ["", "k1:not-base64!", "k1:" + base64.b64encode(b"short").decode(), ":abc"])
def test_malformed_key_rings_are_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        KeyRing(spec)
