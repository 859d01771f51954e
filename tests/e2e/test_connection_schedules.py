"""In a real browser: the connection page's schedule section. A manager sees the inherited defaults with their next
due times, sets one (a bad value gets a clear message and changes nothing), clears one; a scheduler pass starts a
due schedule and its run and audit event say "Schedule"; a read-only member sees the schedules but cannot change
them."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update
from sqlmodel import col

from atlas_services.db import session_scope
from atlas_services.models import Schedule, utcnow
from atlas_services.schedules.tick import run_tick

pytestmark = pytest.mark.e2e


def _row(page: Page, op_type: str) -> Any:
    return page.locator(f'[data-testid="schedule-row"][data-op-type="{op_type}"]')


def _open_contoso(page: Page, demo: dict[str, Any]) -> str:
    contoso = next(connection for connection in demo["connections"] if connection["name"] == "Contoso")
    page.goto(f"/connections/{contoso['id']}")
    expect(page.get_by_test_id("connection-title")).to_have_text("Contoso")
    return str(contoso["id"])


def test_a_manager_sets_and_clears_schedules_and_a_scheduled_run_says_schedule(
    seed_demo: dict[str, Any], signed_in_page: Callable[[str], Page], huey_queue: Any
) -> None:
    page = signed_in_page("manager")
    contoso_id = _open_contoso(page, seed_demo)
    section = page.get_by_test_id("schedules-section")
    expect(section).to_be_visible()
    health = _row(page, "health_check")
    expect(health.get_by_test_id("schedule-description")).to_have_text("every 6h, jitter 30m")
    expect(_row(page, "inventory_sync").get_by_test_id("schedule-description")).to_have_text(
        "daily at 01:00 UTC, jitter 2h")
    expect(health.get_by_test_id("schedule-next-due")).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$"))

    # A bad value: a clear message beside the form, and the schedule stays as it was.
    page.get_by_test_id("schedule-op").select_option("health_check")
    page.get_by_test_id("schedule-kind").select_option("every")
    page.get_by_test_id("schedule-value").fill("0h")
    page.get_by_test_id("schedule-submit").click()
    expect(page.get_by_test_id("schedule-error")).to_have_text(re.compile("The interval must be longer than zero"))
    expect(health.get_by_test_id("schedule-description")).to_have_text("every 6h, jitter 30m")

    page.get_by_test_id("schedule-kind").select_option("daily")
    page.get_by_test_id("schedule-value").fill("02:30")
    page.get_by_test_id("schedule-tz").fill("Europe/Berlin")
    page.get_by_test_id("schedule-jitter").fill("0")
    page.get_by_test_id("schedule-submit").click()
    expect(health.get_by_test_id("schedule-description")).to_have_text("daily at 02:30 Europe/Berlin")
    expect(page.get_by_test_id("schedule-error")).to_have_count(0)

    page.get_by_test_id("schedule-clear-inventory_sync").click()
    expect(_row(page, "inventory_sync")).to_have_attribute("data-scheduled", "no")
    expect(_row(page, "inventory_sync").get_by_test_id("schedule-description")).to_have_text("Not scheduled")

    # The new health-check schedule is due at once (no jitter); nothing else is due.
    with session_scope() as session:
        session.execute(update(Schedule).where(col(Schedule.op_type) != "health_check")
                        .values(due_at=utcnow() + timedelta(days=1)))
        session.execute(update(Schedule).where(col(Schedule.connection_id) != uuid.UUID(contoso_id))
                        .values(due_at=utcnow() + timedelta(days=1)))
    report = run_tick(enqueue=lambda run_id: None)
    (run_id,) = report.started
    page.goto(f"/runs/{run_id}")
    expect(page.get_by_test_id("run-starter")).to_have_text("Schedule")
    page.goto("/operations")
    history = page.get_by_test_id("history-table")
    expect(history.locator(f'[data-run-id="{run_id}"]').get_by_test_id("run-row-starter")).to_have_text("Schedule")
    page.goto("/audit")
    expect(page.locator('[data-testid="audit-row"][data-action="run.start"]').first).to_contain_text("Schedule")


def test_a_read_only_member_sees_schedules_but_cannot_change_them(
    seed_demo: dict[str, Any], signed_in_page: Callable[[str], Page]
) -> None:
    page = signed_in_page("readonly")
    _open_contoso(page, seed_demo)
    expect(_row(page, "health_check").get_by_test_id("schedule-next-due")).not_to_have_text("")
    expect(page.get_by_test_id("schedule-submit")).to_have_count(0)
    expect(page.get_by_test_id("schedule-clear-health_check")).to_have_count(0)
