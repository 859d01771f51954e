"""What a user hands Atlas as an app credential, checked and reduced to sealable material plus hints."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from enum import StrEnum

from atlas_services import certificates
from atlas_services.errors import InvalidInput
from atlas_services.models import CredentialKind
from atlas_services.secrets import SecretValue
from atlas_services.validation import GUID

MAX_SECRET_LENGTH = 1024
TRIMMED_NOTICE = "Spaces or line breaks around the secret were removed."


@dataclass(frozen=True)
class ClientSecretInput:
    secret: SecretValue
    # Entra shows a secret's expiry but does not let Atlas read it, so the user types it in.
    expires_on: date | None = None
    # A GUID-shaped "secret" is nearly always the Secret ID; it is refused unless the user insists.
    allow_guid_shaped: bool = False


@dataclass(frozen=True)
class CertificateInput:
    pem: SecretValue | None = None
    pfx: bytes | None = field(default=None, repr=False)
    passphrase: SecretValue | None = None


CredentialInput = ClientSecretInput | CertificateInput


class CredentialSource(StrEnum):
    """How a user gives a credential: a client secret, a PEM bundle (certificate + key), or a PFX file."""

    CLIENT_SECRET = "secret"  # noqa: S105 - the name of a choice, not a password
    PEM = "pem"
    PFX = "pfx"


def from_fields(source: CredentialSource | str, *, secret: SecretValue | None = None, expires_on: str = "",
                allow_guid_shaped: bool = False, pem: SecretValue | None = None, pfx: bytes | None = None,
                passphrase: SecretValue | None = None) -> CredentialInput:
    """The credential a form (or the CLI's options) describes; only the fields of ``source`` are used.

    Reading the material (an upload, a file, stdin) is the caller's part; this only shapes it. ``expires_on``
    is the text typed in (YYYY-MM-DD, or blank for none). Raises InvalidInput naming the field.
    """
    if source == CredentialSource.PEM:
        return CertificateInput(pem=pem)
    if source == CredentialSource.PFX:
        if pfx is None:
            raise InvalidInput("certificate", "Choose the PFX file to upload")
        return CertificateInput(pfx=pfx, passphrase=passphrase)
    if source != CredentialSource.CLIENT_SECRET:
        raise InvalidInput("credential_kind", "Choose a client secret, a PEM bundle or a PFX file")
    return ClientSecretInput(secret or SecretValue(""), expires_on=_expiry(expires_on),
                             allow_guid_shaped=allow_guid_shaped)


def _expiry(text: str) -> date | None:
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput("expires_on", "Enter the expiry as a date (YYYY-MM-DD)") from None


@dataclass(frozen=True)
class PreparedCredential:
    kind: CredentialKind
    material: SecretValue  # what gets sealed: the secret, or JSON with the private key and certificate
    hint: str
    thumbprint: str | None = None
    subject: str | None = None
    not_after: datetime | None = None
    expires_at: datetime | None = None
    notices: tuple[str, ...] = ()


def prepare(credential: object) -> PreparedCredential:
    """Validate a credential input; raises InvalidInput naming the field, stores nothing."""
    if isinstance(credential, ClientSecretInput):
        return _secret(credential)
    if isinstance(credential, CertificateInput):
        return _certificate(credential)
    raise InvalidInput("client_secret", "The client secret is required")


def _secret(given: ClientSecretInput) -> PreparedCredential:
    raw = given.secret.reveal() if isinstance(given.secret, SecretValue) else ""
    if len(raw) > MAX_SECRET_LENGTH:
        raise InvalidInput("client_secret", f"The client secret must be at most {MAX_SECRET_LENGTH} characters; "
                                            "paste only the secret's Value")
    text = raw.strip()
    if not text:
        raise InvalidInput("client_secret", "The client secret is required")
    if any(ch.isspace() for ch in text):
        raise InvalidInput("client_secret", "The client secret must not contain spaces or line breaks")
    if GUID.match(text) and not given.allow_guid_shaped:
        raise InvalidInput("client_secret", "This looks like the secret's ID (a GUID), not its Value. In the app "
                                            "registration's Certificates & secrets page, copy the Value column.")
    expires_at = None
    if given.expires_on is not None:
        if not isinstance(given.expires_on, date):
            raise InvalidInput("expires_on", "The expiry must be a date")
        expires_at = datetime.combine(given.expires_on, time(23, 59, 59), tzinfo=UTC)
        if expires_at <= datetime.now(UTC):
            raise InvalidInput("expires_on", "That expiry date has passed: create a new secret in Entra")
    return PreparedCredential(kind=CredentialKind.CLIENT_SECRET, material=SecretValue(text), hint="…" + text[-4:],
                              expires_at=expires_at, notices=(TRIMMED_NOTICE,) if text != raw else ())


def _certificate(given: CertificateInput) -> PreparedCredential:
    if given.pfx is not None:
        parsed = certificates.parse_pfx(given.pfx, given.passphrase)
    elif given.pem is not None:
        parsed = certificates.parse_pem(given.pem)
    else:
        raise InvalidInput("certificate", "Paste a PEM bundle or upload a PFX file")
    material = json.dumps({"private_key": parsed.private_key.reveal(), "certificate": parsed.certificate_pem,
                           "thumbprint": parsed.thumbprint})
    return PreparedCredential(kind=CredentialKind.CERTIFICATE, material=SecretValue(material),
                              hint=parsed.thumbprint[:8] + "…", thumbprint=parsed.thumbprint,
                              subject=parsed.subject, not_after=parsed.not_after, expires_at=parsed.not_after)
