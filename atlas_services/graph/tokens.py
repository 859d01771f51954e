"""App-only Graph tokens through MSAL, with every failure mapped to a catalogue reason code.

Nothing here puts a secret or token into a log line or an exception message: failures are described by Entra's
AADSTS number and correlation id only.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import msal
from msal.exceptions import MsalError, MsalServiceError

from atlas_services.config import get_settings
from atlas_services.errors import ProviderError
from atlas_services.graph.clouds import CloudEndpoints
from atlas_services.graph.http import MsalHttpClient, make_httpx_client
from atlas_services.reasons import ReasonCode, reason
from atlas_services.secrets import AppCredential, CertificateCredential, SecretValue
from atlas_services.validation import GUID

log = logging.getLogger("atlas.graph.tokens")

# Entra numbers, not the `error` strings, because the same `invalid_client` covers wrong and expired secrets.
AADSTS_REASONS: dict[int, ReasonCode] = {
    7000215: ReasonCode.AUTH_INVALID_CLIENT_SECRET,
    7000222: ReasonCode.AUTH_CLIENT_SECRET_EXPIRED,
    700016: ReasonCode.AUTH_APP_NOT_FOUND,
    90002: ReasonCode.AUTH_TENANT_NOT_FOUND,
    700027: ReasonCode.AUTH_CERTIFICATE_NOT_REGISTERED,
}
PASTE_VALUE_REMEDIATION = (
    "The secret looks like a Secret ID (a GUID). In the app registration's Certificates & secrets page, copy the "
    "secret's Value, not its Secret ID, and paste the secret's Value here."
)
_MAX_APPS = 256
# Salted so the cache keys held in memory are not plain hashes of secrets.
_FINGERPRINT_SALT = os.urandom(16)


@dataclass(frozen=True)
class StoredCredential:
    """The credential row a secret came from: its cached app is kept under it, and evicted by it."""

    connection_id: uuid.UUID
    credential_id: uuid.UUID


@dataclass(frozen=True)
class _Key:
    owner: StoredCredential | None  # None: a secret checked once, never stored (``check_health``)
    material: tuple[str, ...]


_apps: OrderedDict[_Key, Any] = OrderedDict()
_apps_lock = threading.Lock()


def acquire_graph_token(cloud: CloudEndpoints, entra_tenant_id: str, client_id: str, secret: AppCredential, *,
                        stored: StoredCredential | None = None) -> str:
    """An app-only access token for ``cloud``'s Graph, from MSAL's cache when still valid.

    ``stored`` names the credential row the secret came from: its app is cached under that credential alone, so
    a token one credential obtained is never handed out for another, and ``forget_credentials`` drops it.

    Raises ProviderError with an ``auth.*``, ``network.unreachable``, ``graph.timeout`` or ``graph.unavailable``
    code.
    """
    key = _Key(stored, _cache_key(cloud, entra_tenant_id, client_id, secret))
    app = _cached_app(key)
    try:
        if app is None:
            app = _build_app(cloud, entra_tenant_id, client_id, secret)
            _remember(key, app)
        result = app.acquire_token_for_client(scopes=[cloud.graph_scope])
    except ProviderError:
        _forget(key)
        raise
    except (httpx.HTTPError, MsalError, ValueError) as exc:
        _forget(key)
        raise _from_exception(exc) from None
    if not isinstance(result, dict) or "access_token" not in result:
        # Evicting the app drops MSAL's 60 s cache of HTTP 400s, so a fixed app registration is seen at once.
        _forget(key)
        raise _from_error_result(result if isinstance(result, dict) else {}, secret)
    log.debug("graph token for client %s in tenant %s from %s", client_id, entra_tenant_id,
              result.get("token_source", "identity_provider"))
    return str(result["access_token"])


def refresh_graph_token(cloud: CloudEndpoints, entra_tenant_id: str, client_id: str, secret: AppCredential, *,
                        stored: StoredCredential | None = None) -> str:
    """A newly issued token, past MSAL's cache: for when Graph refused the cached one (expired or revoked early,
    or minted before an admin consent reached it). Later ``acquire_graph_token`` calls answer with the new token.

    MSAL 1.39 refuses ``force_refresh`` for app tokens, so the app's cached tokens are removed instead (a
    ``claims_challenge`` would bypass the cache too, but sends a claims parameter Entra has not asked for). Raises
    what ``acquire_graph_token`` raises.
    """
    app = _cached_app(_Key(stored, _cache_key(cloud, entra_tenant_id, client_id, secret)))
    if app is not None:
        app.remove_tokens_for_client()
    return acquire_graph_token(cloud, entra_tenant_id, client_id, secret, stored=stored)


def clear_token_cache() -> None:
    """Forget every MSAL app (and with it every cached token) in this process."""
    with _apps_lock:
        _apps.clear()


def forget_credentials(credential_ids: Iterable[uuid.UUID]) -> None:
    """Drop the apps (the secret they hold, the tokens they cached) of credentials that were retired or deleted."""
    gone = set(credential_ids)
    _forget_where(lambda owner: owner.credential_id in gone)


def forget_connection(connection_id: uuid.UUID, *, keep: uuid.UUID | None = None) -> None:
    """Drop the apps of a connection's credentials, all but ``keep``'s (its active one)."""
    _forget_where(lambda owner: owner.connection_id == connection_id and owner.credential_id != keep)


def cached_credentials() -> set[uuid.UUID]:
    """The stored credentials this process holds an app for."""
    with _apps_lock:
        return {key.owner.credential_id for key in _apps if key.owner is not None}


def _forget_where(matches: Callable[[StoredCredential], bool]) -> None:
    with _apps_lock:
        for key in [k for k in _apps if k.owner is not None and matches(k.owner)]:
            del _apps[key]


def _msal_credential(credential: AppCredential) -> str | dict[str, str]:
    if isinstance(credential, CertificateCredential):
        # With the public certificate MSAL signs PS256 and sends x5t#S256 (what Entra documents today).
        return {"private_key": credential.private_key.reveal(), "public_certificate": credential.certificate_pem}
    value = credential.reveal()
    if not value.strip():
        raise ProviderError(ReasonCode.AUTH_INVALID_CLIENT_SECRET, "The client secret is empty.")
    return value


def _build_app(cloud: CloudEndpoints, entra_tenant_id: str, client_id: str, secret: AppCredential) -> Any:
    value = _msal_credential(secret)
    http = MsalHttpClient(make_httpx_client(cloud))
    try:
        return msal.ConfidentialClientApplication(
            client_id,
            client_credential=value,
            authority=cloud.authority_url(entra_tenant_id),
            http_client=http,
            # Instance discovery only finds alias hosts for user accounts; for app-only tokens it is an extra
            # request to login.microsoftonline.com, and a non-2xx answer to it would replace Entra's error dict.
            instance_discovery=False,
        )
    except ValueError as exc:
        http.close()
        raise _from_constructor_value_error(exc) from None
    except BaseException:
        http.close()
        raise


def _cache_key(cloud: CloudEndpoints, entra_tenant_id: str, client_id: str, secret: AppCredential) -> tuple[str, ...]:
    material = secret.private_key if isinstance(secret, CertificateCredential) else secret
    fingerprint = hashlib.sha256(_FINGERPRINT_SALT + material.reveal().encode("utf-8")).hexdigest()
    # A simulator URL change (tests start their own) must not reuse tokens another simulator signed.
    where = get_settings().simulator_url if cloud.is_simulator else cloud.authority_host
    return (cloud.name, where, entra_tenant_id.lower(), client_id.lower(), fingerprint)


def _cached_app(key: _Key) -> Any:
    with _apps_lock:
        app = _apps.get(key)
        if app is not None:
            _apps.move_to_end(key)
        return app


def _remember(key: _Key, app: Any) -> None:
    with _apps_lock:
        _apps[key] = app
        _apps.move_to_end(key)
        while len(_apps) > _MAX_APPS:
            # Not closed: another thread may still be mid-request with it; the GC reclaims its connections.
            _apps.popitem(last=False)


def _forget(key: _Key) -> None:
    with _apps_lock:
        _apps.pop(key, None)


def _from_error_result(result: dict[str, Any], secret: AppCredential) -> ProviderError:
    codes = [c for c in result.get("error_codes") or [] if isinstance(c, int)]
    code = next((AADSTS_REASONS[c] for c in codes if c in AADSTS_REASONS), None)
    if code is None:
        code = {"invalid_tenant": ReasonCode.AUTH_TENANT_NOT_FOUND,
                "unauthorized_client": ReasonCode.AUTH_APP_NOT_FOUND}.get(
            str(result.get("error")), ReasonCode.AUTH_FAILED)
    aadsts = f"AADSTS{codes[0]}" if codes else str(result.get("error") or "no error code")
    correlation = result.get("correlation_id")
    reference = f"{aadsts}, correlation id {correlation}" if _safe_id(correlation) else aadsts
    detail = f"{reason(code).message} ({reference})"
    remediation = None
    if (code == ReasonCode.AUTH_INVALID_CLIENT_SECRET and isinstance(secret, SecretValue)
            and GUID.match(secret.reveal().strip())):
        remediation = PASTE_VALUE_REMEDIATION
    log.info("token request refused: %s", aadsts)
    return ProviderError(code, detail, remediation)


def _safe_id(value: object) -> bool:
    return isinstance(value, str) and GUID.match(value) is not None


def _from_constructor_value_error(exc: ValueError) -> ProviderError:
    # MSAL reports an OIDC discovery 4xx (Entra's answer for an unknown tenant) as a bare ValueError whose
    # __context__ carries the HTTP status; a 200 with an unreadable body also lands here.
    context = str(exc.__context__ or "")
    if re.search(r"HTTP status: 4\d\d", context):
        return ProviderError(ReasonCode.AUTH_TENANT_NOT_FOUND)
    if "should consist of an https url" in str(exc):
        return ProviderError(ReasonCode.AUTH_TENANT_NOT_FOUND, "The Entra tenant id is not a valid tenant reference.")
    return ProviderError(ReasonCode.AUTH_FAILED, "The sign-in service sent a configuration Atlas could not read.")


def _from_exception(exc: Exception) -> ProviderError:
    if isinstance(exc, httpx.TimeoutException):
        return ProviderError(ReasonCode.GRAPH_TIMEOUT, "The Microsoft sign-in service did not answer in time.")
    if isinstance(exc, httpx.TransportError):
        return ProviderError(ReasonCode.NETWORK_UNREACHABLE, "The Microsoft sign-in service could not be reached.")
    if isinstance(exc, MsalServiceError):
        # MSAL raises this for 5xx answers (its message is just "HTTP Error: 503").
        return ProviderError(ReasonCode.GRAPH_UNAVAILABLE, "The Microsoft sign-in service was unavailable.")
    if isinstance(exc, ValueError):
        return ProviderError(ReasonCode.AUTH_FAILED, "The sign-in service sent a response Atlas could not read.")
    log.warning("%s while acquiring a Graph token", type(exc).__name__)
    return ProviderError(ReasonCode.AUTH_FAILED)
