"""Issue 9, finding 6: after sign-out, the next user of the same browser tab gets nothing of the previous one.

Reflex keys a tab's state by a token kept in the tab's sessionStorage, which survives signing out. A signs in
(tenant X), opens every page, signs out; B signs in (tenant Y) in the same tab. No websocket frame the server
sends from the sign-out on may hold any of X's names, emails or ids."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from atlas_services import sessions
from atlas_services.db import get_engine
from tests.support.browser import HOME_URL, open_signed_in_page
from tests.support.database import reset_and_seed_demo
from tests.support.factories import PASSWORD, make_actor, random_suffix
from tests.support.web_world import new_run

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.e2e


def _tenant_x_needles(tenant_id: str) -> dict[str, str]:
    """Every name, email and id of tenant X a page could show."""
    queries = {
        "tenant": "SELECT id::text, name FROM tenants WHERE id = :t",
        "member": "SELECT u.id::text, u.email FROM users u JOIN memberships m ON m.user_id = u.id "
                  "WHERE m.tenant_id = :t",
        "connection": "SELECT id::text, display_name FROM provider_connections WHERE tenant_id = :t",
        "run": "SELECT id::text, op_type FROM operation_runs WHERE tenant_id = :t",
    }
    needles: dict[str, str] = {}
    with get_engine().connect() as conn:
        for kind, query in queries.items():
            for row_id, label in conn.execute(text(query), {"t": tenant_id}).all():
                needles[f"{kind} id {row_id}"] = row_id
                if kind != "run":  # an operation type is a word every tenant's pages show
                    needles[f"{kind} {label}"] = label
    return needles


def test_the_next_user_of_a_tab_sees_nothing_of_the_previous_one(browser: Browser, web_app: str) -> None:
    demo = reset_and_seed_demo()
    owner_x = next(user for user in demo["users"] if user["role"] == "owner")
    owner_y = make_actor("owner", f"tenant-y-{random_suffix()}")
    actor_x = sessions.actor_for_session(sessions.authenticate(owner_x["email"], owner_x["password"]))
    assert actor_x is not None
    new_run(actor_x)  # the demo has connections but no runs yet
    page = open_signed_in_page(browser, web_app, owner_x["email"], owner_x["password"])
    tenant_x = str(actor_x.tenant_id)
    needles = _tenant_x_needles(tenant_x)
    connection_id = next(v for k, v in needles.items() if k.startswith("connection id"))
    run_id = next(v for k, v in needles.items() if k.startswith("run id"))
    tenant_name = next(v for k, v in needles.items() if k.startswith("tenant ") and not k.startswith("tenant id"))

    for path in ("/connections", f"/connections/{connection_id}", "/operations", f"/runs/{run_id}", "/members",
                 "/audit"):
        page.goto(path)
        expect(page.get_by_text(tenant_name).first).to_be_visible()
    page.goto("/members")
    expect(page.get_by_text(owner_x["email"]).first).to_be_visible()  # the state holds X's members now

    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))))
    page.get_by_test_id("logout").click()
    page.wait_for_url("**/login**")
    page.get_by_test_id("login-email").fill(owner_y.email)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(HOME_URL)
    expect(page.get_by_text(owner_y.tenant_name).first).to_be_visible()
    for path in ("/operations", "/members", "/audit"):
        page.goto(path)
        expect(page.get_by_text(owner_y.tenant_name).first).to_be_visible()
    page.context.close()

    sent = "\n".join(frames)
    assert owner_y.email in sent  # the frames were captured
    assert [name for name, needle in needles.items() if needle in sent] == []
