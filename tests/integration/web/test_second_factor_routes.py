"""The second factor's HTTP routes (issue 11): after a right password only a challenge cookie (HttpOnly,
SameSite=Strict, scoped to /auth), the session only after a right code; replayed codes, missing or foreign
challenges and cross-site posts get a clear refusal and no session cookie; enrolment pages are never cached."""

from __future__ import annotations

import re

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from atlas_app.auth_routes import build_auth_api
from atlas_app.mfa_routes import CHALLENGE_COOKIE, build_mfa_api
from atlas_services import mfa, sessions
from atlas_services.authz import Actor
from tests.support.factories import PASSWORD, make_actor
from tests.support.totp import code_at, plain_seed

ORIGIN = {"Origin": "http://testserver"}


def _client() -> TestClient:
    app = Starlette(routes=[*build_auth_api().routes, *build_mfa_api().routes])
    return TestClient(app, follow_redirects=False)


def _enrolled(actor: Actor) -> str:
    seed = mfa.enrolment_offer(actor).secret.reveal()
    mfa.confirm_enrolment(actor, code_at(seed))
    return seed


def _password_step(client: TestClient, actor: Actor) -> str:
    response = client.post("/auth/login", data={"email": actor.email, "password": PASSWORD}, headers=ORIGIN)
    assert response.status_code == 303
    return response.headers["location"]


def _cookie_header(response: object, name: str) -> str:
    headers = response.headers.get_list("set-cookie")  # type: ignore[attr-defined]
    return next((h for h in headers if h.startswith(f"{name}=")), "")


def test_a_right_password_gives_only_a_challenge_cookie_and_a_right_code_the_session(db: None) -> None:
    owner = make_actor("owner")
    seed = _enrolled(owner)
    client = _client()
    response = client.post("/auth/login", data={"email": owner.email, "password": PASSWORD}, headers=ORIGIN)
    assert response.headers["location"] == "/login/second-factor"
    assert not _cookie_header(response, sessions.SESSION_COOKIE)
    challenge = _cookie_header(response, CHALLENGE_COOKIE)
    assert "HttpOnly" in challenge and "SameSite=strict" in challenge and "Path=/auth" in challenge
    done = client.post("/auth/second-factor", data={"code": code_at(seed, +1)}, headers=ORIGIN)
    assert done.headers["location"] == "/connections"
    token = re.match(rf"{sessions.SESSION_COOKIE}=([^;]+)", _cookie_header(done, sessions.SESSION_COOKIE))
    assert token and sessions.actor_for_session(token.group(1)) == owner
    assert _cookie_header(done, CHALLENGE_COOKIE).startswith(f'{CHALLENGE_COOKIE}="";')  # cleared
    # The same challenge, replayed (the browser kept a copy): gone.
    client.cookies.set(CHALLENGE_COOKIE, challenge.split(";")[0].split("=", 1)[1], path="/auth")
    again = client.post("/auth/second-factor", data={"code": code_at(seed, +1)}, headers=ORIGIN)
    assert again.headers["location"] == "/login?error=4" and not _cookie_header(again, sessions.SESSION_COOKIE)


def test_a_reused_code_a_wrong_window_and_no_challenge_get_no_session(db: None) -> None:
    owner = make_actor("owner")
    seed = _enrolled(owner)
    client = _client()
    _password_step(client, owner)
    assert client.post("/auth/second-factor", data={"code": code_at(seed, +1)}, headers=ORIGIN
                       ).headers["location"] == "/connections"
    client.cookies.clear()
    _password_step(client, owner)
    for code in (code_at(seed, +1), code_at(seed, -5), "not-a-code"):
        refused = client.post("/auth/second-factor", data={"code": code}, headers=ORIGIN)
        assert refused.headers["location"] == "/login/second-factor?error=1", code
        assert not _cookie_header(refused, sessions.SESSION_COOKIE)
    stranger = _client()
    gone = stranger.post("/auth/second-factor", data={"code": code_at(seed, +1)}, headers=ORIGIN)
    assert gone.headers["location"] == "/login?error=4" and not _cookie_header(gone, sessions.SESSION_COOKIE)


def test_cross_site_second_steps_are_refused(db: None) -> None:
    owner = make_actor("owner")
    seed = _enrolled(owner)
    client = _client()
    _password_step(client, owner)
    forged = client.post("/auth/second-factor", data={"code": code_at(seed, +1)},
                         headers={"Origin": "https://evil.example"})
    assert forged.status_code == 403 and not _cookie_header(forged, sessions.SESSION_COOKIE)


