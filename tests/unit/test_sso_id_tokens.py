"""ID token validation (atlas_services.graph.oidc.validate_id_token) against tokens signed here: each defect the
issue lists gets its own clear refusal, and only a token passing every check yields an identity."""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from atlas_services.errors import ProviderError
from atlas_services.graph import oidc
from atlas_services.graph.clouds import CLOUDS
from atlas_services.reasons import ReasonCode
from atlas_services.secrets import SecretValue
from atlas_sim.id_tokens import IdTokenSigner

CLOUD = CLOUDS["global"]
TENANT = str(uuid.uuid4())
CLIENT = str(uuid.uuid4())
NONCE = "flow-nonce"
APP = oidc.SignInApp(CLOUD, TENANT, CLIENT, SecretValue("unused"))
SIGNER = IdTokenSigner()
JWKS = SIGNER.jwks()


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": f"https://{CLOUD.authority_host}/{TENANT}/v2.0", "aud": CLIENT, "tid": TENANT,
              "oid": str(uuid.uuid4()), "email": "Person@Example.test", "iat": now, "nbf": now, "exp": now + 600,
              "nonce": hashlib.sha256(NONCE.encode()).hexdigest()}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _token(claims: dict[str, Any], key: Any = None, kid: str | None = None, alg: str = "RS256") -> str:
    return jwt.encode(claims, key or SIGNER.key, algorithm=alg, headers={"kid": kid or SIGNER.kid})


def _refused(token: str, nonce: str = NONCE) -> ReasonCode:
    with pytest.raises(ProviderError) as caught:
        oidc.validate_id_token(token, JWKS, app=APP, nonce=nonce)
    assert token not in str(caught.value) and token not in repr(caught.value)
    return ReasonCode(caught.value.code)


def test_a_good_token_yields_the_identity() -> None:
    claims = _claims()
    identity = oidc.validate_id_token(_token(claims), JWKS, app=APP, nonce=NONCE)
    assert (identity.oid, identity.tid, identity.email) == (claims["oid"], TENANT, "person@example.test")


@pytest.mark.parametrize(("token", "code"), [
    (lambda: "not-a-jwt", ReasonCode.SSO_TOKEN_INVALID),
    (lambda: "a.b.c", ReasonCode.SSO_TOKEN_INVALID),
    (lambda: _token(_claims(exp=int(time.time()) - 600)), ReasonCode.SSO_TOKEN_EXPIRED),
    (lambda: _token(_claims(nbf=int(time.time()) + 3600)), ReasonCode.SSO_TOKEN_INVALID),
    (lambda: _token(_claims(tid=str(uuid.uuid4()))), ReasonCode.SSO_WRONG_TENANT),
    (lambda: _token(_claims(aud=str(uuid.uuid4()))), ReasonCode.SSO_WRONG_AUDIENCE),
    (lambda: _token(_claims(iss="https://login.evil.example/x/v2.0")), ReasonCode.SSO_TOKEN_INVALID),
    (lambda: _token(_claims(oid=None)), ReasonCode.SSO_TOKEN_INVALID),
    (lambda: _token(_claims(nonce="another")), ReasonCode.SSO_NONCE_MISMATCH),
    (lambda: _token(_claims(nonce=None)), ReasonCode.SSO_NONCE_MISMATCH),
    (lambda: _token(_claims(), key=rsa.generate_private_key(public_exponent=65537, key_size=2048)),
     ReasonCode.SSO_TOKEN_INVALID),
    (lambda: _token(_claims(), kid="unknown-kid"), ReasonCode.SSO_TOKEN_INVALID),
    (lambda: _token(_claims(), key="a-shared-secret-of-enough-length-for-hs256", alg="HS256"),
     ReasonCode.SSO_TOKEN_INVALID),
    (lambda: jwt.encode(_claims(), None, algorithm="none"), ReasonCode.SSO_TOKEN_INVALID),
], ids=["malformed", "garbage-segments", "expired", "not-yet-valid", "other-tenant", "other-audience",
        "other-issuer", "no-oid", "wrong-nonce", "no-nonce", "bad-signature", "unknown-key", "hs256", "alg-none"])
def test_each_bad_token_gets_its_refusal(token: Any, code: ReasonCode) -> None:
    assert _refused(token()) == code
