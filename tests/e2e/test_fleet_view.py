"""In a real browser: the connections page as a fleet view.

- "Check all shown" on 50 connections: the count link filters to them, one confirmed click starts one run per
  connection through the start gate (50 queued runs, 50 queued jobs), and a second click reports all 50 as already
  in progress; over a filter that matches nothing the button cannot be pressed.
- Narrow screens: /connections and /operations at 1280 px and at 390 px (a phone): nothing is wider than the
  screen, rows are cards, and each row's health badge and actions are inside the screen. Screenshots of both widths
  are saved in the test's temporary directory (its path is printed).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import text

from atlas_cli.demo import DEMO_TENANT
from atlas_services.db import session_scope
from atlas_services.directory import actor_for
from atlas_services.runs import start
from tests.support.factories import create_connection

pytestmark = pytest.mark.e2e

FLEET = 50
WIDTHS = {"wide": (1280, 900), "phone": (390, 844)}


def _owner(seed: dict[str, Any]) -> Any:
    email = next(user["email"] for user in seed["users"] if user["role"] == "owner")
    with session_scope() as session:
        return actor_for(session, email=email, tenant_name=DEMO_TENANT)


def _unhealthy_fleet(seed: dict[str, Any], size: int) -> set[str]:
    """``size`` more connections in the demo tenant, each unhealthy after its last check."""
    owner = _owner(seed)
    ids = {str(create_connection(owner, name=f"fleet-{n:03d}").id) for n in range(size)}
    with session_scope() as session:
        session.execute(text("UPDATE provider_connections SET health_status = 'unhealthy', last_checked_at = now(), "
                             "health_reason_code = 'auth.invalid_client_secret' WHERE id = ANY(:ids)"),
                        {"ids": [uuid.UUID(i) for i in ids]})
    return ids


def _queued_checks() -> list[tuple[str, str, str]]:
    with session_scope() as session:
        rows = session.execute(text("SELECT connection_id, trigger, op_type FROM operation_runs "
                                    "WHERE status = 'queued'")).all()
    return [(str(r.connection_id), r.trigger, r.op_type) for r in rows]


def test_check_all_shown_on_50_connections(seed_demo: dict[str, Any], signed_in_page: Callable[[str], Page],
                                           huey_queue: Any) -> None:
    fleet = _unhealthy_fleet(seed_demo, FLEET)
    page = signed_in_page("operator")
    unhealthy = page.get_by_test_id("count-unhealthy")
    expect(unhealthy).to_have_attribute("data-count", str(FLEET))
    expect(page.get_by_test_id("count-all")).to_have_attribute("data-count", str(FLEET + len(seed_demo["connections"])))

    page.evaluate("window.__atlasNoReload = true")
    unhealthy.click()
    expect(page.get_by_test_id("filter-health")).to_have_text("Unhealthy")
    expect(page.get_by_test_id("fleet-matched")).to_have_attribute("data-matched", str(FLEET))
    expect(page.get_by_test_id("connection-row")).to_have_count(FLEET)
    shown = {row.get_attribute("data-connection-id") for row in page.get_by_test_id("connection-row").all()}
    assert shown == fleet

    page.get_by_test_id("check-all-shown").click()
    page.get_by_test_id("confirm-check-all").click()
    notice = page.get_by_test_id("notice")
    expect(notice).to_have_text(f"Checked {FLEET} connections: {FLEET} health checks started · 0 already in progress"
                                " · 0 busy with another operation.")
    expect(notice).to_have_attribute("data-kind", "success")
    queued = _queued_checks()
    assert sorted(c for c, _, _ in queued) == sorted(fleet)
    assert {(trigger, op) for _, trigger, op in queued} == {("person", "health_check")}
    assert huey_queue.pending_count() == FLEET
    expect(page.get_by_test_id("live-indicator")).to_be_visible()

    page.get_by_test_id("check-all-shown").click()
    page.get_by_test_id("confirm-check-all").click()
    expect(notice).to_have_text(f"Checked {FLEET} connections: 0 health checks started · {FLEET} already in "
                                "progress · 0 busy with another operation.")
    assert huey_queue.pending_count() == FLEET and len(_queued_checks()) == FLEET

    # A filter that matches nothing: nothing to check, and the button says so by being disabled.
    page.get_by_test_id("filter-cloud").click()
    page.get_by_test_id("filter-cloud-china").click()
    expect(page.get_by_test_id("fleet-empty")).to_be_visible()
    expect(page.get_by_test_id("check-all-shown")).to_be_disabled()
    assert len(_queued_checks()) == FLEET
    assert page.evaluate("window.__atlasNoReload === true"), "the page was reloaded"


def _inside_screen(page: Page, locator: Locator) -> None:
    """Within the screen's width, and really on top where it is drawn (not clipped away by a container)."""
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    width = page.evaluate("window.innerWidth")
    assert box is not None and box["width"] > 0 and box["height"] > 0, "not rendered"
    assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, f"cut off at {width} px: {box}"
    centre = {"x": box["x"] + box["width"] / 2, "y": box["y"] + box["height"] / 2}
    assert locator.evaluate("(el, p) => el.contains(document.elementFromPoint(p.x, p.y))", centre), \
        f"hidden under something else or clipped at {width} px: {box}"