def test_a_tenant_requiring_mfa_sends_a_member_without_one_to_enrol_then_signs_them_in(db: None) -> None:
    owner = make_actor("owner")
    mfa.set_policy(owner, True)
    client = _client()
    assert _password_step(client, owner) == "/auth/enrol"
    page = client.get("/auth/enrol")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    shown = re.search(r"data-testid='enrol-secret'>([A-Z2-7 ]+)<", page.text)
    assert shown and "data:image/svg+xml;base64," in page.text
    seed = plain_seed(shown.group(1))
    wrong = client.post("/auth/enrol", data={"code": "12"}, headers=ORIGIN)
    assert wrong.headers["location"] == "/auth/enrol?error=1" and not _cookie_header(wrong, sessions.SESSION_COOKIE)
    done = client.post("/auth/enrol", data={"code": code_at(seed)}, headers=ORIGIN)
    assert done.status_code == 200 and done.headers["cache-control"] == "no-store"
    assert done.text.count("data-testid='recovery-code'") == 10
    assert _cookie_header(done, sessions.SESSION_COOKIE)
    # The seed is never shown again.
    assert client.get("/auth/enrol").headers["location"] == "/login?error=4"


@pytest.mark.parametrize("path", ["/account/security/enrol"])
def test_signed_in_routes_send_strangers_to_sign_in(db: None, path: str) -> None:
    assert _client().get(path).headers["location"] == "/login"
    assert _client().post("/account/security/remove", data={"proof": "x"}, headers=ORIGIN
                          ).headers["location"] == "/login"


def test_a_signed_in_user_sets_up_and_removes_an_authenticator(db: None) -> None:
    owner = make_actor("owner")
    client = _client()
    client.cookies.set(sessions.SESSION_COOKIE, sessions.authenticate(owner.email, PASSWORD))
    page = client.get("/account/security/enrol")
    shown = re.search(r"data-testid='enrol-secret'>([A-Z2-7 ]+)<", page.text)
    assert shown
    seed = plain_seed(shown.group(1))
    done = client.post("/account/security/enrol", data={"code": code_at(seed)}, headers=ORIGIN)
    assert done.text.count("data-testid='recovery-code'") == 10 and mfa.status(owner).enrolled
    assert client.get("/account/security/enrol").headers["location"] == "/account/security?outcome=already"
    wrong = client.post("/account/security/remove", data={"proof": "nope"}, headers=ORIGIN)
    assert wrong.headers["location"] == "/account/security?outcome=wrong" and mfa.status(owner).enrolled
    cross = client.post("/account/security/remove", data={"proof": PASSWORD}, headers={"Origin": "https://x.test"})
    assert cross.status_code == 403 and mfa.status(owner).enrolled
    removed = client.post("/account/security/remove", data={"proof": PASSWORD}, headers=ORIGIN)
    assert removed.headers["location"] == "/account/security?outcome=removed" and not mfa.status(owner).enrolled


def test_new_recovery_codes_need_a_current_code_and_retire_the_old_ones(db: None) -> None:
    owner = make_actor("owner")
    seed = mfa.enrolment_offer(owner).secret.reveal()
    old_codes = mfa.confirm_enrolment(owner, code_at(seed))
    client = _client()
    client.cookies.set(sessions.SESSION_COOKIE, sessions.authenticate(owner.email, PASSWORD))
    wrong = client.post("/account/security/recovery-codes", data={"code": code_at(seed)}, headers=ORIGIN)  # reused
    assert wrong.headers["location"] == "/account/security?outcome=wrong-code"
    cross = client.post("/account/security/recovery-codes", data={"code": code_at(seed, +1)},
                        headers={"Origin": "https://x.test"})
    assert cross.status_code == 403
    renewed = client.post("/account/security/recovery-codes", data={"code": code_at(seed, +1)}, headers=ORIGIN)
    assert renewed.status_code == 200 and renewed.headers["cache-control"] == "no-store"
    new_codes = re.findall(r"data-testid='recovery-code'>([a-z2-7-]+)<", renewed.text)
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    signer = _client()
    signer.post("/auth/login", data={"email": owner.email, "password": PASSWORD}, headers=ORIGIN)
    assert signer.post("/auth/second-factor", data={"code": old_codes[0]}, headers=ORIGIN
                       ).headers["location"] == "/login/second-factor?error=1"
    assert signer.post("/auth/second-factor", data={"code": new_codes[0]}, headers=ORIGIN
                       ).headers["location"] == "/connections"
