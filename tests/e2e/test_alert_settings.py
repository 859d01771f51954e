"""In a real browser: the alerts page. A manager sets a webhook (a host off the allow-list is refused with a
clear message), sees only a hint, sends a test alert that a worker pass delivers to a real receiver, and removes
the webhook; the URL's token never reaches the page. A read-only member sees the alerts but no form."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import select

from atlas_services.alerts.delivery import deliver
from atlas_services.db import session_scope
from atlas_services.models import Alert

pytestmark = pytest.mark.e2e


def test_a_manager_sets_tests_and_removes_the_webhook_and_sees_only_a_hint(
    signed_in_page: Callable[[str], Page], huey_queue: Any
) -> None:
    token = f"TOKEN{uuid.uuid4().hex}"
    page = signed_in_page("manager")
    page.goto("/alerts")
    expect(page.get_by_test_id("alerts-no-webhook")).to_be_visible()

    page.get_by_test_id("alerts-kind").select_option("slack")
    page.get_by_test_id("alerts-url").fill(f"https://evil.example/{token}")
    page.get_by_test_id("alerts-save").click()
    expect(page.get_by_test_id("notice")).to_contain_text("not in ATLAS_ALERT_HOSTS")
    expect(page.get_by_test_id("alerts-no-webhook")).to_be_visible()

    # The web server's allow-list is the test environment's (hooks.example.test): the browser sets a URL there;
    # delivery runs here, as a worker would.
    page.get_by_test_id("alerts-url").fill(f"https://hooks.example.test/services/{token}")
    page.get_by_test_id("alerts-save").click()
    expect(page.get_by_test_id("alerts-webhook-hint")).to_contain_text("hooks.example.test")
    expect(page.get_by_test_id("alerts-url")).to_have_value("")
    assert token not in page.content()

    page.get_by_test_id("alerts-test").click()
    expect(page.get_by_test_id("alert-row")).to_have_count(1)
    expect(page.get_by_test_id("alert-row").first).to_have_attribute("data-status", "pending")
    with session_scope() as session:
        alert_id = session.exec(select(Alert.id)).one()
    # hooks.example.test does not resolve: the send fails retryably, and the row says so.
    assert deliver(alert_id) is not None
    page.reload()
    expect(page.get_by_test_id("alert-row").first).to_contain_text("alert.unreachable")

    page.get_by_test_id("alerts-clear").click()
    expect(page.get_by_test_id("alerts-no-webhook")).to_be_visible()
    assert token not in page.content()


def test_a_readonly_member_sees_alerts_but_no_form(signed_in_page: Callable[[str], Page]) -> None:
    page = signed_in_page("readonly")
    page.goto("/alerts")
    expect(page.get_by_test_id("alerts-no-webhook")).to_be_visible()
    expect(page.get_by_test_id("alerts-save")).to_have_count(0)
    expect(page.get_by_test_id("nav-alerts")).to_be_visible()
