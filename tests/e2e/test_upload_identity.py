"""Issue 9, findings 3 and 7: ``POST /_upload`` acts only for the sender's own session, and only when that is
the tab's; bodies are bounded before Reflex parses them; two session cookies are refused everywhere.

Each attack posts the real upload a browser would send (the connection form: its fields ride with the upload)
against the running app, and then looks for the connection it would have created: none exists."""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from atlas_app.pages.connections import ConnectionsState
from atlas_services.authz import ROLE_CAPABILITIES, Capability
from atlas_services.db import get_engine
from atlas_services.models import Role
from tests.support.browser import open_signed_in_page
from tests.support.database import reset_and_seed_demo

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.e2e

CREATE = f"{ConnectionsState.get_full_name()}.create_connection"
DELETE = f"{ConnectionsState.get_full_name()}.delete_connection"


@dataclass
class Victim:
    base_url: str
    tab_token: str  # what travels in the websocket URL (and so in proxy logs)
    cookie: str  # the victim's session cookie, "name=value"
    other_cookie: str  # another signed-in user's session cookie
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # the demo users by role


@pytest.fixture(scope="module")
def victim(browser: Browser, web_app: str) -> Iterator[Victim]:
    demo = reset_and_seed_demo()
    users = {user["role"]: user for user in demo["users"]}
    page = open_signed_in_page(browser, web_app, users["owner"]["email"], users["owner"]["password"])
    other = open_signed_in_page(browser, web_app, users["manager"]["email"], users["manager"]["password"])
    expect(page.get_by_text(users["owner"]["email"]).first).to_be_visible()  # the socket carries the cookie
    token = page.evaluate("window.sessionStorage.getItem('token')")
    (cookie,) = [c for c in page.context.cookies() if c["name"].endswith("atlas_session")]
    (other_cookie,) = [c for c in other.context.cookies() if c["name"].endswith("atlas_session")]
    yield Victim(web_app, token, f"{cookie['name']}={cookie['value']}",
                 f"{other_cookie['name']}={other_cookie['value']}", users)
    page.context.close()
    other.context.close()


def _form(name: str) -> dict[str, Any]:
    return {"form_data": {"name": name, "cloud": "simulator", "entra_tenant_id": str(uuid.uuid4()),
                          "client_id": str(uuid.uuid4()), "credential_kind": "secret",
                          "client_secret": f"forged~{uuid.uuid4().hex}"}}


def _multipart(args: dict[str, Any], extra_parts: int = 0, padding: int = 0) -> tuple[bytes, str]:
    boundary = f"atlas{uuid.uuid4().hex}"
    parts = [("__reflex_event_args", json.dumps(args))]
    parts += [(f"extra{index}", "x") for index in range(extra_parts)]
    if padding:
        parts.append(("padding", "p" * padding))
    body = "".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                   for name, value in parts) + f"--{boundary}--\r\n"
    return body.encode(), f"multipart/form-data; boundary={boundary}"


