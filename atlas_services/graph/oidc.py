"""Sign in with Microsoft (OpenID Connect authorization code flow with PKCE) through MSAL, and the validation of
the ID token it yields.

MSAL's ``initiate_auth_code_flow`` makes the flow (state, nonce, PKCE verifier) and the authorization URL;
``acquire_token_by_auth_code_flow`` checks ``state`` and the nonce and redeems the code. MSAL 1.38+ no longer
validates ID tokens, so ``validate_id_token`` does: RS256 signature against the tenant's JWKS, issuer, audience,
expiry and not-before, ``tid`` equal to the configured tenant, and the nonce. Every refusal is a ProviderError with
an ``sso.*`` reason code; no code, token or secret reaches a message or a log line.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import jwt
import msal
from msal.exceptions import MsalError

from atlas_services.config import get_settings
from atlas_services.errors import ProviderError
from atlas_services.graph import token_errors
from atlas_services.graph.clouds import CloudEndpoints
from atlas_services.graph.http import make_httpx_client
from atlas_services.graph.token_http import SignInBusy, TokenHttpClient
from atlas_services.reasons import ReasonCode
from atlas_services.secrets import AppCredential, CertificateCredential

log = logging.getLogger("atlas.graph.oidc")

# Clock skew allowed on exp/nbf/iat, as MSAL and most OIDC libraries do.
LEEWAY_SECONDS = 120


class _NoTokenEvents(logging.Filter):
    """MSAL's token cache logs each token event at DEBUG with the request's data, masking secrets and tokens but
    not the authorization code or the PKCE verifier (found by the SSO canary sweep): such records are dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith("event="))


logging.getLogger("msal.token_cache").addFilter(_NoTokenEvents())


@dataclass(frozen=True)
class SignInApp:
    """The suite tenant's sign-in app: which cloud and Entra tenant, which app, and its credential."""

    cloud: CloudEndpoints
    entra_tenant_id: str
    client_id: str
    credential: AppCredential


@dataclass(frozen=True)
class StartedFlow:
    flow: dict[str, Any]  # MSAL's auth code flow (state, nonce, code_verifier...): store it sealed
    auth_uri: str  # where the browser goes


@dataclass(frozen=True)
class VerifiedIdentity:
    oid: str
    tid: str
    email: str
    name: str


def begin(app: SignInApp, redirect_uri: str) -> StartedFlow:
    """Start a sign-in: MSAL builds the flow and the authorization URL (one OIDC discovery request)."""
    msal_app, http = _build(app)
    try:
        with warnings.catch_warnings():
            # MSAL recommends form_post; the callback is a same-site GET on purpose: a cross-site POST would not
            # carry the SameSite=Lax cookie that binds the flow to the browser that started it.
            warnings.simplefilter("ignore", UserWarning)
            flow = msal_app.initiate_auth_code_flow(scopes=[], redirect_uri=redirect_uri, response_mode="query")
    finally:
        http.close()
    return StartedFlow(flow=dict(flow), auth_uri=browser_url(app.cloud, str(flow["auth_uri"])))


def complete(app: SignInApp, flow: Mapping[str, Any], auth_response: Mapping[str, str]) -> VerifiedIdentity:
    """Redeem the code in ``auth_response`` for ``flow`` and return the verified identity, or raise
    ProviderError (sso.state_mismatch, sso.code_refused, sso.token_* ...)."""
    expected = str(flow.get("state", ""))
    if not expected or not hmac.compare_digest(expected.encode(), str(auth_response.get("state", "")).encode()):
        raise ProviderError(ReasonCode.SSO_STATE_MISMATCH)
    if auth_response.get("error"):
        raise ProviderError(ReasonCode.SSO_CODE_REFUSED)
    msal_app, http = _build(app)
    try:
        result = msal_app.acquire_token_by_auth_code_flow(dict(flow), dict(auth_response))
    except RuntimeError:
        # MSAL's own nonce check (the only ID token claim it still checks).
        raise ProviderError(ReasonCode.SSO_NONCE_MISMATCH) from None
    except (httpx.HTTPError, MsalError, SignInBusy) as exc:
        raise token_errors.from_exception(exc) from None
    except (ValueError, IndexError, KeyError, TypeError):
        # An ID token MSAL cannot even decode (MSAL raises whatever its parser hits).
        raise ProviderError(ReasonCode.SSO_TOKEN_INVALID) from None
    finally:
        http.close()
    if not isinstance(result, dict) or "id_token" not in result:
        answer = result if isinstance(result, dict) else {}
        if answer.get("error") in ("invalid_client", "unauthorized_client", "invalid_request"):
            # The sign-in app itself is wrong (secret, certificate, client id): say which, as for connections.
            raise token_errors.refusal(answer, cloud=app.cloud, credential=app.credential, discovered=http.discovered)
        log.info("sign-in code refused by Entra (AADSTS %s)", answer.get("error_codes"))
        raise ProviderError(ReasonCode.SSO_CODE_REFUSED)
    keys = fetch_jwks(app)
    return validate_id_token(str(result["id_token"]), keys, app=app, nonce=str(flow.get("nonce", "")))


