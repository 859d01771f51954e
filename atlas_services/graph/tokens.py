"""App-only Graph tokens through MSAL, with every failure mapped to a catalogue reason code.

Nothing here puts a secret or token into a log line or an exception message: failures are described by Entra's
AADSTS number and correlation id only (atlas_services.graph.token_errors). A busy or failing sign-in service is
retried under MSAL (atlas_services.graph.token_http).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import msal
from msal.exceptions import MsalError

from atlas_services import ops_counts
from atlas_services.config import get_settings
from atlas_services.errors import ProviderError
from atlas_services.graph import token_errors
from atlas_services.graph.clouds import CloudEndpoints
from atlas_services.graph.http import make_httpx_client
from atlas_services.graph.token_http import SignInBusy, TokenHttpClient
from atlas_services.reasons import ReasonCode
from atlas_services.secrets import AppCredential, CertificateCredential

log = logging.getLogger("atlas.graph.tokens")

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


@dataclass(frozen=True)
class _CachedApp:
    app: Any  # msal.ConfidentialClientApplication
    http: TokenHttpClient  # what discovery said about the tenant, for the diagnosis of later refusals


_apps: OrderedDict[_Key, _CachedApp] = OrderedDict()
_apps_lock = threading.Lock()


def acquire_graph_token(cloud: CloudEndpoints, entra_tenant_id: str, client_id: str, secret: AppCredential, *,
                        stored: StoredCredential | None = None) -> str:
    """An app-only access token for ``cloud``'s Graph, from MSAL's cache when still valid.

    ``stored`` names the credential row the secret came from: its app is cached under that credential alone, so
    a token one credential obtained is never handed out for another, and ``forget_credentials`` drops it.

    Raises ProviderError with an ``auth.*`` code when Entra refuses, ``signin.throttled``, ``signin.unavailable``
    or ``signin.timeout`` when the sign-in service stays busy, failing or slow through the retries, and
    ``network.unreachable`` when it cannot be reached.
    """
    try:
        return _acquire(cloud, entra_tenant_id, client_id, secret, stored)
    except ProviderError as exc:
        ops_counts.count(ops_counts.TOKEN_FAILURES, exc.code)  # by reason code, for /metrics
        raise


def _acquire(cloud: CloudEndpoints, entra_tenant_id: str, client_id: str, secret: AppCredential,
             stored: StoredCredential | None) -> str:
    key = _Key(stored, _cache_key(cloud, entra_tenant_id, client_id, secret))
    cached = _cached_app(key)
    try:
        if cached is None:
            cached = _build_app(cloud, entra_tenant_id, client_id, secret)
            _remember(key, cached)
        result = cached.app.acquire_token_for_client(scopes=[cloud.graph_scope])
    except ProviderError:
        _forget(key)
        raise
    except (httpx.HTTPError, MsalError, ValueError, SignInBusy) as exc:
        _forget(key)
        raise token_errors.from_exception(exc) from None
    if not isinstance(result, dict) or "access_token" not in result:
        # Evicting the app drops MSAL's 60 s cache of HTTP 400s, so a fixed app registration is seen at once.
        _forget(key)
        raise token_errors.refusal(result if isinstance(result, dict) else {}, cloud=cloud, credential=secret,
                                   discovered=cached.http.discovered)
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
    cached = _cached_app(_Key(stored, _cache_key(cloud, entra_tenant_id, client_id, secret)))
    if cached is not None:
        cached.app.remove_tokens_for_client()
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


def _build_app(cloud: CloudEndpoints, entra_tenant_id: str, client_id: str, secret: AppCredential) -> _CachedApp:
    value = _msal_credential(secret)
    http = TokenHttpClient(make_httpx_client(cloud))
    try:
        app = msal.ConfidentialClientApplication(
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
        raise token_errors.from_constructor_value_error(exc, cloud) from None
    except BaseException:
        http.close()
        raise
    return _CachedApp(app, http)


def _cache_key(cloud: CloudEndpoints, entra_tenant_id: str, client_id: str, secret: AppCredential) -> tuple[str, ...]:
    material = secret.private_key if isinstance(secret, CertificateCredential) else secret
    fingerprint = hashlib.sha256(_FINGERPRINT_SALT + material.reveal().encode("utf-8")).hexdigest()
    # A simulator URL change (tests start their own) must not reuse tokens another simulator signed.
    where = get_settings().simulator_url if cloud.is_simulator else cloud.authority_host
    return (cloud.name, where, entra_tenant_id.lower(), client_id.lower(), fingerprint)


def _cached_app(key: _Key) -> _CachedApp | None:
    with _apps_lock:
        cached = _apps.get(key)
        if cached is not None:
            _apps.move_to_end(key)
        return cached


def _remember(key: _Key, cached: _CachedApp) -> None:
    with _apps_lock:
        _apps[key] = cached
        _apps.move_to_end(key)
        while len(_apps) > _MAX_APPS:
            # Not closed: another thread may still be mid-request with it; the GC reclaims its connections.
            _apps.popitem(last=False)


def _forget(key: _Key) -> None:
    with _apps_lock:
        _apps.pop(key, None)
