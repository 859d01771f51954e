"""The alert webhook sender: the one outbound HTTP that is not Microsoft, kept in the graph package because
it is "the outside" (DESIGN §3: only this package imports httpx; the web tier can reach none of it).

SSRF guard: the host must be on the allow-list; every address it resolves to must be public unless the
operator listed it as ``private:HOST``; the connection goes to the address checked (the IP is pinned: no DNS
rebinding between check and connect; TLS still verifies the certificate for the host name); no redirect is
followed; proxies from the environment are ignored.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from typing import Any

import httpx

from atlas_services.alerts.targets import AllowList, Target, is_public, parse_target
from atlas_services.errors import InvalidInput
from atlas_services.graph.http import USER_AGENT
from atlas_services.reasons import ReasonCode

Resolver = Callable[[str, int], list[str]]

# httpx logs every request's full URL at INFO (and httpcore the headers at DEBUG); a webhook URL embeds its
# token, so their records are dropped while this thread sends a webhook (other threads' Graph logs stay).
_sending = threading.local()


class _DropWhileSending(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_sending, "active", False)


# Filters apply where a record is made: every logger httpx and httpcore write to is listed.
for _name in ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy"):
    logging.getLogger(_name).addFilter(_DropWhileSending())


class WebhookFailed(Exception):
    """A send that did not land; ``retryable`` says whether trying later may help. Never holds the URL."""

    def __init__(self, code: ReasonCode, retryable: bool) -> None:
        super().__init__(code.value)
        self.code, self.retryable = code, retryable


def resolve(host: str, port: int) -> list[str]:
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})


def pinned_address(target: Target, allow: AllowList, resolver: Resolver = resolve) -> str:
    """The address to connect to: every resolved one must pass, or the send is refused."""
    try:
        addresses = resolver(target.host, target.port)
    except OSError:
        raise WebhookFailed(ReasonCode.ALERT_UNREACHABLE, retryable=True) from None
    if not addresses:
        raise WebhookFailed(ReasonCode.ALERT_UNREACHABLE, retryable=True)
    if not allow.allows_private(target.host) and not all(is_public(a) for a in addresses):
        raise WebhookFailed(ReasonCode.ALERT_TARGET_REFUSED, retryable=False)
    return addresses[0]


def post_json(url: str, payload: dict[str, Any], allow: AllowList, *, timeout: float = 10.0,
              resolver: Resolver = resolve) -> int:
    """POST ``payload`` to the webhook; the HTTP status on 2xx, WebhookFailed otherwise."""
    try:
        target = parse_target(url, allow)
    except InvalidInput:
        raise WebhookFailed(ReasonCode.ALERT_TARGET_REFUSED, retryable=False) from None
    address = pinned_address(target, allow, resolver)
    ip_host = f"[{address}]" if ":" in address else address
    pinned = httpx.URL(f"{target.scheme}://{ip_host}:{target.port}{target.path}")
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
    _sending.active = True
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            request = client.build_request("POST", pinned, json=payload,
                                           headers={"Host": host_header, "User-Agent": USER_AGENT},
                                           extensions={"sni_hostname": target.host})
            response = client.send(request)
    except httpx.TimeoutException:
        raise WebhookFailed(ReasonCode.ALERT_UNREACHABLE, retryable=True) from None
    except httpx.HTTPError:
        raise WebhookFailed(ReasonCode.ALERT_UNREACHABLE, retryable=True) from None
    finally:
        _sending.active = False
    status = response.status_code
    if 200 <= status < 300:
        return status
    if 300 <= status < 400:
        raise WebhookFailed(ReasonCode.ALERT_REDIRECT_REFUSED, retryable=False)
    if status == 429 or status >= 500:
        raise WebhookFailed(ReasonCode.ALERT_UNREACHABLE, retryable=True)
    raise WebhookFailed(ReasonCode.ALERT_REJECTED, retryable=False)