def _no_horizontal_overflow(page: Page) -> None:
    scroll, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"the page is {scroll} px wide on a {inner} px screen"


def _header_fits(page: Page) -> None:
    for test_id in ("nav-connections", "nav-operations", "logout", "tenant-name"):
        _inside_screen(page, page.get_by_test_id(test_id))


def test_connections_and_operations_fit_a_phone_and_a_desktop(
        seed_demo: dict[str, Any], signed_in_page: Callable[[str], Page], tmp_path: Path) -> None:
    owner = _owner(seed_demo)
    _unhealthy_fleet(seed_demo, 3)
    for connection in seed_demo["connections"]:
        start.start_operation(owner, "health_check", connection["id"], enqueue=lambda _run_id: None)
    page = signed_in_page("manager")  # a manager sees every row action
    shots: list[Path] = []
    for name, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.goto("/connections")
        rows = page.get_by_test_id("connection-row")
        expect(rows.first).to_be_visible()
        expect(page.get_by_test_id("run-row").first).to_be_visible()
        page.wait_for_timeout(300)  # let layout settle after the data arrives
        _no_horizontal_overflow(page)
        _header_fits(page)
        for row in rows.all()[:3]:
            row_id = row.get_attribute("data-connection-id")
            _inside_screen(page, page.get_by_test_id(f"connection-health-{row_id}"))
            actions = row.get_by_test_id("connection-actions")
            for button in actions.locator("button").all():
                _inside_screen(page, button)
        _inside_screen(page, page.get_by_test_id("check-all-shown"))
        header_cells = page.locator('[data-testid="connections-table"] thead')
        if width < 768:
            expect(header_cells).to_be_hidden()  # cards: each cell carries its own label
            expect(rows.first.locator(".card-label").first).to_be_visible()
        else:
            expect(header_cells).to_be_visible()
        page.evaluate("window.scrollTo(0, 0)")
        shots.append(tmp_path / f"connections-{name}-{width}-top.png")
        page.screenshot(path=str(shots[-1]))
        shots.append(tmp_path / f"connections-{name}-{width}.png")
        page.screenshot(path=str(shots[-1]), full_page=True)

        page.goto("/operations")
        history = page.get_by_test_id("history-table").get_by_test_id("run-row")
        expect(history.first).to_be_visible()
        page.wait_for_timeout(300)
        _no_horizontal_overflow(page)
        _header_fits(page)
        for row in history.all()[:3]:
            _inside_screen(page, row.locator('[data-testid^="run-status-"]'))
            _inside_screen(page, row.get_by_test_id("run-link"))
        for test_id in ("filter-connection", "filter-status", "filter-operation"):
            _inside_screen(page, page.get_by_test_id(test_id))
        page.evaluate("window.scrollTo(0, 0)")
        shots.append(tmp_path / f"operations-{name}-{width}-top.png")
        page.screenshot(path=str(shots[-1]))
        shots.append(tmp_path / f"operations-{name}-{width}.png")
        page.screenshot(path=str(shots[-1]), full_page=True)
    print("\nscreenshots:", *map(str, shots), sep="\n  ")
    assert all(shot.stat().st_size > 0 for shot in shots)
