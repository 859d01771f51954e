"""The canary sweep for authenticator seeds and recovery codes (issue 11): a user enrols, signs in with a code and a
recovery code, fails on every refusal path (wrong code, reused code, foreign challenge, a seed that does not open,
throttled), is reset by the CLI, and then no encoding of the seed or of any recovery code is found in any log line
(every logger, DEBUG and up), a full pg_dump, or Redis. The browser half is tests/e2e/test_second_factor.py."""

from __future__ import annotations

import base64
import logging
import re

import pytest
from sqlalchemy import update
from sqlmodel import col, select
from starlette.applications import Starlette
from starlette.testclient import TestClient
from typer.testing import CliRunner

from atlas_app.auth_routes import build_auth_api
from atlas_app.mfa_routes import build_mfa_api
from atlas_cli.main import app as cli
from atlas_services.db import session_scope
from atlas_services.models.mfa import TotpEnrolment
from tests.support.canary import encodings, pg_dump_text, redis_text
from tests.support.factories import PASSWORD, make_actor
from tests.support.totp import code_at, plain_seed

ORIGIN = {"Origin": "http://testserver"}


def _client() -> TestClient:
    return TestClient(Starlette(routes=[*build_auth_api().routes, *build_mfa_api().routes]), follow_redirects=False)


def test_seeds_and_recovery_codes_reach_no_log_no_dump_and_no_redis(
        db: None, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    owner, victim = make_actor("owner"), make_actor("owner")
    client = _client()
    login = client.post("/auth/login", data={"email": owner.email, "password": PASSWORD}, headers=ORIGIN)
    assert login.headers["location"] == "/connections"
    page = client.get("/account/security/enrol")
    shown = re.search(r"data-testid='enrol-secret'>([A-Z2-7 ]+)<", page.text)
    assert shown
    seed = plain_seed(shown.group(1))
    client.post("/account/security/enrol", data={"code": "000001"}, headers=ORIGIN)  # wrong
    done = client.post("/account/security/enrol", data={"code": code_at(seed)}, headers=ORIGIN)
    codes = re.findall(r"data-testid='recovery-code'>([a-z2-7-]+)<", done.text)
    assert len(codes) == 10

    signer = _client()
    signer.post("/auth/login", data={"email": owner.email, "password": PASSWORD}, headers=ORIGIN)
    for code in (code_at(seed), code_at(seed, -6), "garbage", codes[0]):  # reused, stale, malformed, then good
        signer.post("/auth/second-factor", data={"code": code}, headers=ORIGIN)
    signer.cookies.clear()
    signer.post("/auth/login", data={"email": owner.email, "password": PASSWORD}, headers=ORIGIN)
    signer.post("/auth/second-factor", data={"code": codes[0]}, headers=ORIGIN)  # spent
    signer.post("/auth/second-factor", data={"code": code_at(seed, +1)}, headers=ORIGIN)
    _client().post("/auth/second-factor", data={"code": code_at(seed, +1)}, headers=ORIGIN)  # no challenge

    # A seed that does not open (copied onto another user's row): the refusal path logs its type only.
    with session_scope() as session:
        row = session.exec(select(TotpEnrolment).where(TotpEnrolment.user_id == owner.user_id)).one()
        session.add(TotpEnrolment(user_id=victim.user_id, ciphertext=row.ciphertext, nonce=row.nonce,
                                  key_id=row.key_id, confirmed_at=row.confirmed_at))
    broken = _client()
    broken.post("/auth/login", data={"email": victim.email, "password": PASSWORD}, headers=ORIGIN)
    assert broken.post("/auth/second-factor", data={"code": code_at(seed, +2)}, headers=ORIGIN
                       ).headers["location"] == "/login/second-factor?error=2"
    for _ in range(6):  # throttled
        broken.post("/auth/second-factor", data={"code": "123456"}, headers=ORIGIN)
    with session_scope() as session:
        session.execute(update(TotpEnrolment).where(col(TotpEnrolment.user_id) == victim.user_id)
                        .values(last_used_step=0))
    assert CliRunner().invoke(cli, ["mfa", "reset", victim.email, "--tenant", victim.tenant_name,
                                    "--as", victim.email]).exit_code == 0

    needles = {**{f"seed/{k}": v for k, v in encodings(seed).items()},
               "seed/bytes-hex": base64.b32decode(seed).hex(),
               "seed/bytes-base64": base64.b64encode(base64.b32decode(seed)).decode().rstrip("="),
               **{f"recovery/{i}": c.replace("-", "") for i, c in enumerate(codes)},
               **{f"recovery-shown/{i}": c for i, c in enumerate(codes)}}
    logs = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert "second sign-in step failed: ProviderError" in logs  # the haystack is real
    stores = {"logs": logs, "pg_dump": pg_dump_text(), "redis": redis_text()}
    found = [f"{where}: {name}" for where, text in stores.items() for name, needle in needles.items()
             if needle.lower() in text.lower()]
    assert found == []
