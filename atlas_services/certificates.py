"""Reading app-registration certificates: PEM (certificate + private key) or PFX with a passphrase.

Only non-secret facts leave this module in the clear (thumbprint, subject, not-after); the private key
comes back as a SecretValue holding unencrypted PKCS#8 PEM, ready to be sealed.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from atlas_services.errors import InvalidInput
from atlas_services.secrets import SecretValue

MAX_PEM_BYTES = 64 * 1024
MAX_PFX_BYTES = 64 * 1024


@dataclass(frozen=True)
class ParsedCertificate:
    certificate_pem: str
    private_key: SecretValue
    thumbprint: str  # SHA-1 of the DER, upper-case hex: what the Entra portal shows
    thumbprint_sha256: str  # base64url, for the x5t#S256 assertion header
    subject: str
    not_after: datetime


def has_expired(certificate_pem: str, now: datetime | None = None) -> bool:
    """Whether a (public) certificate is past its not-after date; an unreadable one counts as not expired."""
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    except ValueError:
        return False
    return certificate.not_valid_after_utc <= (now or datetime.now(UTC))


def parse_pem(bundle: SecretValue) -> ParsedCertificate:
    """Read a PEM bundle holding one certificate and its unencrypted private key."""
    text = bundle.reveal() if isinstance(bundle, SecretValue) else ""
    if not text.strip():
        raise InvalidInput("certificate", "Paste the certificate and its private key (PEM)")
    if len(text.encode()) > MAX_PEM_BYTES:
        raise InvalidInput("certificate", f"The PEM bundle is larger than {MAX_PEM_BYTES // 1024} kB")
    data = text.strip().encode()
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise InvalidInput("certificate",
                           "No readable certificate found: paste a PEM 'BEGIN CERTIFICATE' block") from None
    if "PRIVATE KEY-----" not in text:
        raise InvalidInput("certificate", "The PEM has no private key: include the certificate's private key")
    if "ENCRYPTED PRIVATE KEY" in text:
        raise InvalidInput("certificate", "The private key is encrypted: upload a PFX with its passphrase instead")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise InvalidInput("certificate", "The private key could not be read") from None
    return _checked(certificates[0], key)


def parse_pfx(pfx: bytes, passphrase: SecretValue | None) -> ParsedCertificate:
    """Read a PFX/PKCS#12 file holding a certificate and its private key."""
    if not isinstance(pfx, bytes | bytearray) or not pfx:
        raise InvalidInput("certificate", "Upload the PFX file")
    if len(pfx) > MAX_PFX_BYTES:
        raise InvalidInput("certificate", f"The PFX file is larger than {MAX_PFX_BYTES // 1024} kB")
    password = passphrase.reveal().encode() if isinstance(passphrase, SecretValue) and passphrase.reveal() else None
    try:
        key, certificate, _ = pkcs12.load_key_and_certificates(bytes(pfx), password)
    except ValueError:
        raise InvalidInput("passphrase", "The PFX could not be opened: check the passphrase") from None
    if certificate is None:
        raise InvalidInput("certificate", "The PFX holds no certificate")
    if key is None:
        raise InvalidInput("certificate", "The PFX holds no private key")
    return _checked(certificate, key)


def _checked(certificate: x509.Certificate, key: object) -> ParsedCertificate:
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise InvalidInput("certificate", "Only RSA and EC private keys are supported")
    public_der = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, public_der) != certificate.public_key().public_bytes(
            serialization.Encoding.DER, public_der):
        raise InvalidInput("certificate", "The private key does not belong to the certificate")
    not_after = certificate.not_valid_after_utc
    if not_after <= datetime.now(UTC):
        raise InvalidInput("certificate", f"The certificate expired on {not_after:%Y-%m-%d}")
    der = certificate.public_bytes(serialization.Encoding.DER)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return ParsedCertificate(
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
        private_key=SecretValue(key_pem),
        thumbprint=hashlib.sha1(der, usedforsecurity=False).hexdigest().upper(),
        thumbprint_sha256=base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode(),
        subject=certificate.subject.rfc4514_string()[:400],
        not_after=not_after,
    )
