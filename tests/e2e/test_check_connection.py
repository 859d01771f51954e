"""In a real browser: an operator presses "Check connection" and watches the run go queued → succeeded live.

The worker starts only after the run is seen queued, so "queued" is observed for certain; the page is
never reloaded (a marker set on ``window`` before the click must survive to the end).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e

RUN_FINISH_TIMEOUT_MS = 45_000


def _user(seed: dict[str, Any], role: str) -> dict[str, Any]:
    return next(user for user in seed["users"] if user["role"] == role)


def _default_connection(seed: dict[str, Any]) -> dict[str, Any]:
    return next(connection for connection in seed["connections"] if connection["default"])


def test_check_connection_goes_queued_then_succeeded_without_reload(
    seed_demo: dict[str, Any], signed_in_page: Callable[[str], Page], request: pytest.FixtureRequest,
    huey_queue: Any, simulator: Any,
) -> None:
    operator = _user(seed_demo, "operator")
    connection = _default_connection(seed_demo)
    page = signed_in_page("operator")
    expect(page.get_by_test_id("user-email")).to_have_text(operator["email"])

    check = page.locator(f'[data-testid="check-connection"][data-connection-id="{connection["id"]}"]')
    expect(check).to_be_enabled()
    page.evaluate("window.__atlasNoReload = true")
    microsoft_before = (simulator.state.token_requests, simulator.state.graph_requests)
    check.click()

    last_run = page.get_by_test_id("last-run-id")
    expect(last_run).not_to_have_text("")
    run_id = last_run.text_content()
    assert run_id

    badge = page.get_by_test_id(f"run-status-{run_id}")
    expect(badge).to_have_attribute("data-status", "queued")
    expect(badge).to_have_text("Queued")
    newest = page.get_by_test_id("run-row").first
    expect(newest).to_have_attribute("data-run-id", run_id)
    expect(page.get_by_test_id("live-indicator")).to_be_visible()
    # The button only wrote a run row and enqueued one task carrying the run id: nothing reached Microsoft.
    assert huey_queue.pending_count() == 1
    assert huey_queue.pending()[0].args == (run_id,)
    assert (simulator.state.token_requests, simulator.state.graph_requests) == microsoft_before

    request.getfixturevalue("worker")  # only now does anything consume the queue

    expect(badge).to_have_attribute("data-status", "succeeded", timeout=RUN_FINISH_TIMEOUT_MS)
    expect(badge).to_have_text("Succeeded")
    expect(page.get_by_test_id(f"connection-health-{connection['id']}")).to_have_attribute("data-status", "healthy")
    # Polling stops once nothing is active.
    expect(page.get_by_test_id("live-indicator")).to_have_count(0)
    assert page.evaluate("window.__atlasNoReload === true"), "the page was reloaded"
