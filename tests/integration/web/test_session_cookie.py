"""Issue 9, finding 7: the session cookie under a TLS proxy (``ATLAS_PUBLIC_URL``), one session cookie per
request, and sign-in posts that name no origin."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from atlas_app.auth_routes import build_auth_api
from atlas_app.cookie_shield import HOST_SESSION_COOKIE, SESSION_HASH_COOKIE, CookieShield
from atlas_services import sessions
from atlas_services.config import get_settings
from tests.support.aio import run_coroutine
from tests.support.factories import PASSWORD, make_actor

ORIGIN = "http://testserver"


@pytest.fixture
def public_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    def set_url(url: str) -> None:
        monkeypatch.setenv("ATLAS_PUBLIC_URL", url)
        get_settings.cache_clear()

    yield set_url
    monkeypatch.delenv("ATLAS_PUBLIC_URL", raising=False)
    get_settings.cache_clear()


def _sign_in(email: str, **headers: str) -> Any:
    client = TestClient(build_auth_api(), follow_redirects=False)
    return client.post("/auth/login", data={"email": email, "password": PASSWORD}, headers=headers)


def test_behind_a_tls_proxy_the_session_cookie_is_host_prefixed_and_secure(db: None, public_url: Any) -> None:
    public_url("https://atlas.example.test")
    response = _sign_in(make_actor("owner").email, Origin=ORIGIN)
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{HOST_SESSION_COOKIE}=")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "path"} <= attributes and "domain" not in attributes
    assert "Path=/" in cookie


def test_without_a_public_url_the_cookie_is_secure_only_over_https(db: None, public_url: Any) -> None:
    public_url("")
    cookie = _sign_in(make_actor("owner").email, Origin=ORIGIN).headers["set-cookie"]
    assert cookie.startswith(f"{sessions.SESSION_COOKIE}=") and "secure" not in cookie.lower()


def test_a_sign_in_post_that_names_no_origin_is_refused(db: None) -> None:
    response = _sign_in(make_actor("owner").email)
    assert response.status_code == 403 and "set-cookie" not in response.headers


def _through_shield(scope_type: str, cookies: list[str], path: str = "/_event/") -> tuple[list[Any], Any]:
    seen: list[Any] = []
    sent: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope)

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    scope = {"type": scope_type, "path": path, "headers": [(b"cookie", value.encode()) for value in cookies]}
    run_coroutine(CookieShield(app)(scope, receive, send))
    return sent, seen[0] if seen else None


@pytest.mark.parametrize("cookies", [
    ["atlas_session=one; atlas_session=two"],
    ["atlas_session=one", "atlas_session=two"],
    [f"atlas_session=one; {HOST_SESSION_COOKIE}=two"],
])
def test_two_session_cookies_are_refused_on_http_and_the_websocket(cookies: list[str]) -> None:
    sent, reached = _through_shield("http", cookies, "/auth/logout")
    assert reached is None and sent[0]["status"] == 400 and b"more than one" in sent[1]["body"]
    sent, reached = _through_shield("websocket", cookies)
    assert reached is None and sent == [{"type": "websocket.close", "code": 1008}]


def test_under_https_only_the_host_prefixed_cookie_is_read(public_url: Any) -> None:
    public_url("https://atlas.example.test")
    _, reached = _through_shield("websocket", ["atlas_session=planted-by-a-sibling-host"])
    assert reached["headers"] == []
    _, reached = _through_shield("websocket", [f"{HOST_SESSION_COOKIE}=ours; other=x"])
    assert reached["headers"] == [(b"cookie", f"{SESSION_HASH_COOKIE}={sessions.token_digest('ours')}".encode())]
