"""ID tokens for the sign-in flow (OpenID Connect): RS256 under the simulator's own key, published as a JWKS.

Real Entra signs ID tokens with keys published at ``{authority}/{tenant}/discovery/v2.0/keys``; the simulator
generates one RSA key per process and publishes it the same way, so Atlas validates the signature exactly as it
would against Microsoft. Fault knobs (``ID_TOKEN_FAULTS``) let tests ask for tokens Atlas must refuse.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

ID_TOKEN_LIFETIME = 3600
# wrong_tid: the tid (and issuer) of another tenant; other_audience: aud is another app; expired: exp in the past;
# bad_signature: signed by a key the JWKS does not hold (same kid); malformed: not a JWT at all; wrong_nonce.
ID_TOKEN_FAULTS = ("wrong_tid", "other_audience", "expired", "bad_signature", "malformed", "wrong_nonce")
OTHER_TENANT = "00000000-0000-0000-0000-00000000dead"


def _b64_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass
class IdTokenSigner:
    key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(public_exponent=65537,
                                                                                    key_size=2048))
    kid: str = field(default_factory=lambda: uuid.uuid4().hex)
    # Set by tests (RunningSimulator.id_token_fault): the next tokens carry this defect.
    fault: str | None = None

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        return {"keys": [{"kty": "RSA", "use": "sig", "kid": self.kid, "alg": "RS256",
                          "n": _b64_uint(numbers.n), "e": _b64_uint(numbers.e)}]}

    def issue(self, *, authority_base: str, tenant_id: str, client_id: str, oid: str, email: str, name: str,
              nonce: str | None, now: float | None = None) -> str:
        issued = int(now if now is not None else time.time())
        fault = self.fault
        tid = OTHER_TENANT if fault == "wrong_tid" else tenant_id
        claims: dict[str, Any] = {
            "aud": str(uuid.uuid5(uuid.NAMESPACE_URL, "atlas-sim:other-app")) if fault == "other_audience"
            else client_id,
            "iss": f"{authority_base}/{tid}/v2.0", "iat": issued, "nbf": issued,
            "exp": issued - 600 if fault == "expired" else issued + ID_TOKEN_LIFETIME,
            "tid": tid, "oid": oid, "sub": hashlib.sha256(f"{oid}:{client_id}".encode()).hexdigest()[:43],
            "email": email, "preferred_username": email, "name": name, "ver": "2.0",
            "uti": uuid.uuid4().hex,
        }
        if nonce:
            claims["nonce"] = "not-the-nonce" if fault == "wrong_nonce" else nonce
        if fault == "malformed":
            return "not-a-jwt"
        key = (rsa.generate_private_key(public_exponent=65537, key_size=2048) if fault == "bad_signature"
               else self.key)
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"})
