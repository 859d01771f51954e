"""JWT-shaped access tokens for the simulator: HS256 under a key that lives only as long as the process.

Real Entra tokens are RS256 and Atlas never reads them (Microsoft: don't parse tokens for APIs you don't own);
the simulator signs its own only so its Graph endpoints can tell tokens it issued from anything else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import uuid
from typing import Any

ACCESS_TOKEN_LIFETIME = 3599


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _compact(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or os.urandom(32)

    def issue(self, *, tenant_id: str, client_id: str, app_display_name: str, object_id: str,
              roles: list[str], audience: str, issuer: str, now: float | None = None) -> str:
        issued = int(now if now is not None else time.time())
        claims: dict[str, Any] = {
            "aud": audience, "iss": issuer, "iat": issued, "nbf": issued, "exp": issued + ACCESS_TOKEN_LIFETIME,
            "app_displayname": app_display_name, "appid": client_id, "appidacr": "1", "idtyp": "app",
            "oid": object_id, "sub": object_id, "roles": sorted(roles), "tid": tenant_id,
            "uti": uuid.uuid4().hex, "ver": "1.0",
        }
        header = {"typ": "JWT", "alg": "HS256", "kid": "atlas-sim"}
        signing_input = f"{_b64(_compact(header))}.{_b64(_compact(claims))}"
        return f"{signing_input}.{_b64(self._sign(signing_input))}"

    def verify(self, token: str, *, now: float | None = None) -> dict[str, Any] | None:
        """Claims of a token this signer issued and that has not expired, else None."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        signing_input = f"{parts[0]}.{parts[1]}"
        try:
            if not hmac.compare_digest(_unb64(parts[2]), self._sign(signing_input)):
                return None
            claims = json.loads(_unb64(parts[1]))
        except (ValueError, TypeError):
            return None
        if not isinstance(claims, dict):
            return None
        if int(claims.get("exp", 0)) <= (now if now is not None else time.time()):
            return None
        return claims

    def _sign(self, signing_input: str) -> bytes:
        return hmac.new(self._key, signing_input.encode("ascii"), hashlib.sha256).digest()
