"""The web tier's outbound guard: HTTP from the web process may only reach loopback addresses.

The web tier reads PostgreSQL and enqueues jobs; everything that talks to Microsoft runs in workers.
Installing this at web start-up turns a mistake (a Graph call from a page or handler) into a loud
error instead of a silent request.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
import urllib.request
from typing import Any

import httpx


class OutboundBlocked(RuntimeError):
    """An HTTP request from the web process to a non-loopback host."""


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check(host: str) -> None:
    if not is_loopback(host):
        raise OutboundBlocked(f"the web process may not make HTTP requests to {host}")


_installed = False


def install_outbound_guard() -> None:
    """Patch httpx (sync and async) and urllib so non-loopback requests raise OutboundBlocked."""
    global _installed
    if _installed:
        return
    real_sync = httpx.HTTPTransport.handle_request
    real_async = httpx.AsyncHTTPTransport.handle_async_request
    real_urlopen = urllib.request.urlopen

    def guarded_sync(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        _check(request.url.host)
        return real_sync(self, request)

    async def guarded_async(self: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
        _check(request.url.host)
        return await real_async(self, request)

    def guarded_urlopen(url: Any, *args: Any, **kwargs: Any) -> Any:
        full = url.full_url if isinstance(url, urllib.request.Request) else str(url)
        _check(urllib.parse.urlsplit(full).hostname or "")
        return real_urlopen(url, *args, **kwargs)

    httpx.HTTPTransport.handle_request = guarded_sync  # type: ignore[method-assign]
    httpx.AsyncHTTPTransport.handle_async_request = guarded_async  # type: ignore[method-assign]
    urllib.request.urlopen = guarded_urlopen
    _installed = True
