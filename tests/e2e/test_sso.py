"""In a real browser (issue 11): Sign in with Microsoft end to end through the simulator's /authorize form, with
a real worker redeeming the code; a wrong tid, a replayed code and a tampered state each refused with a clear
message and no session cookie."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.sync_api import Page, Route, expect

from atlas_services import invitations, sessions, sso_config
from atlas_services.authz import Actor
from atlas_services.db import session_scope
from atlas_services.models import Tenant
from atlas_services.reasons import ReasonCode, reason
from atlas_sim.server import RunningSimulator
from tests.support.factories import PASSWORD, make_actor

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("worker")]

MEGAN = "megan@contoso.example"
HOME = re.compile(r".*/connections/?$")


def _login_error(code: ReasonCode) -> re.Pattern[str]:
    return re.compile(rf".*/login/?\?error={re.escape(code.value)}$")


@pytest.fixture
def workspace(db: None, simulator: RunningSimulator) -> str:
    owner: Actor = make_actor("owner")
    tenant = next(t for t in simulator.scenario.tenants if t.display_name == "Contoso")
    sso_config.configure(owner, cloud="simulator", entra_tenant_id=tenant.id, client_id=tenant.apps[0].client_id,
                         client_secret=tenant.apps[0].secrets[0].value)
    invitations.invite_member(owner, email=MEGAN, role="operator", password=PASSWORD)
    with session_scope() as session:
        found = session.get(Tenant, owner.tenant_id)
        assert found is not None
        return found.name


def _session_cookies(page: Page) -> list[object]:
    return [c for c in page.context.cookies() if c["name"].endswith(sessions.SESSION_COOKIE)]


def _to_microsoft(page: Page, workspace: str, simulator: RunningSimulator) -> None:
    page.goto("/login")
    page.get_by_test_id("sso-workspace").fill(workspace)
    page.get_by_test_id("sso-submit").click()
    page.wait_for_url(re.compile(re.escape(simulator.base_url) + r"/.*/oauth2/v2\.0/authorize\?.*"))


def _capture_callback(page: Page) -> list[str]:
    """Hold Microsoft's redirect back instead of letting the browser follow it; returns the list its URL lands
    in. (Playwright does not route redirects, so the sign-in form's post is fetched here without following.)"""
    seen: list[str] = []

    def hold(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        response = route.fetch(max_redirects=0)
        seen.append(response.headers["location"])
        route.fulfill(status=204, body="")

    page.context.route("**/oauth2/v2.0/authorize*", hold)
    return seen


def _pick(page: Page, email: str = MEGAN) -> None:
    page.get_by_role("button", name=re.compile(re.escape(email))).click()


def _wait_for(page: Page, seen: list[str]) -> None:
    """Until the captured callback URL is there (at most 10 s)."""
    for _ in range(100):
        if seen:
            return
        page.wait_for_timeout(100)


def _assert_refused(page: Page, code: ReasonCode) -> None:
    """The login page shows the refusal's text, and no session cookie was issued."""
    page.wait_for_url(_login_error(code))
    expect(page.get_by_test_id("login-error")).to_have_text(reason(code).message)
    assert _session_cookies(page) == []


def test_sign_in_with_microsoft_end_to_end(workspace: str, simulator: RunningSimulator, browser_page: Page) -> None:
    _to_microsoft(browser_page, workspace, simulator)
    _pick(browser_page)
    browser_page.wait_for_url(HOME)
    assert len(_session_cookies(browser_page)) == 1
    cookie = next(c for c in browser_page.context.cookies() if c["name"].endswith(sessions.SESSION_COOKIE))
    assert cookie["httpOnly"]


def test_a_wrong_tid_is_refused(workspace: str, simulator: RunningSimulator, browser_page: Page) -> None:
    with simulator.id_token_fault("wrong_tid"):
        _to_microsoft(browser_page, workspace, simulator)
        _pick(browser_page)
        _assert_refused(browser_page, ReasonCode.SSO_WRONG_TENANT)  # the worker redeems while the fault holds


def test_a_replayed_code_is_refused(workspace: str, simulator: RunningSimulator, browser_page: Page) -> None:
    seen = _capture_callback(browser_page)
    _to_microsoft(browser_page, workspace, simulator)
    _pick(browser_page)
    _wait_for(browser_page, seen)
    first = seen[0]
    browser_page.context.unroute("**/oauth2/v2.0/authorize*")
    browser_page.goto(first)  # the first answer, redeemed: a session
    browser_page.wait_for_url(HOME)
    # A second sign-in in this browser (signed out first), answered with the first, already redeemed, code
    # under the second flow's own state.
    browser_page.context.clear_cookies(name=re.compile(".*" + sessions.SESSION_COOKIE))
    seen = _capture_callback(browser_page)
    _to_microsoft(browser_page, workspace, simulator)
    _pick(browser_page)
    _wait_for(browser_page, seen)
    second = {k: v[0] for k, v in parse_qs(urlsplit(seen[0]).query).items()}
    old_code = parse_qs(urlsplit(first).query)["code"][0]
    browser_page.context.unroute("**/oauth2/v2.0/authorize*")
    browser_page.goto("/auth/sso/callback?" + urlencode(second | {"code": old_code}))
    _assert_refused(browser_page, ReasonCode.SSO_CODE_REFUSED)


def test_a_tampered_state_is_refused(workspace: str, simulator: RunningSimulator, browser_page: Page) -> None:
    seen = _capture_callback(browser_page)
    _to_microsoft(browser_page, workspace, simulator)
    _pick(browser_page)
    _wait_for(browser_page, seen)
    answer = {k: v[0] for k, v in parse_qs(urlsplit(seen[0]).query).items()}
    browser_page.context.unroute("**/oauth2/v2.0/authorize*")
    tampered = answer | {"state": answer["state"][::-1]}
    browser_page.goto("/auth/sso/callback?" + urlencode(tampered))
    _assert_refused(browser_page, ReasonCode.SSO_STATE_MISMATCH)
    # The untampered answer no longer works either: the flow is spent.
    browser_page.goto(seen[0])
    browser_page.wait_for_url(_login_error(ReasonCode.SSO_FLOW_UNKNOWN))
    assert _session_cookies(browser_page) == []


def test_an_owner_configures_sso_and_requires_it_with_a_break_glass_owner(
        db: None, simulator: RunningSimulator, browser: object, web_app: str) -> None:
    from tests.support.factories import join_tenant

    owner = make_actor("owner")
    member_email = f"member-{owner.tenant_id.hex[:6]}@example.test"
    join_tenant(owner, email=member_email, role="operator")
    tenant = next(t for t in simulator.scenario.tenants if t.display_name == "Contoso")
    secret = tenant.apps[0].secrets[0].value
    page = browser.new_context(base_url=web_app).new_page()  # type: ignore[attr-defined]
    page.set_default_timeout(20_000)
    page.goto("/login")
    page.get_by_test_id("login-email").fill(owner.email)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(HOME)
    page.get_by_test_id("nav-sign-in").click()
    expect(page.get_by_test_id("sso-not-configured")).to_be_visible()
    page.get_by_test_id("sso-cloud").select_option("simulator")
    page.get_by_test_id("sso-entra-tenant-id").fill(tenant.id)
    page.get_by_test_id("sso-client-id").fill(tenant.apps[0].client_id)
    page.get_by_test_id("sso-client-secret").fill(secret)
    page.get_by_test_id("sso-save").click()
    expect(page.get_by_test_id("sso-summary")).to_contain_text(secret[-4:])
    expect(page.get_by_test_id("sso-client-secret")).to_have_value("")
    assert secret not in page.content()
    page.get_by_test_id("sso-required").select_option("on")
    page.get_by_test_id("sso-break-glass").fill(owner.email)
    page.get_by_test_id("sso-policy-save").click()
    expect(page.get_by_test_id("sso-policy")).to_contain_text(owner.email)
    # The member's right password is refused now; the break-glass owner's still works.
    other = browser.new_context(base_url=web_app).new_page()  # type: ignore[attr-defined]
    other.set_default_timeout(20_000)
    other.goto("/login")
    other.get_by_test_id("login-email").fill(member_email)
    other.get_by_test_id("login-password").fill(PASSWORD)
    other.get_by_test_id("login-submit").click()
    other.wait_for_url(_login_error(ReasonCode.SSO_REQUIRED))
    expect(other.get_by_test_id("login-error")).to_have_text(reason(ReasonCode.SSO_REQUIRED).message)
    assert _session_cookies(other) == []
    other.get_by_test_id("login-email").fill(owner.email)
    other.get_by_test_id("login-password").fill(PASSWORD)
    other.get_by_test_id("login-submit").click()
    other.wait_for_url(HOME)
    other.context.close()
    page.context.close()
