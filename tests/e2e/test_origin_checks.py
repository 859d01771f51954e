"""The web app answers only its own origin: the event websocket and the sign-in form refuse other sites."""

from __future__ import annotations

import base64
import os
import socket
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.e2e


def _upgrade_status(base_url: str, origin: str) -> int:
    """Status of a websocket handshake on Reflex's event endpoint sent with ``origin``."""
    parts = urlsplit(base_url)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET /_event/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {parts.netloc}\r\n"
               f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               f"Sec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n\r\n")
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request.encode())
        status_line = sock.recv(4096).split(b"\r\n", 1)[0].decode()
    return int(status_line.split()[1])


def _login_status(base_url: str, origin: str) -> int:
    import http.client

    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("POST", "/auth/login", body="email=a%40b.test&password=whatever",
                     headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": origin})
        return conn.getresponse().status
    finally:
        conn.close()


def test_the_event_websocket_accepts_only_the_apps_own_origin(web_app: str) -> None:
    assert _upgrade_status(web_app, web_app) == 101
    assert _upgrade_status(web_app, "http://evil.test") == 403


def test_sign_in_posts_from_another_site_are_refused(web_app: str, db: None) -> None:
    assert _login_status(web_app, "http://evil.test") == 403
    assert _login_status(web_app, web_app) == 303  # a wrong password, redirected back with a message
