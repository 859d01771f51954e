"""The canary sweep for Sign in with Microsoft's credentials, beside test_canary_sso.py (issue 11): it adds a wrong
secret, a certificate's private key and the pages the routes answer. The sign-in app's client secret (and, later, a
certificate's private key) goes in through the CLI (stdin or a file), people sign in through the real routes and a
simulator over real HTTP (the worker's begin/redeem called in-process; the queued tasks stay in Redis), refusals
happen on every path (wrong tid, tampered state, replayed callback, a wrong secret, a sealed secret copied onto
another tenant's row), the keys are re-sealed, and then no encoding of the secret, the wrong secret, the private
key or any authorization code is found in any log line (DEBUG and up), a full pg_dump, Redis, the CLI's output
or any page the routes answered."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient
from typer.testing import CliRunner

from atlas_app.sso_routes import build_sso_api
from atlas_cli.main import app as cli
from atlas_services import credentials, invitations, sso_worker
from atlas_services.db import session_scope
from atlas_services.models import Tenant
from atlas_services.models.sso import SsoConfig
from atlas_sim.server import RunningSimulator
from tests.support.canary import encodings, key_fingerprints, pg_dump_text, redis_text
from tests.support.certificates import make_certificate
from tests.support.factories import PASSWORD, make_actor
from tests.support.simulated_cloud import serving

TENANT = "8a3c1f70-5b2e-4d19-a6c4-2e9f0b7d3c15"
APP = "5ca1ab1e-0000-4abc-8def-0123456789cd"
CANARY = f"SSO-CANARY~{uuid.uuid4().hex}"
WRONG_CANARY = f"SSO-WRONG~{uuid.uuid4().hex}"
KEY = make_certificate("atlas-sso-canary", key_index=8)
PERSON = "grace@canarycorp.test"


@pytest.fixture
def sso_simulator() -> Iterator[RunningSimulator]:
    scenario = {"name": "sso-canary", "tenants": [{
        "id": TENANT, "display_name": "Canary Corp", "verified_domains": [{"name": "canarycorp.test"}],
        "apps": [{"client_id": APP, "display_name": "Atlas sign-in (canary)", "secrets": [{"value": CANARY}],
                  "certificates": [KEY.certificate_pem]}],
        "users": [{"email": PERSON, "display_name": "Grace Hopper"}]}]}
    with serving(scenario) as running:
        yield running


@contextmanager
def _browser_side() -> Iterator[None]:
    """The test's own HTTP clients (playing the browser) log the URLs they visit, code included, at DEBUG: that is
    the browser's history, not Atlas's. Atlas's web routes make no HTTP call, so nothing of Atlas is hidden."""
    names = [name for name in list(logging.root.manager.loggerDict) if name.split(".")[0] in ("httpx", "httpcore")]
    loggers = [logging.getLogger(name) for name in {"httpx", "httpcore", *names}]
    for logger in loggers:
        logger.disabled = True
    try:
        yield
    finally:
        for logger in loggers:
            logger.disabled = False


class Browser:
    """The routes in-process (a cookie jar of their own) and the simulator's form over real HTTP."""

    def __init__(self) -> None:
        self.client = TestClient(Starlette(routes=build_sso_api().routes), follow_redirects=False)
        self.pages: list[str] = []
        self.codes: list[str] = []
        self.callbacks: list[str] = []

    def get(self, path: str) -> httpx.Response:
        with _browser_side():
            response = self.client.get(path)
        self.pages.append(f"{response.status_code} {response.headers.get('location', '')} {response.text}")
        return response

    def to_callback(self, workspace: str, *, tamper: bool = False) -> str:
        assert self.get(f"/auth/sso/start?workspace={workspace}").headers["location"] == "/auth/sso/wait"
        flow_id = uuid.UUID(self.client.cookies["atlas_sso_flow"].split(".")[0])
        sso_worker.begin_flow(flow_id)  # what the queued sso_begin does in a worker
        auth_uri = self.get("/auth/sso/wait").headers["location"]
        query = {k: v[0] for k, v in parse_qs(urlsplit(auth_uri).query).items()}
        if tamper:
            query["state"] += "x"
        with _browser_side():
            answer = httpx.post(auth_uri.split("?")[0], data=query | {"login": PERSON})
        callback = urlsplit(answer.headers["location"])
        self.codes.extend(parse_qs(callback.query)["code"])
        self.callbacks.append(f"{callback.path}?{callback.query}")
        return self.callbacks[-1]

    def sign_in(self, workspace: str, *, tamper: bool = False) -> httpx.Response:
        landed = self.get(self.to_callback(workspace, tamper=tamper))
        if landed.headers.get("location") == "/auth/sso/wait":
            flow_id = uuid.UUID(self.client.cookies["atlas_sso_flow"].split(".")[0])
            sso_worker.redeem_flow(flow_id)  # what the queued sso_redeem does
            return self.get("/auth/sso/wait")
        return landed


