"""In a real browser (issue 11): TOTP enrolment and sign-in, a recovery code usable once, codes from the wrong
time window or reused within it refused, a tenant policy that sends a member to enrol at sign-in, and a canary
sweep: the seed and the recovery codes reach no websocket frame, no web output, no database row in clear and
no Redis key or value.
"""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Page, expect

from atlas_services import mfa, sessions
from tests.support.browser import HOME_URL, WEB_LOGS
from tests.support.canary import encodings, pg_dump_text, redis_text
from tests.support.factories import PASSWORD, join_tenant, make_actor, random_suffix
from tests.support.totp import code_at, plain_seed

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.e2e

SECOND_STEP_URL = re.compile(r".*/login/second-factor/?(\?.*)?$")
SECOND_STEP_ERROR = re.compile(r".*/login/second-factor/?\?error=1$")
SECURITY_URL = re.compile(r".*/account/security/?(\?.*)?$")


def _new_page(browser: Browser, web_app: str) -> Page:
    context = browser.new_context(base_url=web_app)
    context.set_default_timeout(20_000)
    return context.new_page()


def _password_step(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_test_id("login-email").fill(email)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()


def _second_step(page: Page, code: str) -> None:
    page.get_by_test_id("second-factor-code").fill(code)
    page.get_by_test_id("second-factor-submit").click()


def _session_cookies(page: Page) -> list[Any]:
    return [c for c in page.context.cookies() if c["name"].endswith(sessions.SESSION_COOKIE)]


def _refused(page: Page, code: str) -> None:
    _second_step(page, code)
    page.wait_for_url(SECOND_STEP_ERROR)
    expect(page.get_by_test_id("second-factor-error")).to_contain_text("That code is not valid")
    assert _session_cookies(page) == []


def _enrol_in_browser(page: Page) -> tuple[str, str, list[str]]:
    """Account security → set up: read the key as a person would, type the app's code; returns what was shown."""
    page.get_by_test_id("nav-security").click()
    page.wait_for_url(SECURITY_URL)
    expect(page.get_by_test_id("mfa-status")).to_have_text("No second factor")
    page.get_by_test_id("mfa-enrol").click()
    page.wait_for_url(re.compile(r".*/account/security/enrol\??$"))
    expect(page.get_by_test_id("enrol-qr")).to_be_visible()
    seed = plain_seed(page.get_by_test_id("enrol-secret").inner_text())
    first_code = code_at(seed)
    page.get_by_test_id("enrol-code").fill(first_code)
    page.get_by_test_id("enrol-submit").click()
    expect(page.get_by_test_id("recovery-code")).to_have_count(10)
    codes = page.get_by_test_id("recovery-code").all_inner_texts()
    page.get_by_test_id("recovery-continue").click()
    page.wait_for_url(SECURITY_URL)
    expect(page.get_by_test_id("mfa-status")).to_have_text("Authenticator set up")
    expect(page.get_by_test_id("recovery-codes-left")).to_have_text("10 recovery codes left")
    return seed, first_code, codes


def test_totp_enrolment_and_sign_in_refusing_wrong_windows_and_reuse_and_the_canary_sweep(
        browser: Browser, web_app: str) -> None:
    owner = make_actor("owner")
    page = _new_page(browser, web_app)
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))))
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: frames.append(str(payload))))
    _password_step(page, owner.email)
    page.wait_for_url(HOME_URL)  # no authenticator yet: the password alone still signs in

    seed, first_code, recovery_codes = _enrol_in_browser(page)

    page.get_by_test_id("logout").click()
    page.wait_for_url(re.compile(r".*/login/?$"))
    _password_step(page, owner.email)
    page.wait_for_url(SECOND_STEP_URL)
    assert _session_cookies(page) == []  # a right password alone opens nothing
    (challenge,) = page.context.cookies()
    assert challenge["httpOnly"] and challenge["sameSite"] == "Strict" and challenge["path"] == "/auth"
    _refused(page, first_code)  # used at enrolment: refused within its window (and after it)
    _refused(page, code_at(seed, -4))  # two minutes old
    _refused(page, code_at(seed, +4))  # two minutes ahead
    _second_step(page, code_at(seed, +1))
    page.wait_for_url(HOME_URL)
    assert len(_session_cookies(page)) == 1
    # Back on the account page, the owner sees the audit trail of the enrolment.
    page.get_by_test_id("nav-audit").click()
    expect(page.get_by_text("mfa.enrolled").first).to_be_visible()
    html = page.content()
    page.context.close()

    # The canary sweep: the seed and the recovery codes are nowhere Atlas keeps or sends anything.
    assert len(frames) > 5
    needles = {**{f"seed/{k}": v for k, v in encodings(seed).items()},
               "seed/base32-bytes-b64": base64.b64encode(base64.b32decode(seed)).decode().rstrip("="),
               "seed/raw-hex": base64.b32decode(seed).hex(),
               **{f"recovery/{i}": code for i, code in enumerate(recovery_codes)},
               **{f"recovery-plain/{i}": code.replace("-", "") for i, code in enumerate(recovery_codes)}}
    web_output = "\n".join(path.read_text(errors="replace") for path in WEB_LOGS if path.exists())
    stores = {"websocket frames": "\n".join(frames), "page HTML": html, "web output": web_output,
              "pg_dump": pg_dump_text(), "redis": redis_text()}
    # The haystacks are real: what Atlas does keep and send is in them.
    assert owner.email in stores["pg_dump"] and owner.email in stores["websocket frames"]
    found = [f"{where}: {name}" for where, text in stores.items() for name, needle in needles.items()
             if needle in text or needle.lower() in text.lower()]
    assert found == []


