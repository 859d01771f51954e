"""The sign-in route's client address: behind a trusted proxy each client is throttled on its own, and a forged
X-Forwarded-For from anyone else changes nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from atlas_app.auth_routes import build_auth_api
from atlas_services import sign_in_throttle
from atlas_services.config import get_settings
from tests.support.factories import make_actor

PASSWORD = "correct horse battery"  # what make_actor gives every user


@pytest.fixture
def proxies(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ATLAS_TRUSTED_PROXIES", "10.0.0.0/8")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def _sign_in(peer: str, email: str, password: str, forwarded_for: str | None = None) -> str:
    headers = {"origin": "http://testserver"}  # the route refuses posts that name no origin
    if forwarded_for:
        headers["x-forwarded-for"] = forwarded_for
    with TestClient(build_auth_api(), client=(peer, 40000), follow_redirects=False) as client:
        response = client.post("/auth/login", data={"email": email, "password": password}, headers=headers)
    assert response.status_code == 303
    return response.headers["location"]


def test_behind_a_trusted_proxy_one_clients_wrong_passwords_do_not_lock_out_everyone(db: None, proxies: None) -> None:
    owner = make_actor("owner")
    for index in range(sign_in_throttle.MAX_FAILURES_PER_CLIENT):
        assert _sign_in("10.0.0.2", f"probe{index}@example.test", "wrong", "198.51.100.7") == "/login?error=1"
    assert _sign_in("10.0.0.2", owner.email, PASSWORD, "198.51.100.7") == "/login?error=3"
    assert _sign_in("10.0.0.2", owner.email, PASSWORD, "203.0.113.9") == "/connections"


def test_a_forged_forwarded_for_does_not_dodge_the_client_throttle(db: None, proxies: None) -> None:
    owner = make_actor("owner")
    for index in range(sign_in_throttle.MAX_FAILURES_PER_CLIENT):
        assert _sign_in("198.51.100.50", f"probe{index}@example.test", "wrong",
                        f"203.0.113.{index}") == "/login?error=1"
    assert _sign_in("198.51.100.50", owner.email, PASSWORD, "203.0.113.200") == "/login?error=3"
