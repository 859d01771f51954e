"""In a real browser: the sign-in flow, the HttpOnly session cookie, sign-out, and role-based controls."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e

LOGIN_URL = re.compile(r".*/login/?(\?.*)?$")


def _user(seed: dict[str, Any], role: str) -> dict[str, Any]:
    return next(user for user in seed["users"] if user["role"] == role)


def test_signed_out_visitor_is_sent_to_login(seed_demo: dict[str, Any], browser_page: Page) -> None:
    browser_page.goto("/connections")
    browser_page.wait_for_url(LOGIN_URL)
    expect(browser_page.get_by_test_id("login-submit")).to_be_visible()
    expect(browser_page.get_by_test_id("connection-row")).to_have_count(0)


def test_wrong_password_shows_a_generic_message(seed_demo: dict[str, Any], browser_page: Page) -> None:
    owner = _user(seed_demo, "owner")
    browser_page.goto("/login")
    browser_page.get_by_test_id("login-email").fill(owner["email"])
    browser_page.get_by_test_id("login-password").fill(owner["password"] + "-wrong")
    browser_page.get_by_test_id("login-submit").click()
    expect(browser_page.get_by_test_id("login-error")).to_have_text("Wrong email or password.")
    assert not browser_page.context.cookies()


def test_session_cookie_is_http_only_and_sign_out_ends_it(
    seed_demo: dict[str, Any], signed_in_page: Callable[[str], Page]
) -> None:
    page = signed_in_page("owner")
    expect(page.get_by_test_id("tenant-name")).to_contain_text(seed_demo["tenants"][0]["name"])
    (cookie,) = page.context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie").find(cookie["name"]) == -1

    page.get_by_test_id("logout").click()
    page.wait_for_url(LOGIN_URL)
    assert not page.context.cookies()
    # The old token no longer opens anything, even when replayed.
    page.context.add_cookies([{**cookie}])
    page.goto("/connections")
    page.wait_for_url(LOGIN_URL)


def test_readonly_user_sees_connections_but_cannot_check_or_create(
    seed_demo: dict[str, Any], signed_in_page: Callable[[str], Page]
) -> None:
    page = signed_in_page("readonly")
    expect(page.get_by_test_id("connection-row")).to_have_count(len(seed_demo["connections"]))
    for button in page.get_by_test_id("check-connection").all():
        expect(button).to_be_disabled()
    expect(page.get_by_test_id("create-connection")).to_have_count(0)
