"""Client assertions (certificate credentials): find the registered certificate, verify the signature and claims.

Entra documents PS256 with ``x5t#S256`` today and accepted RS256 with ``x5t`` before; MSAL sends either,
depending on how the app is configured, so both are accepted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


@dataclass(frozen=True)
class AssertionRejected(Exception):
    code: int
    description: str


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise AssertionRejected(50027, "Invalid JWT token. The token is malformed.") from None


def _thumbprints(pem: str) -> tuple[x509.Certificate, str, str]:
    certificate = x509.load_pem_x509_certificate(pem.encode())
    der = certificate.public_bytes(serialization.Encoding.DER)
    sha1 = base64.urlsafe_b64encode(hashlib.sha1(der, usedforsecurity=False).digest()).rstrip(b"=").decode()
    sha256 = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    return certificate, sha1, sha256


def verify_assertion(assertion: str, *, client_id: str, certificates: tuple[str, ...], token_endpoint: str,
                     now: float | None = None) -> None:
    """Raise AssertionRejected with Entra's AADSTS code when the assertion would not sign in."""
    parts = assertion.split(".")
    if len(parts) != 3:
        raise AssertionRejected(50027, "Invalid JWT token. The token is malformed.")
    try:
        header: dict[str, Any] = json.loads(_unb64(parts[0]))
        claims: dict[str, Any] = json.loads(_unb64(parts[1]))
    except ValueError:
        raise AssertionRejected(50027, "Invalid JWT token. The token is malformed.") from None
    # Padding varies between clients (MSAL keeps it): compare without it.
    wanted_sha256 = str(header.get("x5t#S256") or "").rstrip("=")
    wanted_sha1 = str(header.get("x5t") or "").rstrip("=")
    match = None
    for pem in certificates:
        certificate, sha1, sha256 = _thumbprints(pem)
        if (wanted_sha256 and wanted_sha256 == sha256) or (wanted_sha1 and wanted_sha1 == sha1):
            match = certificate
    if match is None:
        raise AssertionRejected(700027, f"The certificate with identifier used to sign the client assertion is not "
                                        f"registered on application. [Reason - The key was not found., Thumbprint "
                                        f"of key used by client: '{wanted_sha1 or wanted_sha256}']")
    if match.not_valid_after_utc < datetime.now(UTC):
        raise AssertionRejected(700027, f"The certificate with identifier used to sign the client assertion is "
                                        f"expired on application. [Reason - The key used is expired., Thumbprint "
                                        f"of key used by client: '{wanted_sha1 or wanted_sha256}']")
    public_key = match.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey) or header.get("alg") not in ("RS256", "PS256"):
        raise AssertionRejected(700027, "Client assertion failed signature validation.")
    scheme = padding.PKCS1v15() if header["alg"] == "RS256" else padding.PSS(
        mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
    try:
        public_key.verify(_unb64(parts[2]), f"{parts[0]}.{parts[1]}".encode(), scheme, hashes.SHA256())
    except InvalidSignature:
        raise AssertionRejected(700027, "Client assertion failed signature validation.") from None
    moment = now if now is not None else time.time()
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise AssertionRejected(700021, "Client assertion application identifier doesn't match 'client_id' "
                                        "parameter.")
    if claims.get("aud") != token_endpoint:
        raise AssertionRejected(700212, "No matching federated identity record found for presented assertion "
                                        "audience.")
    if not isinstance(claims.get("exp"), int | float) or claims["exp"] < moment:
        raise AssertionRejected(700024, "Client assertion is not within its valid time range.")
