"""The web process's outbound guard refuses non-loopback HTTP and lets loopback through."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import httpx
import pytest

from atlas_services import netguard
from tests.support.aio import run_coroutine


@pytest.fixture
def guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # monkeypatch restores the real functions after the test, whatever the guard replaced.
    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", httpx.HTTPTransport.handle_request)
    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request",
                        httpx.AsyncHTTPTransport.handle_async_request)
    monkeypatch.setattr(urllib.request, "urlopen", urllib.request.urlopen)
    monkeypatch.setattr(netguard, "_installed", False)
    netguard.install_outbound_guard()
    yield


@pytest.mark.parametrize("url", ["https://graph.microsoft.com/v1.0/organization",
                                 "https://login.microsoftonline.com/x/oauth2/v2.0/token", "http://10.0.0.1/",
                                 "http://example.invalid/"])
def test_non_loopback_requests_are_blocked(guard: None, url: str) -> None:
    with pytest.raises(netguard.OutboundBlocked):
        httpx.get(url)
    with pytest.raises(netguard.OutboundBlocked):
        urllib.request.urlopen(url)


def test_async_requests_are_blocked_too(guard: None) -> None:
    async def fetch() -> None:
        async with httpx.AsyncClient() as client:
            await client.get("https://graph.microsoft.com/v1.0/organization")

    with pytest.raises(netguard.OutboundBlocked):
        run_coroutine(fetch())


def test_loopback_is_allowed(guard: None) -> None:
    # Nothing listens on port 1: reaching the connect step (ConnectError) proves the guard let it through.
    with pytest.raises(httpx.ConnectError):
        httpx.get("http://127.0.0.1:1/")
    assert netguard.is_loopback("::1") and netguard.is_loopback("localhost")
    assert not netguard.is_loopback("127.example.com")
