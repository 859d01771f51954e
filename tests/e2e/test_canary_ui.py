"""The canary sweep's browser half: a unique secret and a unique private key typed into the real forms (as a
connection's credential, then as Sign in with Microsoft's app credential), a check run on each connection (both
fail to sign in: the simulator doesn't know them), and then no encoding of either in any websocket frame the
server sent to the browser, the page's HTML, the web and worker output, a full pg_dump or Redis."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import expect

from tests.support.browser import WEB_LOGS, open_signed_in_page
from tests.support.canary import encodings, key_fingerprints, pg_dump_text, redis_text
from tests.support.certificates import make_certificate
from tests.support.database import reset_and_seed_demo
from tests.support.processes import running_worker

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.e2e

CANARY = f"CANARY~{uuid.uuid4().hex}"
KEY = make_certificate("atlas-ui-canary", key_index=5)
NEEDLES = {**{f"secret/{k}": v for k, v in encodings(CANARY).items()},
           **{f"key/{k}": v for k, v in key_fingerprints(KEY.private_key_pem).items()}}


def _hits(haystack: str, where: str) -> list[str]:
    return [f"{where}: {name}" for name, needle in NEEDLES.items() if needle in haystack]


def test_canaries_typed_into_the_ui_reach_neither_the_browser_nor_any_store(
        simulator: Any, huey_queue: Any, browser: Browser, web_app: str) -> None:
    demo = reset_and_seed_demo()
    owner = next(user for user in demo["users"] if user["role"] == "owner")
    page = open_signed_in_page(browser, web_app, owner["email"], owner["password"])
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))))
    page.reload()  # a fresh socket, now observed from its first frame
    page.wait_for_url("**/connections**")

    names = {"secret": f"Canary secret {uuid.uuid4().hex[:4]}", "key": f"Canary key {uuid.uuid4().hex[:4]}"}
    for kind, name in names.items():
        if kind == "key":
            page.get_by_test_id("create-kind-pem").click()
            page.get_by_test_id("create-certificate-pem").fill(KEY.bundle)
        else:
            page.get_by_test_id("create-client-secret").fill(CANARY)
        page.get_by_test_id("create-name").fill(name)
        page.get_by_test_id("create-entra-tenant-id").fill(str(uuid.uuid4()))
        page.get_by_test_id("create-client-id").fill(str(uuid.uuid4()))
        page.get_by_test_id("create-connection").click()
        expect(page.get_by_test_id("notice")).to_contain_text("created")
        page.get_by_test_id("connection-name").filter(has_text=name).wait_for()

    for name in names.values():
        page.locator(f'[data-testid="check-connection"][data-connection-name="{name}"]').click()
        expect(page.get_by_test_id("last-run-id")).not_to_have_text("")
    with running_worker() as worker:
        for name in names.values():
            run_id = page.locator(f'[data-testid="run-row"]:has-text("{name}")').first.get_attribute("data-run-id")
            expect(page.get_by_test_id(f"run-status-{run_id}")).to_have_attribute("data-status", "failed",
                                                                                  timeout=45_000)
    assert worker.stdout is not None
    worker_output = worker.stdout.read()

    # The same canaries as Sign in with Microsoft's app credential, on the owners' Sign-in page.
    page.get_by_test_id("nav-sign-in").click()
    expect(page.get_by_test_id("sso-not-configured")).to_be_visible()
    for field, value, hint in (("sso-client-secret", CANARY, CANARY[-4:]), ("sso-certificate", KEY.bundle, "")):
        page.get_by_test_id("sso-entra-tenant-id").fill(str(uuid.uuid4()))
        page.get_by_test_id("sso-client-id").fill(str(uuid.uuid4()))
        page.get_by_test_id(field).fill(value)
        page.get_by_test_id("sso-save").click()
        expect(page.get_by_test_id("notice")).to_contain_text("Sign-in app saved")
        expect(page.get_by_test_id("sso-summary")).to_contain_text(hint or "certificate")
    html = page.content()
    page.context.close()

    assert len(frames) > 5 and any(names["secret"] in frame for frame in frames)  # the frames were captured
    web_output = "\n".join(path.read_text(errors="replace") for path in WEB_LOGS if path.exists())
    found = (_hits("\n".join(frames), "websocket frames") + _hits(html, "page HTML")
             + _hits(web_output, "web output") + _hits(worker_output, "worker output")
             + _hits(pg_dump_text(), "pg_dump") + _hits(redis_text(), "redis"))
    assert found == []