def _cli(outputs: list[str], *args: str, stdin: str | None = None) -> None:
    result = CliRunner().invoke(cli, ["sso", *args, "--json"], input=stdin)
    outputs.append(result.output)
    assert result.exit_code == 0, result.output


def test_the_sign_in_secret_key_and_codes_reach_no_log_no_dump_no_redis_no_page(
        db: None, huey_queue: object, sso_simulator: RunningSimulator, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    outputs: list[str] = []
    owner = make_actor("owner")
    workspace, who = owner.tenant_name, ["--tenant", owner.tenant_name, "--as", owner.email]
    invitations.invite_member(owner, email=PERSON, role="operator", password=PASSWORD)

    # A wrong secret first: Entra refuses the sign-in app itself when the code is redeemed; no session.
    _cli(outputs, "set", *who, "--entra-tenant-id", TENANT, "--client-id", APP, "--cloud", "simulator",
         stdin=WRONG_CANARY)
    browser = Browser()
    refused = browser.sign_in(workspace)
    assert "error=" in refused.headers["location"] and "atlas_session" not in refused.headers.get("set-cookie", "")

    # The right secret: a sign-in, then a tampered state, a replayed callback and a token for another tenant.
    _cli(outputs, "set", *who, "--entra-tenant-id", TENANT, "--client-id", APP, "--cloud", "simulator",
         stdin=CANARY)
    good = Browser()
    assert "atlas_session" in good.sign_in(workspace).headers["set-cookie"]
    assert "sso.flow_unknown" in good.get(good.callbacks[-1]).headers["location"]
    assert "sso.state_mismatch" in Browser().sign_in(workspace, tamper=True).headers["location"]
    with sso_simulator.id_token_fault("wrong_tid"):
        assert "sso.wrong_tenant" in Browser().sign_in(workspace).headers["location"]

    # The certificate: a sign-in with it, and the sealed secret copied onto another tenant's row does not open.
    bundle = tmp_path / "sign-in.pem"
    bundle.write_text(KEY.bundle)
    _cli(outputs, "set", *who, "--entra-tenant-id", TENANT, "--client-id", APP, "--cloud", "simulator",
         "--certificate-file", str(bundle))
    assert "atlas_session" in Browser().sign_in(workspace).headers["set-cookie"]
    other = make_actor("owner")
    with session_scope() as session:
        row = session.get(SsoConfig, owner.tenant_id)
        assert row is not None
        session.add(SsoConfig(tenant_id=other.tenant_id, cloud=row.cloud, entra_tenant_id=row.entra_tenant_id,
                              client_id=row.client_id, kind=row.kind, ciphertext=row.ciphertext, nonce=row.nonce,
                              key_id=row.key_id, hint=row.hint))
        other_name = session.get(Tenant, other.tenant_id).name  # type: ignore[union-attr]
    stranger = Browser()
    stranger.get(f"/auth/sso/start?workspace={other_name}")
    sso_worker.begin_flow(uuid.UUID(stranger.client.cookies["atlas_sso_flow"].split(".")[0]))
    assert "error=" in stranger.get("/auth/sso/wait").headers["location"]
    assert credentials.reseal_all().unavailable >= 0
    _cli(outputs, "show", *who)
    _cli(outputs, "require", *who, "on", "--break-glass", owner.email)

    needles = {**{f"secret/{k}": v for k, v in encodings(CANARY).items()},
               **{f"wrong/{k}": v for k, v in encodings(WRONG_CANARY).items()},
               **{f"key/{k}": v for k, v in key_fingerprints(KEY.private_key_pem).items()},
               **{f"code/{i}": code for i, code in enumerate([*good.codes, *browser.codes])}}
    assert good.codes
    logs = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records
                     if not r.name.startswith("atlas_sim"))
    pages = "\n".join(page for b in (browser, good, stranger) for page in b.pages)
    stores: dict[str, Any] = {"logs": logs, "pg_dump": pg_dump_text(), "redis": redis_text(),
                              "cli": "\n".join(outputs), "pages": pages}
    assert "sign in with Microsoft refused" in logs and "sso_begin" in stores["redis"]  # the haystacks are real
    found = [f"{where}: {name}" for where, text in stores.items() for name, needle in needles.items()
             if needle.lower() in text.lower()]
    assert found == [], [(r.name, r.getMessage()[:300]) for r in caplog.records
                         if any(code in r.getMessage() for code in [*good.codes, *browser.codes])]
