"""In a real browser (issue 10): an auditor (readonly) downloads the audit log as CSV from the Audit page, and
the run history as JSON from the Operations page with a status filter applied; the files hold the tenant's rows,
honour the filter, and defuse a formula planted in a cell."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import select

from atlas_services.db import session_scope
from atlas_services.models import AuditEvent, InventoryItem, OperationRun, Tenant, utcnow

pytestmark = pytest.mark.e2e

FORMULA = "=1+1"


def _plant(seed_demo: dict[str, Any]) -> dict[str, list[str]]:
    """Finished runs of each status and an audit event whose target looks like a formula, in the demo tenant."""
    connection = uuid.UUID(seed_demo["connections"][0]["id"])
    planted: dict[str, list[str]] = {"failed": [], "succeeded": []}
    with session_scope() as session:
        tenant = session.exec(select(Tenant).where(Tenant.name == seed_demo["tenants"][0]["name"])).one()
        start = utcnow() - timedelta(hours=1)
        for n, status in enumerate(["failed", "succeeded", "failed", "succeeded", "failed"]):
            run = OperationRun(tenant_id=tenant.id, connection_id=connection, scope_key=f"export-e2e:{n}",
                               op_type="health_check", status=status, message=f"planted {status} {n}",
                               created_at=start + timedelta(minutes=n), finished_at=start + timedelta(minutes=n))
            session.add(run)
            planted[status].append(str(run.id))
        session.add(AuditEvent(tenant_id=tenant.id, action="export.e2e", target_type="thing", target_id=FORMULA))
        for n, name in enumerate(["Laptop 1", "Laptop 2", "Phone 1", "@Phone 2"]):
            session.add(InventoryItem(tenant_id=tenant.id, connection_id=connection, kind="managed_device",
                                      external_id=f"export-e2e-{n}", display_name=name))
    return planted


def _download(page: Page, test_id: str) -> tuple[str, str]:
    with page.expect_download() as info:
        page.get_by_test_id(test_id).click()
    download = info.value
    return download.suggested_filename, Path(download.path()).read_text(encoding="utf-8")


def test_an_auditor_downloads_audit_csv_and_filtered_operations_json(
        seed_demo: dict[str, Any], signed_in_page: Callable[[str], Page]) -> None:
    planted = _plant(seed_demo)
    page = signed_in_page("readonly")

    page.get_by_test_id("nav-audit").click()
    page.wait_for_url(re.compile(r".*/audit/?$"))
    expect(page.get_by_test_id("audit-table")).to_be_visible()
    name, body = _download(page, "audit-export-csv")
    assert name.endswith(".csv") and "-audit-" in name
    rows = list(csv.DictReader(io.StringIO(body)))
    assert list(rows[0]) == ["at", "actor", "action", "target_type", "target_id", "details"]
    planted_row = next(row for row in rows if row["action"] == "export.e2e")
    assert planted_row["target_id"] == "'" + FORMULA  # a spreadsheet shows it as text
    shown = {row.get_attribute("data-action") for row in page.get_by_test_id("audit-row").all()}
    assert shown and shown <= {row["action"] for row in rows}  # the page's events are in the file

    page.get_by_test_id("nav-operations").click()
    page.wait_for_url(re.compile(r".*/operations/?$"))
    page.get_by_test_id("filter-status").click()
    page.get_by_role("option", name="Failed", exact=True).click()
    history = page.get_by_test_id("history-table")
    expect(history.get_by_test_id("run-row")).to_have_count(len(planted["failed"]))
    expect(page.get_by_test_id("history-export-json")).to_have_attribute("href", re.compile(r"status=failed"))
    name, body = _download(page, "history-export-json")
    assert name.endswith(".ndjson") and "-runs-" in name
    runs = [json.loads(line) for line in body.splitlines()]
    assert {run["status"] for run in runs} == {"failed"}
    assert [run["id"] for run in runs] == list(reversed(planted["failed"]))  # newest first, as the page shows
    assert all(run["connection_id"] == seed_demo["connections"][0]["id"] for run in runs)


def test_an_auditor_downloads_the_inventory_a_search_shows(seed_demo: dict[str, Any],
                                                            signed_in_page: Callable[[str], Page]) -> None:
    _plant(seed_demo)
    page = signed_in_page("readonly")
    page.goto(f"/connections/{seed_demo['connections'][0]['id']}")
    page.get_by_test_id("items-tab-managed_device").click()
    page.get_by_test_id("items-search").fill("phone")
    page.get_by_test_id("items-search-submit").click()
    expect(page.get_by_test_id("item-row")).to_have_count(2)
    name, body = _download(page, "items-export-csv")
    assert name.endswith(".csv") and "-inventory-" in name
    rows = list(csv.DictReader(io.StringIO(body)))
    assert {row["kind"] for row in rows} == {"managed_device"}
    assert sorted(row["display_name"] for row in rows) == ["'@Phone 2", "Phone 1"]  # the formula sign defused
    shown = [row.locator("td").first.inner_text() for row in page.get_by_test_id("item-row").all()]
    assert [row["display_name"].removeprefix("'") for row in rows] == shown  # in the view's order
