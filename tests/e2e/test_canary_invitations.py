"""The canary sweep's browser half for invitations: unique passwords typed into the invite form (for a new
account and for an existing one) and into the accept form (a wrong one, then the right one), and then no
encoding of any of them in a websocket frame, the pages' HTML, the web output, a full pg_dump or Redis."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import WEB_LOGS, open_signed_in_page
from tests.support.canary import encodings, pg_dump_text, redis_text
from tests.support.database import reset_and_seed_demo
from tests.support.factories import PASSWORD, make_actor

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.e2e

CANARIES = {name: f"CANARY~{uuid.uuid4().hex}" for name in ("new", "existing", "wrong")}
NEEDLES = {f"{name}/{kind}": value for name, canary in CANARIES.items() for kind, value in encodings(canary).items()}


def _hits(haystack: str, where: str) -> list[str]:
    return [f"{where}: {name}" for name, needle in NEEDLES.items() if needle in haystack]


def _observed(page: Page, frames: list[str]) -> None:
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))))
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: frames.append(str(payload))))


def _invite(page: Page, email: str, password: str) -> None:
    page.goto("/members")
    page.get_by_test_id("invite-email").fill(email)
    page.get_by_test_id("invite-password").fill(password)
    page.get_by_test_id("invite-submit").click()
    expect(page.locator(f'[data-testid="invitation-row"][data-email="{email}"]')).to_have_count(1)


def test_invitation_passwords_typed_into_the_ui_reach_neither_the_browser_nor_any_store(
        simulator: Any, browser: Browser, web_app: str) -> None:
    demo = reset_and_seed_demo()
    owner = next(user for user in demo["users"] if user["role"] == "owner")
    existing = make_actor("owner")  # someone with an account in another tenant
    frames: list[str] = []
    html: list[str] = []
    page = open_signed_in_page(browser, web_app, owner["email"], owner["password"])
    _observed(page, frames)
    new_email = f"canary-{uuid.uuid4().hex[:6]}@example.test"
    _invite(page, new_email, CANARIES["new"])
    _invite(page, existing.email, CANARIES["existing"])
    html.append(page.content())
    page.context.close()

    newcomer = open_signed_in_page(browser, web_app, new_email, CANARIES["new"])  # accepted by this sign-in
    expect(newcomer.get_by_test_id("user-email")).to_have_text(new_email)
    newcomer.context.close()

    invitee = open_signed_in_page(browser, web_app, existing.email, PASSWORD)
    _observed(invitee, frames)
    invitee.get_by_test_id("nav-invitations").click()
    for canary, outcome in (("wrong", "not the invitation's password"), ("existing", "Invitation accepted")):
        invitee.get_by_test_id("accept-password").fill(CANARIES[canary])
        invitee.get_by_test_id("accept-invitation").click()
        expect(invitee.get_by_test_id("notice")).to_contain_text(outcome)
        html.append(invitee.content())
    expect(invitee.get_by_test_id("no-invitations")).to_be_visible()
    invitee.context.close()

    assert len(frames) > 5 and any(new_email in frame for frame in frames)  # the frames were captured
    web_output = "\n".join(path.read_text(errors="replace") for path in WEB_LOGS if path.exists())
    found = (_hits("\n".join(frames), "websocket frames") + _hits("\n".join(html), "page HTML")
             + _hits(web_output, "web output") + _hits(pg_dump_text(), "pg_dump") + _hits(redis_text(), "redis"))
    assert found == []
