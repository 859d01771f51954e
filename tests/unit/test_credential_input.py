"""Credential inputs: clear messages for every bad paste, hints only for what is stored."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization

from atlas_services.credential_input import (
    TRIMMED_NOTICE,
    CertificateInput,
    ClientSecretInput,
    prepare,
)
from atlas_services.errors import InvalidInput
from atlas_services.models import CredentialKind
from atlas_services.secrets import SecretValue
from tests.support.certificates import make_certificate

VALUE = "Abc8Q~s3cretValueFromEntra.abcdefghijklmn"


def test_a_secret_keeps_only_its_last_four_characters_as_hint() -> None:
    prepared = prepare(ClientSecretInput(SecretValue(VALUE), expires_on=date.today() + timedelta(days=90)))
    assert prepared.kind == CredentialKind.CLIENT_SECRET and prepared.hint == "…klmn"
    assert prepared.material.reveal() == VALUE and prepared.notices == ()
    assert prepared.expires_at is not None and prepared.expires_at.date() == date.today() + timedelta(days=90)


def test_surrounding_whitespace_is_trimmed_with_a_notice() -> None:
    prepared = prepare(ClientSecretInput(SecretValue(f"  {VALUE}\n")))
    assert prepared.material.reveal() == VALUE and prepared.notices == (TRIMMED_NOTICE,)


@pytest.mark.parametrize(("secret", "message"), [
    ("", "required"), ("   \n\t", "required"), ("x" * 100_000, "at most 1024"),
    ("two words", "spaces"), ("0f5b3c1e-8f6a-4c1e-9a55-1f2d3e4c5b6a", "secret's ID"),
])
def test_bad_secrets_are_refused_with_a_clear_message(secret: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        prepare(ClientSecretInput(SecretValue(secret)))
    assert caught.value.field == "client_secret"
    if secret.strip():
        assert secret[:20] not in str(caught.value)


def test_a_guid_shaped_secret_is_accepted_when_the_user_insists() -> None:
    guid = "0f5b3c1e-8f6a-4c1e-9a55-1f2d3e4c5b6a"
    assert prepare(ClientSecretInput(SecretValue(guid), allow_guid_shaped=True)).material.reveal() == guid


def test_a_past_expiry_date_is_refused() -> None:
    with pytest.raises(InvalidInput, match="passed"):
        prepare(ClientSecretInput(SecretValue(VALUE), expires_on=date.today() - timedelta(days=1)))


def test_pem_bundle_yields_thumbprint_subject_and_expiry_and_seals_the_key() -> None:
    cert = make_certificate("contoso-atlas", days=200)
    prepared = prepare(CertificateInput(pem=SecretValue(cert.bundle)))
    expected = cert.certificate.fingerprint(hashes.SHA1()).hex().upper()
    assert prepared.kind == CredentialKind.CERTIFICATE and prepared.thumbprint == expected
    assert prepared.subject == "CN=contoso-atlas" and prepared.not_after == cert.certificate.not_valid_after_utc
    assert prepared.hint == expected[:8] + "…"
    assert json.loads(prepared.material.reveal())["private_key"].startswith("-----BEGIN PRIVATE KEY-----")


def test_pfx_with_the_right_passphrase_reads_like_the_pem() -> None:
    cert = make_certificate()
    from_pfx = prepare(CertificateInput(pfx=cert.pfx(b"open sesame"), passphrase=SecretValue("open sesame")))
    from_pem = prepare(CertificateInput(pem=SecretValue(cert.bundle)))
    assert from_pfx.thumbprint == from_pem.thumbprint and from_pfx.subject == from_pem.subject


@pytest.mark.parametrize(("make_input", "field", "message"), [
    (lambda c: CertificateInput(pem=SecretValue("-----BEGIN CERTIFICATE-----\nnot base64\n")), "certificate",
     "No readable certificate"),
    (lambda c: CertificateInput(pem=SecretValue(c.certificate_pem)), "certificate", "no private key"),
    (lambda c: CertificateInput(pfx=c.pfx(b"right"), passphrase=SecretValue("wrong")), "passphrase",
     "check the passphrase"),
    (lambda c: CertificateInput(pem=SecretValue(make_certificate(expired=True).bundle)), "certificate", "expired"),
    (lambda c: CertificateInput(pem=SecretValue(c.certificate_pem + make_certificate(key_index=1).private_key_pem)),
     "certificate", "does not belong"),
    (lambda c: CertificateInput(pem=SecretValue("A" * 100_000)), "certificate", "larger than"),
    (lambda c: CertificateInput(pem=SecretValue(c.certificate_pem + c.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw")).decode())), "certificate", "encrypted"),
    (lambda c: CertificateInput(), "certificate", "PEM bundle or upload a PFX"),
])
def test_bad_certificates_are_refused_with_a_clear_message(make_input, field, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match=message) as caught:
        prepare(make_input(make_certificate()))
    assert caught.value.field == field
    assert "PRIVATE KEY" not in str(caught.value)


def test_expiry_warnings_start_30_days_before() -> None:
    from datetime import UTC, datetime

    from atlas_services.credential_expiry import expiry_warning

    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert expiry_warning(None, now) is None
    assert expiry_warning(now + timedelta(days=31), now) is None
    assert expiry_warning(now + timedelta(days=30), now) == "The credential expires in 30 days: rotate it before then."
    one_day = expiry_warning(now + timedelta(days=1, hours=1), now)
    assert one_day == "The credential expires in 1 day: rotate it before then."
    assert expiry_warning(now + timedelta(hours=3), now) == "The credential expires today: rotate it before then."
    assert expiry_warning(now - timedelta(seconds=1), now) == "The credential has expired: rotate it now."
