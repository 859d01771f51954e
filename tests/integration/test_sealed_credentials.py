"""Sealed credentials on real rows: transplanted ciphertexts refuse to open; key rotation re-seals everything."""

from __future__ import annotations

import base64
import random
import uuid
from collections.abc import Iterator

import pytest
from sqlmodel import select

from atlas_services import gateway
from atlas_services.config import get_settings
from atlas_services.credentials import KeyRing, Sealed, key_usage, open_sealed, reseal_all, seal
from atlas_services.db import session_scope
from atlas_services.errors import ProviderError
from atlas_services.models import CredentialKind, ProviderCredential
from atlas_services.secrets import SecretValue
from tests.support.factories import create_connection, make_actor

K1 = "k1:" + base64.b64encode(b"\x01" * 32).decode()
K2 = "k2:" + base64.b64encode(b"\x02" * 32).decode()


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Switch ATLAS_ENCRYPTION_KEYS for the test and back."""
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def _use_keys(monkeypatch: pytest.MonkeyPatch, spec: str) -> None:
    monkeypatch.setenv("ATLAS_ENCRYPTION_KEYS", spec)
    get_settings.cache_clear()


def _connections(count: int) -> list[tuple[uuid.UUID, str]]:
    made = []
    tenants = [make_actor("owner") for _ in range(3)]
    for index in range(count):
        actor = tenants[index % 3]
        secret = f"CANARY-{uuid.uuid4().hex}"
        view = create_connection(actor, name=f"c{index}", secret=secret)
        made.append((view.id, secret))
    return made


def test_100_transplanted_ciphertexts_all_refuse_to_open(db: None) -> None:
    connections = _connections(20)
    with session_scope() as session:
        rows = {row.connection_id: (row.ciphertext, row.nonce, row.key_id)
                for row in session.exec(select(ProviderCredential)).all()}
    secrets = dict(connections)
    for connection_id, _ in connections:  # every row still opens where it belongs
        assert gateway._resolve(connection_id, None).credential == SecretValue(secrets[connection_id])

    rng = random.Random(7)
    refused = 0
    for _ in range(100):
        source, target = rng.sample([c for c, _ in connections], 2)
        with session_scope() as session:
            row = session.exec(select(ProviderCredential).where(ProviderCredential.connection_id == target)).one()
            row.ciphertext, row.nonce, row.key_id = rows[source]
        with pytest.raises(ProviderError) as caught:
            gateway._resolve(target, None)
        assert caught.value.code == "credential.unavailable"
        assert secrets[source] not in str(caught.value) + caught.value.detail + caught.value.remediation
        refused += 1
        with session_scope() as session:  # put the target's own ciphertext back
            row = session.exec(select(ProviderCredential).where(ProviderCredential.connection_id == target)).one()
            row.ciphertext, row.nonce, row.key_id = rows[target]
    assert refused == 100


def test_rotating_1000_credentials_from_k1_to_k2(db: None, keys: None, monkeypatch: pytest.MonkeyPatch) -> None:
    _use_keys(monkeypatch, K1)
    actor = make_actor("owner")
    view = create_connection(actor, name="bulk", secret="first-secret-value")
    ring_k1 = KeyRing(K1)
    plaintexts: dict[uuid.UUID, str] = {}
    with session_scope() as session:
        for _ in range(999):
            credential_id = uuid.uuid4()
            plaintexts[credential_id] = f"secret-{credential_id.hex}"
            sealed = seal(SecretValue(plaintexts[credential_id]), tenant_id=actor.tenant_id,
                          connection_id=view.id, credential_id=credential_id, keyring=ring_k1)
            session.add(ProviderCredential(id=credential_id, tenant_id=actor.tenant_id, connection_id=view.id,
                                           kind=CredentialKind.CLIENT_SECRET, ciphertext=sealed.ciphertext,
                                           nonce=sealed.nonce, key_id=sealed.key_id, hint="", active=False))
    assert {u.key_id: u.rows for u in key_usage(KeyRing(f"{K2},{K1}"))} == {"k2": 0, "k1": 1000}

    progress: list[tuple[int, int]] = []
    report = reseal_all(batch_size=250, keyring=KeyRing(f"{K2},{K1}"), on_batch=lambda d, t: progress.append((d, t)))

    assert (report.resealed, report.unavailable) == (1000, 0)
    assert progress[-1] == (1000, 1000) and len(progress) == 4
    only_k2 = KeyRing(K2)
    assert {u.key_id: u.rows for u in key_usage(only_k2)} == {"k2": 1000}
    with session_scope() as session:
        rows = session.exec(select(ProviderCredential)).all()
        for row in rows:
            opened = open_sealed(Sealed(row.ciphertext, row.nonce, row.key_id), tenant_id=row.tenant_id,
                                 connection_id=row.connection_id, credential_id=row.id, keyring=only_k2)
            assert opened.reveal() == plaintexts.get(row.id, "first-secret-value")
    assert len(rows) == 1000

    # A row still sealed under a removed key fails closed, and rotation reports it instead of crashing.
    planted = uuid.uuid4()
    with session_scope() as session:
        sealed = seal(SecretValue("left-behind"), tenant_id=actor.tenant_id, connection_id=view.id,
                      credential_id=planted, keyring=ring_k1)
        session.add(ProviderCredential(id=planted, tenant_id=actor.tenant_id, connection_id=view.id,
                                       kind=CredentialKind.CLIENT_SECRET, ciphertext=sealed.ciphertext,
                                       nonce=sealed.nonce, key_id="k1", hint="", active=False))
    _use_keys(monkeypatch, K2)
    with pytest.raises(ProviderError) as caught:
        gateway._resolve(view.id, planted)
    assert caught.value.code == "credential.unavailable" and "left-behind" not in str(caught.value)
    assert reseal_all(keyring=only_k2).unavailable == 1
    assert gateway._resolve(view.id, None).credential == SecretValue("first-secret-value")