def _upload(victim: Victim, name: str, *, cookie: str | None, token: str | None = None, handler: str = CREATE,
            origin: str | None = "", extra_parts: int = 0, padding: int = 0) -> tuple[int, str]:
    body, content_type = _multipart(_form(name), extra_parts, padding)
    parts = urlsplit(victim.base_url)
    headers = {"Content-Type": content_type, "reflex-client-token": token or victim.tab_token,
               "reflex-event-handler": handler}
    if origin is not None:
        headers["Origin"] = origin or victim.base_url
    if cookie:
        headers["Cookie"] = cookie
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("POST", "/_upload", body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    except (ConnectionResetError, BrokenPipeError):  # refused while the body was still being sent
        return 413, ""
    finally:
        conn.close()


def _created(name: str) -> bool:
    with get_engine().connect() as conn:
        return conn.execute(text("SELECT count(*) FROM provider_connections WHERE display_name = :n"),
                            {"n": name}).scalar_one() > 0


def _name() -> str:
    return f"forged-{uuid.uuid4().hex[:8]}"


def test_the_real_upload_works_for_the_tabs_own_user(victim: Victim) -> None:
    name = _name()
    status, _ = _upload(victim, name, cookie=victim.cookie)
    assert status == 200 and _created(name)  # so the refusals below are refusals, not a broken request


def test_a_stolen_tab_token_without_the_cookie_creates_nothing(victim: Victim) -> None:
    name = _name()
    status, _ = _upload(victim, name, cookie=None)
    assert status == 403 and not _created(name)


def test_a_stolen_tab_token_with_another_users_cookie_creates_nothing(victim: Victim) -> None:
    name = _name()
    status, answer = _upload(victim, name, cookie=victim.other_cookie)
    assert status == 403 and "someone else" in answer and not _created(name)


def test_a_forged_tab_token_creates_nothing(victim: Victim) -> None:
    name = _name()
    status, _ = _upload(victim, name, cookie=victim.cookie, token=str(uuid.uuid4()))
    assert status == 403 and not _created(name)


@pytest.mark.parametrize("handler", [DELETE, "state.setvar", "", f"{CREATE}x"])
def test_a_forged_event_handler_header_is_refused(victim: Victim, handler: str) -> None:
    name = _name()
    status, _ = _upload(victim, name, cookie=victim.cookie, handler=handler)
    assert status == 400 and not _created(name)


@pytest.mark.parametrize("origin", [None, "http://evil.test", "null"])
def test_an_upload_without_this_sites_origin_is_refused(victim: Victim, origin: str | None) -> None:
    name = _name()
    status, _ = _upload(victim, name, cookie=victim.cookie, origin=origin)
    assert status == 403 and not _created(name)


def test_an_oversized_upload_is_refused_before_it_is_parsed(victim: Victim) -> None:
    name = _name()
    status, _ = _upload(victim, name, cookie=victim.cookie, padding=4 * 1024 * 1024)
    assert status == 413 and not _created(name)


def test_an_upload_of_many_parts_is_refused(victim: Victim) -> None:
    name = _name()
    status, _ = _upload(victim, name, cookie=victim.cookie, extra_parts=500)
    assert status == 413 and not _created(name)


def test_two_session_cookies_are_refused_on_every_route(victim: Victim) -> None:
    name = _name()
    both = f"{victim.cookie}; {victim.other_cookie}"
    status, answer = _upload(victim, name, cookie=both)
    assert status == 400 and "more than one" in answer and not _created(name)

    parts = urlsplit(victim.base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("POST", "/auth/logout", headers={"Origin": victim.base_url, "Cookie": both})
        assert conn.getresponse().status == 400
    finally:
        conn.close()
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET /_event/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {parts.netloc}\r\n"
               f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               f"Sec-WebSocket-Version: 13\r\nOrigin: {victim.base_url}\r\nCookie: {both}\r\n\r\n")
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request.encode())
        assert sock.recv(4096).split(b"\r\n", 1)[0].split()[1] == b"403"


@pytest.mark.parametrize("role", ["owner", "manager", "operator", "readonly"])
def test_the_upload_route_follows_the_role_table(browser: Browser, web_app: str, victim: Victim, role: str) -> None:
    """The upload route in the handler × role matrix: each role through its own tab and cookie."""
    user = victim.users[role]
    page = open_signed_in_page(browser, web_app, user["email"], user["password"])
    try:
        # The tab's socket has carried the new cookie once the header shows who is signed in.
        expect(page.get_by_text(user["email"]).first).to_be_visible()
        (cookie,) = [c for c in page.context.cookies() if c["name"].endswith("atlas_session")]
        own = Victim(web_app, page.evaluate("window.sessionStorage.getItem('token')"),
                     f"{cookie['name']}={cookie['value']}", victim.other_cookie)
        name = _name()
        status, _ = _upload(own, name, cookie=own.cookie)
        assert status == 200  # the gate lets the tab's own user through; the guard decides
        assert _created(name) == (Capability.PROVIDER_MANAGE in ROLE_CAPABILITIES[Role(role)])
    finally:
        page.context.close()

