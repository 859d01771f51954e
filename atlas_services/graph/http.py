"""The one place Atlas builds HTTP clients for Microsoft: real clouds go out as-is, the simulator cloud is routed
to the local simulator, and MSAL gets an adapter that speaks its minimal http_client contract."""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from atlas_services.config import get_settings
from atlas_services.graph.clouds import SIMULATOR_HOSTS, CloudEndpoints

USER_AGENT = "Atlas/0.1"


class SimulatorRoutingTransport(httpx.BaseTransport):
    """Send requests for the simulator's fake https hosts to the simulator's real base URL.

    It wraps an ``httpx.HTTPTransport`` (instead of subclassing it) so anything that patches HTTPTransport, such as
    the test harness's outbound guard, sees the rewritten loopback target. Any other host is refused: the simulator
    cloud must never reach a real Microsoft endpoint.
    """

    def __init__(self, simulator_url: str, inner: httpx.BaseTransport | None = None,
                 hosts: frozenset[str] = SIMULATOR_HOSTS) -> None:
        self._target = httpx.URL(simulator_url)
        self._inner = inner or httpx.HTTPTransport()
        self._hosts = hosts

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host not in self._hosts:
            raise httpx.ConnectError(f"the simulator cloud does not route to {request.url.host}", request=request)
        prefix = self._target.path.rstrip("/")
        # The Host header keeps the fake name, like a reverse proxy would; only the connection target changes.
        request.url = request.url.copy_with(scheme=self._target.scheme, host=self._target.host,
                                            port=self._target.port, path=prefix + request.url.path)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def make_httpx_client(cloud: CloudEndpoints, *, simulator_url: str | None = None,
                      timeout: float | None = None) -> httpx.Client:
    """An httpx client for ``cloud``; the caller owns it and must close it."""
    settings = get_settings()
    options: dict[str, Any] = {
        "timeout": httpx.Timeout(timeout if timeout is not None else settings.http_timeout_seconds),
        "follow_redirects": False,
        "headers": {"User-Agent": USER_AGENT},
    }
    if cloud.is_simulator:
        return httpx.Client(transport=SimulatorRoutingTransport(simulator_url or settings.simulator_url), **options)
    # No explicit transport: keeps httpx's environment proxy support for real clouds.
    return httpx.Client(**options)


def _clean(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Drop None values (MSAL passes some optional headers as None) and decode bytes.

    MSAL hands a certificate's ``client_assertion`` over as bytes; httpx would send it as the text "b'eyJ...'",
    which Entra rejects, so bytes become str here.
    """
    if values is None:
        return None
    return {k: v.decode("utf-8") if isinstance(v, bytes) else v for k, v in values.items() if v is not None}


class MsalHttpClient:
    """MSAL's ``http_client`` contract (``post``/``get`` returning status_code, text and headers) over httpx.

    MSAL ignores ``timeout``/``verify``/``proxies`` once a custom client is given: the httpx client carries them.
    """

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def post(self, url: str, params: Mapping[str, Any] | None = None, data: Any = None,
             headers: Mapping[str, Any] | None = None, **_: Any) -> httpx.Response:
        if isinstance(data, (str, bytes)):
            return self._client.post(url, params=_clean(params), content=data, headers=_clean(headers))
        return self._client.post(url, params=_clean(params), data=_clean(data), headers=_clean(headers))

    def get(self, url: str, params: Mapping[str, Any] | None = None, headers: Mapping[str, Any] | None = None,
            **_: Any) -> httpx.Response:
        return self._client.get(url, params=_clean(params), headers=_clean(headers))

    def close(self) -> None:
        self._client.close()


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """Retry-After as seconds from ``now``: delta-seconds or an HTTP date (RFC 9110 §10.2.3); None if absent or
    unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN is unreadable
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
