"""The in-memory form of a secret: safe to pass around, never shows its value."""

from __future__ import annotations

from typing import Any, NoReturn


class SecretValue:
    """A decrypted or user-entered secret. Never reveals itself by repr, str, pickling or JSON."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """The plaintext: call only at the point of use (the token request)."""
        return str(object.__getattribute__(self, "_value"))

    def last4(self) -> str:
        return self.reveal()[-4:]

    def __repr__(self) -> str:
        return "SecretValue('********')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce__(self) -> NoReturn:
        raise TypeError("a SecretValue cannot be pickled")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretValue) and other.reveal() == self.reveal()

    def __hash__(self) -> int:
        return hash(("SecretValue", self.reveal()))

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError("SecretValue is immutable")


class CertificateCredential:
    """An opened certificate credential: the private key stays a SecretValue; the rest is public."""

    __slots__ = ("certificate_pem", "private_key", "thumbprint")

    def __init__(self, private_key: SecretValue, certificate_pem: str, thumbprint: str) -> None:
        self.private_key = private_key
        self.certificate_pem = certificate_pem
        self.thumbprint = thumbprint

    def __repr__(self) -> str:
        return f"CertificateCredential(thumbprint={self.thumbprint!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a CertificateCredential cannot be pickled")


# What a token request signs in with: a client secret, or a certificate and its private key.
AppCredential = SecretValue | CertificateCredential
