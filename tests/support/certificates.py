"""Self-signed test certificates made on the fly (no key material is committed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class GeneratedCertificate:
    certificate_pem: str
    private_key_pem: str
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey

    def pfx(self, passphrase: bytes | None) -> bytes:
        encryption = (serialization.BestAvailableEncryption(passphrase) if passphrase
                      else serialization.NoEncryption())
        return pkcs12.serialize_key_and_certificates(b"atlas-test", self.key, self.certificate, None, encryption)

    @property
    def bundle(self) -> str:
        return self.certificate_pem + self.private_key_pem


@lru_cache(maxsize=8)
def _key(index: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_certificate(common_name: str = "atlas-test", *, days: int = 365, expired: bool = False,
                     key_index: int = 0) -> GeneratedCertificate:
    key = _key(key_index)
    now = datetime.now(UTC)
    start, end = (now - timedelta(days=30), now - timedelta(days=1)) if expired else (
        now - timedelta(minutes=5), now + timedelta(days=days))
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
                   .sign(key, hashes.SHA256()))
    return GeneratedCertificate(
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
        private_key_pem=key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()).decode(),
        certificate=certificate, key=key)