def fetch_jwks(app: SignInApp) -> dict[str, Any]:
    url = f"https://{app.cloud.authority_host}/{app.entra_tenant_id}/discovery/v2.0/keys"
    with make_httpx_client(app.cloud) as client:
        try:
            response = client.get(url)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise token_errors.from_exception(exc) if isinstance(exc, httpx.TransportError) else ProviderError(
                ReasonCode.SSO_TOKEN_INVALID) from None
    return document if isinstance(document, dict) else {}


def validate_id_token(id_token: str, jwks: Mapping[str, Any], *, app: SignInApp, nonce: str) -> VerifiedIdentity:
    """The identity in ``id_token`` once every check passed; ProviderError with an sso.* code otherwise."""
    try:
        header = jwt.get_unverified_header(id_token)
        key = _signing_key(jwks, str(header.get("kid", "")))
        claims = jwt.decode(
            id_token, key=key, algorithms=["RS256"], audience=app.client_id, leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "iss", "aud"], "verify_iss": False})
    except jwt.ExpiredSignatureError:
        raise ProviderError(ReasonCode.SSO_TOKEN_EXPIRED) from None
    except jwt.InvalidAudienceError:
        raise ProviderError(ReasonCode.SSO_WRONG_AUDIENCE) from None
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        raise ProviderError(ReasonCode.SSO_TOKEN_INVALID) from None
    tid = str(claims.get("tid", "")).lower()
    if not claims.get("oid"):
        raise ProviderError(ReasonCode.SSO_TOKEN_INVALID)
    if tid != app.entra_tenant_id.lower():
        raise ProviderError(ReasonCode.SSO_WRONG_TENANT)
    if claims.get("iss") != f"https://{app.cloud.authority_host}/{tid}/v2.0":
        raise ProviderError(ReasonCode.SSO_TOKEN_INVALID)
    expected_nonce = hashlib.sha256(nonce.encode("ascii")).hexdigest()  # MSAL sends the nonce's hash
    if not nonce or not hmac.compare_digest(str(claims.get("nonce", "")).encode(), expected_nonce.encode()):
        raise ProviderError(ReasonCode.SSO_NONCE_MISMATCH)
    email = str(claims.get("email") or claims.get("preferred_username") or "").strip().lower()
    return VerifiedIdentity(oid=str(claims["oid"]).lower(), tid=tid, email=email, name=str(claims.get("name", "")))


def _signing_key(jwks: Mapping[str, Any], kid: str) -> Any:
    for entry in jwks.get("keys", []) or []:
        if isinstance(entry, dict) and entry.get("kid") == kid and entry.get("kty") == "RSA":
            return jwt.PyJWK(entry, algorithm="RS256").key
    raise ValueError("no such signing key")


def browser_url(cloud: CloudEndpoints, auth_uri: str) -> str:
    """Where the browser goes: the simulator cloud's fake https host is rewritten to the simulator's real URL."""
    if not cloud.is_simulator:
        return auth_uri
    target = urlsplit(get_settings().simulator_url)
    parts = urlsplit(auth_uri)
    return urlunsplit((target.scheme, target.netloc, parts.path, parts.query, ""))


def _build(app: SignInApp) -> tuple[Any, TokenHttpClient]:
    if isinstance(app.credential, CertificateCredential):
        credential: str | dict[str, str] = {"private_key": app.credential.private_key.reveal(),
                                            "public_certificate": app.credential.certificate_pem}
    else:
        credential = app.credential.reveal()
    http = TokenHttpClient(make_httpx_client(app.cloud))
    try:
        return msal.ConfidentialClientApplication(
            app.client_id, client_credential=credential, authority=app.cloud.authority_url(app.entra_tenant_id),
            http_client=http, instance_discovery=False), http
    except ValueError as exc:
        http.close()
        raise token_errors.from_constructor_value_error(exc, app.cloud) from None
    except BaseException:
        http.close()
        raise
