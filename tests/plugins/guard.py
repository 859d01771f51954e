"""The outbound guard: every test fails on an HTTP request to anything but loopback.

It also records every request (loopback included) so a test can prove that code made none at all.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.outbound_guard import OutboundLog


@pytest.fixture(autouse=True)
def outbound(monkeypatch: pytest.MonkeyPatch) -> Iterator[OutboundLog]:
    log = OutboundLog()
    real_sync = httpx.HTTPTransport.handle_request
    real_async = httpx.AsyncHTTPTransport.handle_async_request
    real_urlopen = urllib.request.urlopen

    def sync(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        log.check(request.method, str(request.url), request.url.host)
        return real_sync(self, request)

    async def asynchronous(self: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
        log.check(request.method, str(request.url), request.url.host)
        return await real_async(self, request)

    def urlopen(url: Any, *args: Any, **kwargs: Any) -> Any:
        full = url.full_url if isinstance(url, urllib.request.Request) else str(url)
        log.check("URLOPEN", full, urllib.parse.urlsplit(full).hostname or "")
        return real_urlopen(url, *args, **kwargs)

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", sync)
    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", asynchronous)
    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    yield log
    assert not log.refused, f"the test tried to reach non-loopback hosts: {log.refused}"