def test_a_recovery_code_signs_in_once(browser: Browser, web_app: str) -> None:
    owner = make_actor("owner")
    seed = mfa.enrolment_offer(owner).secret.reveal()
    codes = mfa.confirm_enrolment(owner, code_at(seed))
    page = _new_page(browser, web_app)
    _password_step(page, owner.email)
    page.wait_for_url(SECOND_STEP_URL)
    _second_step(page, codes[0])
    page.wait_for_url(HOME_URL)
    page.get_by_test_id("logout").click()
    page.wait_for_url(re.compile(r".*/login/?$"))

    _password_step(page, owner.email)
    page.wait_for_url(SECOND_STEP_URL)
    _refused(page, codes[0])  # spent
    _second_step(page, codes[1])
    page.wait_for_url(HOME_URL)
    page.goto("/account/security")
    expect(page.get_by_test_id("recovery-codes-left")).to_have_text("8 recovery codes left")
    page.context.close()


def test_an_owner_requires_mfa_and_a_member_sets_it_up_at_sign_in(browser: Browser, web_app: str) -> None:
    owner = make_actor("owner")
    email = f"member-{random_suffix()}@example.test"
    join_tenant(owner, email=email, role="operator")

    page = _new_page(browser, web_app)
    _password_step(page, owner.email)
    page.wait_for_url(HOME_URL)
    page.goto("/account/security")
    switch = page.get_by_test_id("mfa-required-switch")
    expect(switch).to_have_attribute("data-state", "unchecked")
    switch.click()
    expect(page.get_by_test_id("notice")).to_contain_text("must now use a second factor")
    expect(switch).to_have_attribute("data-state", "checked")
    page.context.close()

    member = _new_page(browser, web_app)
    _password_step(member, email)
    member.wait_for_url("**/auth/enrol")
    assert _session_cookies(member) == []
    seed = plain_seed(member.get_by_test_id("enrol-secret").inner_text())
    member.get_by_test_id("enrol-code").fill(code_at(seed, -5))  # from the wrong window
    member.get_by_test_id("enrol-submit").click()
    expect(member.get_by_test_id("enrol-error")).to_contain_text("not valid")
    assert _session_cookies(member) == []
    member.get_by_test_id("enrol-code").fill(code_at(seed))
    member.get_by_test_id("enrol-submit").click()
    expect(member.get_by_test_id("recovery-code")).to_have_count(10)
    member.get_by_test_id("recovery-continue").click()
    member.wait_for_url(HOME_URL)
    expect(member.get_by_test_id("tenant-name")).to_contain_text(owner.tenant_name)
    member.context.close()
