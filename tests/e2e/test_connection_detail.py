"""In a real browser, as the demo operator (one signed-in page for the module): open Contoso's detail page from
/connections, start an inventory sync and watch it go queued → succeeded live (the worker starts only after
"queued" is seen), see the counts per kind and page through the devices, start a compliance snapshot and see
the trend chart render; then filter the run history on /operations by status.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
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
# What the demo scenario gives Contoso (atlas_sim/scenarios/demo.yaml).
CONTOSO_COUNTS = {"managed_device": 300, "device_configuration": 9, "compliance_policy": 4, "mobile_app": 18}
CONTOSO_TENANT, CONTOSO_APP = "69428f70-3c80-4e10-b63c-dc69ea0f142f", "217150f4-a636-4778-b5ec-3b57952fc53a"


@pytest.fixture(scope="module")
def demo(simulator: Any) -> dict[str, Any]:
    return reset_and_seed_demo()


@pytest.fixture(scope="module")
def operator_page(demo: dict[str, Any], browser: Browser, web_app: str) -> Iterator[Page]:
    operator = next(user for user in demo["users"] if user["role"] == "operator")
    page = open_signed_in_page(browser, web_app, operator["email"], operator["password"])
    yield page
    page.context.close()


def _started_run(page: Page, previous: str | None = None) -> str:
    """The run the last start button queued (waiting until it is not ``previous``)."""
    result = page.get_by_test_id("start-result")
    expect(result).to_have_attribute("data-outcome", "started")
    if previous is not None:
        expect(result).not_to_have_attribute("data-run-id", previous)
    run_id = result.get_attribute("data-run-id")
    assert run_id
    return run_id


def test_inventory_sync_and_compliance_snapshot_from_the_detail_page_then_operations_history(
    demo: dict[str, Any], operator_page: Page, huey_queue: Any
) -> None:
    page = operator_page
    contoso = next(connection for connection in demo["connections"] if connection["name"] == "Contoso")
    page.locator('[data-testid="connection-name"]', has_text="Contoso").click()
    page.wait_for_url(re.compile(rf".*/connections/{contoso['id']}/?$"))
    expect(page.get_by_test_id("connection-title")).to_have_text("Contoso")
    expect(page.get_by_test_id("compliance-empty")).to_be_visible()
    expect(page.get_by_test_id("kind-managed_device")).to_have_attribute("data-count", "0")
    # Graph v1.0 has no Settings Catalog or endpoint security: the inventory says so before anything is synced.
    expect(page.get_by_test_id("inventory-not-in-graph-v1")).to_contain_text("Settings Catalog")
    expect(page.get_by_test_id("inventory-not-in-graph-v1")).to_contain_text("not visible through Microsoft Graph v1.0")
    page.evaluate("window.__atlasNoReload = true")

    page.get_by_test_id("start-inventory_sync").click()
    sync_run = _started_run(page)
    sync_badge = page.get_by_test_id(f"run-status-{sync_run}")
    expect(sync_badge).to_have_attribute("data-status", "queued")
    expect(page.get_by_test_id("live-indicator")).to_be_visible()
    assert huey_queue.pending_count() == 1  # the button only wrote a run row and enqueued its id

    with running_worker():
        expect(sync_badge).to_have_attribute("data-status", "succeeded", timeout=RUN_FINISH_TIMEOUT_MS)
        for kind, count in CONTOSO_COUNTS.items():
            expect(page.get_by_test_id(f"kind-{kind}")).to_have_attribute("data-count", str(count))
        expect(page.get_by_test_id("last-sync-status")).to_have_attribute("data-status", "succeeded")
        # The device table pages through 300 devices, ten at a time.
        expect(page.get_by_test_id("item-row")).to_have_count(10)
        first_device = page.get_by_test_id("item-row").first.text_content()
        page.get_by_test_id("items-next").click()
        expect(page.get_by_test_id("items-page")).to_have_text("Page 2")
        expect(page.get_by_test_id("item-row").first).not_to_have_text(first_device or "")
        page.get_by_test_id("items-tab-mobile_app").click()
        expect(page.get_by_test_id("items-table")).to_have_attribute("data-kind", "mobile_app")
        expect(page.get_by_test_id("items-page")).to_have_text("Page 1")

        page.get_by_test_id("start-compliance_snapshot").click()
        snapshot_run = _started_run(page, previous=sync_run)
        expect(page.get_by_test_id(f"run-status-{snapshot_run}")).to_have_attribute(
            "data-status", "succeeded", timeout=RUN_FINISH_TIMEOUT_MS)

    chart = page.get_by_test_id("compliance-chart")
    expect(chart).to_have_attribute("data-points", "1")
    expect(chart.locator("svg.recharts-surface").first).to_be_visible()
    expect(chart.locator(".recharts-legend-wrapper")).to_contain_text("Compliant")
    expect(page.get_by_test_id("compliance-empty")).to_have_count(0)
    expect(page.get_by_test_id("live-indicator")).to_have_count(0)  # polling stopped
    assert page.evaluate("window.__atlasNoReload === true"), "the page was reloaded"

    page.get_by_test_id("nav-operations").click()
    page.wait_for_url(re.compile(r".*/operations/?$"))
    history = page.get_by_test_id("history-table")
    expect(history.get_by_test_id("run-row")).to_have_count(2)
    expect(page.get_by_test_id("active-empty")).to_be_visible()

    page.get_by_test_id("filter-status").click()
    page.get_by_role("option", name="Failed", exact=True).click()
    expect(page.get_by_test_id("history-empty")).to_be_visible()
    page.get_by_test_id("filter-status").click()
    page.get_by_role("option", name="Succeeded", exact=True).click()
    rows = history.get_by_test_id("run-row")
    expect(rows).to_have_count(2)
    assert {row.get_attribute("data-status") for row in rows.all()} == {"succeeded"}
    assert {row.get_attribute("data-run-id") for row in rows.all()} == {sync_run, snapshot_run}


def test_onboarding_consent_url_and_manifest_then_expiry_read_from_microsoft(
    demo: dict[str, Any], operator_page: Page, huey_queue: Any, web_app: str
) -> None:
    """The onboarding section shows the simulator cloud's admin-consent URL and the manifest fragment; after a
    health check, the credential's expiry comes from the app registration and its credentials are listed."""
    page = operator_page
    contoso = next(connection for connection in demo["connections"] if connection["name"] == "Contoso")
    page.goto(f"{web_app.rstrip('/')}/connections/{contoso['id']}")
    expect(page.get_by_test_id("connection-title")).to_have_text("Contoso")
    section = page.get_by_test_id("onboarding-section")
    consent = section.get_by_test_id("consent-url")
    expect(consent).to_contain_text(f"/{CONTOSO_TENANT}/adminconsent?client_id={CONTOSO_APP}")
    assert consent.get_attribute("href") == consent.text_content()
    expect(section.get_by_test_id("manifest")).to_contain_text("00000003-0000-0000-c000-000000000000")
    expect(section.get_by_test_id("manifest")).to_contain_text("2f51be20-0bb4-4fed-bf7b-db946066c75e")
    expect(section.get_by_test_id("permission-need")).to_have_count(7)
    expect(section.locator('[data-permission="Application.Read.All"]')).to_contain_text("recommended")
    expect(section.get_by_test_id("copy-manifest")).to_be_visible()

    page.get_by_test_id("start-health_check").click()
    run_id = _started_run(page)
    with running_worker():
        expect(page.get_by_test_id(f"run-status-{run_id}")).to_have_attribute(
            "data-status", "succeeded", timeout=RUN_FINISH_TIMEOUT_MS)
    expect(page.get_by_test_id("credential-expiry-source")).to_contain_text("Read from Microsoft")
    expect(page.get_by_test_id("app-credential")).to_have_count(1)
    expect(page.get_by_test_id("app-credential")).to_have_attribute("data-in-use", "yes")
    expect(page.get_by_test_id("missing-permissions")).to_have_count(0)


def test_a_readonly_member_sees_the_consent_url(demo: dict[str, Any], browser: Browser, web_app: str) -> None:
    readonly = next(user for user in demo["users"] if user["role"] == "readonly")
    page = open_signed_in_page(browser, web_app, readonly["email"], readonly["password"])
    try:
        contoso = next(connection for connection in demo["connections"] if connection["name"] == "Contoso")
        page.goto(f"{web_app.rstrip('/')}/connections/{contoso['id']}")
        expect(page.get_by_test_id("consent-url")).to_contain_text(f"/{CONTOSO_TENANT}/adminconsent")
        expect(page.get_by_test_id("manifest")).to_contain_text("resourceAccess")
    finally:
        page.context.close()
