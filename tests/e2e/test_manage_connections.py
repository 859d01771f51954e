"""In a real browser, as the demo owner (one signed-in page for the module): create a connection whose name
looks like a script (it renders as text, nothing runs), get past the GUID-shaped-secret refusal with
"I'm sure", and rotate a credential, watching the verification run succeed before the new one takes over.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import open_signed_in_page
from tests.support.database import reset_and_seed_demo
from tests.support.processes import running_worker

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.e2e

RUN_FINISH_TIMEOUT_MS = 45_000
CONTOSO_SECRET = "DEMO-ONLY~contoso~simulator-secret-not-real"  # the demo scenario's (simulator only)


@pytest.fixture(scope="module")
def demo(simulator: Any) -> dict[str, Any]:
    return reset_and_seed_demo()


@pytest.fixture(scope="module")
def owner_page(demo: dict[str, Any], browser: Browser, web_app: str) -> Iterator[Page]:
    owner = next(user for user in demo["users"] if user["role"] == "owner")
    page = open_signed_in_page(browser, web_app, owner["email"], owner["password"])
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.dialogs = dialogs  # type: ignore[attr-defined]
    yield page
    page.context.close()


def test_a_script_looking_name_renders_as_text_and_a_guid_secret_needs_im_sure(owner_page: Page) -> None:
    page = owner_page
    name = f"<script>alert(1)</script> {uuid.uuid4().hex[:6]}"
    page.get_by_test_id("create-name").fill(name)
    page.get_by_test_id("create-entra-tenant-id").fill(str(uuid.uuid4()))
    page.get_by_test_id("create-client-id").fill(str(uuid.uuid4()))
    page.get_by_test_id("create-client-secret").fill(str(uuid.uuid4()))  # the Secret ID, not its Value
    page.get_by_test_id("create-connection").click()

    expect(page.get_by_test_id("create-error-client_secret")).to_contain_text("secret's ID")
    expect(page.get_by_test_id("create-client-secret")).to_have_value("")  # cleared at once
    page.get_by_test_id("create-client-secret").fill(str(uuid.uuid4()))
    page.get_by_test_id("create-allow-guid").click()
    page.get_by_test_id("create-connection").click()

    expect(page.get_by_test_id("notice")).to_contain_text("created")
    expect(page.get_by_test_id("create-client-secret")).to_have_value("")
    created = page.get_by_test_id("connection-name").filter(has_text="alert(1)")
    expect(created).to_have_text(name)  # literally, as text
    assert page.locator("script", has_text="alert(1)").count() == 0
    assert page.evaluate("document.body.innerHTML").count("<script>alert(1)") == 0
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_a_certificate_connection_from_a_pfx_upload_with_its_passphrase(owner_page: Page) -> None:
    from tests.support.certificates import make_certificate

    page = owner_page
    passphrase = "pfx pass phrase"
    pfx = make_certificate("atlas-e2e").pfx(passphrase.encode())
    name = f"PFX {uuid.uuid4().hex[:6]}"
    page.get_by_test_id("create-kind-pem").click()
    page.get_by_test_id("create-certificate-pem").fill("not a certificate")
    page.get_by_test_id("create-name").fill(name)
    page.get_by_test_id("create-entra-tenant-id").fill(str(uuid.uuid4()))
    page.get_by_test_id("create-client-id").fill(str(uuid.uuid4()))
    page.get_by_test_id("create-connection").click()
    expect(page.get_by_test_id("create-error-certificate")).to_be_visible()  # the PEM path reached the service
    expect(page.get_by_test_id("create-certificate-pem")).to_have_value("")

    page.get_by_test_id("create-kind-pfx").click()
    page.locator('[data-testid="create_pfx"] input[type="file"]').set_input_files(
        files=[{"name": "atlas.pfx", "mimeType": "application/x-pkcs12", "buffer": pfx}])
    expect(page.get_by_text("atlas.pfx")).to_be_visible()
    page.get_by_test_id("create-pfx-passphrase").fill(passphrase)
    page.get_by_test_id("create-connection").click()

    expect(page.get_by_test_id("notice")).to_contain_text(f"Connection '{name}' created.")
    row = page.locator('[data-testid="connection-row"]').filter(has_text=name)
    expect(row.get_by_test_id("credential-cell")).to_contain_text("Certificate")
    expect(page.get_by_test_id("create-pfx-passphrase")).to_have_value("")
    expect(page.get_by_text("atlas.pfx")).to_have_count(0)  # the selection is cleared too


def test_rotating_a_credential_keeps_the_old_one_until_the_verification_run_succeeds(
    owner_page: Page, demo: dict[str, Any]
) -> None:
    page = owner_page
    contoso = next(c for c in demo["connections"] if c["name"].startswith("Contoso"))
    row = page.locator(f'[data-testid="connection-row"][data-connection-id="{contoso["id"]}"]')
    expires_on = (datetime.now(UTC) + timedelta(days=20)).date().isoformat()
    expect(row.get_by_test_id("expiry-warning")).to_have_count(0)

    row.get_by_test_id("rotate-credential").click()
    dialog = page.get_by_test_id("rotate-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_test_id("rotate-client-secret").fill(f"  {CONTOSO_SECRET}  ")
    dialog.get_by_test_id("rotate-expires-on").fill(expires_on)
    dialog.get_by_test_id("rotate-submit").click()

    expect(dialog).to_have_count(0)
    notice = page.get_by_test_id("notice")
    expect(notice).to_contain_text("being verified")
    expect(notice).to_contain_text("Spaces or line breaks around the secret were removed")
    link = page.get_by_test_id("rotation-run-link")
    expect(link).not_to_have_text("")
    run_id = link.text_content() or ""
    badge = page.get_by_test_id(f"run-status-{run_id}")
    expect(badge).to_have_attribute("data-status", "queued")
    # Until the check passes, the old credential (no expiry) is the one in use.
    expect(row.get_by_test_id("expiry-warning")).to_have_count(0)

    with running_worker():
        expect(badge).to_have_attribute("data-status", "succeeded", timeout=RUN_FINISH_TIMEOUT_MS)
        # The check read the app registration (the demo app holds Application.Read.All): Microsoft's end date of
        # the secret (a year away) replaces the 20 days typed here, so the new credential shows no warning.
        cell = row.get_by_test_id("credential-cell")
        expect(cell).to_contain_text("Expires ")
        expect(cell).not_to_contain_text(expires_on)
        expect(row.get_by_test_id("expiry-warning")).to_have_count(0)

    # The run's own page tells the same story.
    page.get_by_test_id("rotation-run-link").click()
    expect(page.get_by_test_id("run-detail-status")).to_have_attribute("data-status", "succeeded")
    expect(page.get_by_test_id("run-finished")).not_to_have_text("")
    expect(page.get_by_test_id("cancel-run")).to_have_count(0)
