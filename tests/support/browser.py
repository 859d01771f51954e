"""Browser helpers shared by the web plugin and the browser tests: signing in, and where web apps log."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

PAGE_TIMEOUT_MS = 20_000
HOME_URL = re.compile(r".*/connections/?$")
# Where each web app of this test process writes its output (the canary sweep reads them).
WEB_LOGS: list[Path] = []


def open_signed_in_page(browser: Browser, base_url: str, email: str, password: str) -> Page:
    """A new context (its own cookies) signed in through the real login form, on /connections.

    For pages shared by the tests of a module; close it with ``page.context.close()``.
    """
    context = browser.new_context(base_url=base_url)
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    page = context.new_page()
    page.goto("/login")
    page.get_by_test_id("login-email").fill(email)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(HOME_URL)
    return page
