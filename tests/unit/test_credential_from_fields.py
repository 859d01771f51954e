"""from_fields: what the create and rotate forms (and the CLI's options) hand over becomes one credential input."""

from __future__ import annotations

from datetime import date

import pytest

from atlas_services.credential_input import (
    CertificateInput,
    ClientSecretInput,
    CredentialSource,
    from_fields,
)
from atlas_services.errors import InvalidInput
from atlas_services.secrets import SecretValue


def test_a_client_secret_takes_the_secret_its_expiry_and_the_guid_override() -> None:
    given = from_fields("secret", secret=SecretValue("s3cret~value"), expires_on=" 2031-06-30 ",
                        allow_guid_shaped=True, pem=SecretValue("ignored"))
    assert isinstance(given, ClientSecretInput)
    assert given.secret.reveal() == "s3cret~value"
    assert given.expires_on == date(2031, 6, 30)
    assert given.allow_guid_shaped is True


def test_a_blank_expiry_is_none_and_a_missing_secret_is_empty() -> None:
    given = from_fields(CredentialSource.CLIENT_SECRET, expires_on="  ")
    assert isinstance(given, ClientSecretInput)
    assert given.expires_on is None and given.secret.reveal() == ""


def test_an_expiry_that_is_not_a_date_names_its_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        from_fields("secret", secret=SecretValue("x"), expires_on="30/06/2031")
    assert caught.value.field == "expires_on"


def test_a_pem_bundle_keeps_only_the_pem() -> None:
    pem = SecretValue("-----BEGIN CERTIFICATE-----")
    given = from_fields("pem", pem=pem, secret=SecretValue("ignored"))
    assert given == CertificateInput(pem=pem)


def test_a_pfx_takes_its_bytes_and_passphrase() -> None:
    given = from_fields("pfx", pfx=b"\x30\x82", passphrase=SecretValue("pass"))
    assert isinstance(given, CertificateInput)
    assert given.pfx == b"\x30\x82" and given.passphrase is not None and given.passphrase.reveal() == "pass"
    assert given.pem is None


def test_a_pfx_without_a_file_asks_for_one() -> None:
    with pytest.raises(InvalidInput) as caught:
        from_fields("pfx", passphrase=SecretValue("pass"))
    assert caught.value.field == "certificate"


def test_an_unknown_source_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        from_fields("ssh-key", secret=SecretValue("x"))
    assert caught.value.field == "credential_kind"
