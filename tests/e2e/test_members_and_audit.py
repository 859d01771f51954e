"""In a real browser: the owner invites a member, the member's first sign-in accepts the invitation (and they
see only what their role may use),
the owner removes them, and the member's open page loses access without anyone touching it; the audit
log shows all of it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import open_signed_in_page
from tests.support.database import reset_and_seed_demo

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.e2e

LOGIN_URL = re.compile(r".*/login/?(\?.*)?$")
# The page's heartbeat re-reads the session every 10 s: access ends well inside 30 s.
REVOCATION_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def demo(simulator: Any) -> dict[str, Any]:
    return reset_and_seed_demo()


@pytest.fixture(scope="module")
def owner_page(demo: dict[str, Any], browser: Browser, web_app: str) -> Iterator[Page]:
    owner = next(user for user in demo["users"] if user["role"] == "owner")
    page = open_signed_in_page(browser, web_app, owner["email"], owner["password"])
    yield page
    page.context.close()


def test_a_removed_member_loses_their_open_page_and_the_audit_log_shows_it(
    owner_page: Page, browser: Browser, web_app: str
) -> None:
    page = owner_page
    email, password = f"new-{uuid.uuid4().hex[:8]}@example.test", "a long initial password"

    page.get_by_test_id("nav-members").click()
    page.get_by_test_id("invite-email").fill(email)
    page.get_by_test_id("invite-password").fill(password)
    page.get_by_test_id("invite-submit").click()
    pending_row = page.locator(f'[data-testid="invitation-row"][data-email="{email}"]')
    expect(pending_row).to_have_attribute("data-role", "readonly")
    expect(page.get_by_test_id("notice")).to_contain_text("Invitation created")
    expect(page.get_by_test_id("invite-password")).to_have_value("")
    member_row = page.locator(f'[data-testid="member-row"][data-email="{email}"]')
    expect(member_row).to_have_count(0)  # pending: nothing granted yet

    member = open_signed_in_page(browser, web_app, email, password)  # the first sign-in accepts
    try:
        page.goto("/members")
        expect(member_row).to_have_attribute("data-role", "readonly")
        expect(pending_row).to_have_count(0)
        expect(member.get_by_test_id("user-email")).to_have_text(email)
        expect(member.get_by_test_id("nav-connections")).to_be_visible()
        expect(member.get_by_test_id("nav-audit")).to_be_visible()  # readonly holds audit.view
        expect(member.get_by_test_id("nav-members")).to_have_count(0)
        member.evaluate("window.__atlasNoReload = true")

        page.locator(f'[data-testid="remove-member"][data-email="{email}"]').click()
        page.get_by_test_id("confirm-remove").click()
        expect(member_row).to_have_count(0)

        # Nobody touches the member's page: its heartbeat finds the session gone and leaves.
        member.wait_for_url(LOGIN_URL, timeout=REVOCATION_TIMEOUT_MS)
        assert member.evaluate("window.__atlasNoReload === true"), "the page was reloaded, not sent away by the app"
        member.goto("/members")
        member.wait_for_url(LOGIN_URL)
    finally:
        member.context.close()

    page.get_by_test_id("nav-audit").click()
    rows = page.get_by_test_id("audit-row")
    expect(rows.first).to_have_attribute("data-action", "member.remove")
    actions = [row.get_attribute("data-action") for row in rows.all()]
    assert {"member.invite", "member.accept", "member.remove", "connection.create"} <= set(actions)
    expect(page.locator('[data-testid="audit-row"][data-action="member.invite"]')).to_contain_text(email)
    expect(page.get_by_test_id("audit-older")).to_be_disabled()  # one page of events so far
