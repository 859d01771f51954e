"""The canary sweep for Sign in with Microsoft: the sign-in app's client secret (a unique canary) goes in through
the CLI (stdin), a sign-in runs through the simulator (the redemption task enqueued in Redis, the worker's
begin/redeem, a refusal with a wrong tid), and then no encoding of the secret, nor of the authorization code, is
found in a full pg_dump, any log line, the CLI's output or Redis; a sealed secret copied onto another tenant's row
does not open there."""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from typer.testing import CliRunner

from atlas_cli.main import app as cli
from atlas_jobs.sso import enqueue_redeem
from atlas_services import gateway, invitations, sso_sign_in, sso_worker
from atlas_services.db import session_scope
from atlas_services.errors import ProviderError
from atlas_services.models.sso import SsoConfig
from atlas_services.reasons import ReasonCode
from atlas_sim.server import RunningSimulator
from tests.support.canary import encodings, pg_dump_text, redis_text
from tests.support.factories import PASSWORD, make_actor
from tests.support.simulated_cloud import serving

SECRET = f"CANARY~{uuid.uuid4().hex}"
ENTRA_TENANT = str(uuid.uuid4())
CLIENT_ID = str(uuid.uuid4())
REDIRECT = "http://127.0.0.1:3000/auth/sso/callback"
USER = "canary.user@canary.example"


@pytest.fixture
def canary_cloud() -> Iterator[RunningSimulator]:
    scenario = {"name": "sso-canary", "tenants": [{
        "id": ENTRA_TENANT, "display_name": "Canary", "verified_domains": [{"name": "canary.example", "default": True}],
        "users": [{"email": USER}],
        "apps": [{"client_id": CLIENT_ID, "display_name": "Atlas sign-in", "secrets": [{"value": SECRET}]}]}]}
    with serving(scenario) as running:
        yield running


def _to_callback(workspace: str) -> tuple[uuid.UUID, str, dict[str, str]]:
    browser = secrets.token_urlsafe(16)
    flow_id = sso_sign_in.start(workspace, browser, REDIRECT)
    sso_worker.begin_flow(flow_id)
    view = sso_sign_in.poll(flow_id, browser)
    assert view.auth_uri
    query = {k: v[0] for k, v in parse_qs(urlsplit(view.auth_uri).query).items()}
    # This client plays the browser (not Atlas): its own debug log of the redirect is kept out of the haystack.
    quiet = [logging.getLogger(name) for name in ("httpx", "httpcore")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.WARNING)
    try:
        with httpx.Client() as client:
            answer = client.post(view.auth_uri.split("?")[0], data=query | {"login": USER})
    finally:
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)
    return flow_id, browser, {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()}


def test_the_sign_in_secret_and_code_reach_no_log_no_dump_no_redis(
        db: None, huey_queue: object, canary_cloud: RunningSimulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    owner = make_actor("owner")
    invitations.invite_member(owner, email=USER, role="operator", password=PASSWORD)
    outputs = []
    result = CliRunner().invoke(cli, ["sso", "set", "--entra-tenant-id", ENTRA_TENANT, "--client-id", CLIENT_ID,
                                      "--cloud", "simulator", "--tenant", owner.tenant_name, "--as", owner.email,
                                      "--json"], input=SECRET)
    assert result.exit_code == 0, result.output
    outputs += [result.output, CliRunner().invoke(cli, ["sso", "show", "--tenant", owner.tenant_name, "--as",
                                                        owner.email, "--json"]).output]
    codes = []
    # A sign-in that succeeds, its redemption task waiting in Redis as a real huey task would.
    flow_id, browser, answer = _to_callback(owner.tenant_name)
    codes.append(answer["code"])
    sso_sign_in.callback(str(flow_id), browser, answer)
    enqueue_redeem(flow_id)
    sso_worker.redeem_flow(flow_id)
    assert sso_sign_in.poll(flow_id, browser).status == sso_sign_in.DONE
    # One refused for a wrong tid, one whose code is replayed.
    flow_id, browser, answer = _to_callback(owner.tenant_name)
    codes.append(answer["code"])
    sso_sign_in.callback(str(flow_id), browser, answer)
    with canary_cloud.id_token_fault("wrong_tid"):
        sso_worker.redeem_flow(flow_id)
    assert sso_sign_in.poll(flow_id, browser).reason_code == ReasonCode.SSO_WRONG_TENANT
    flow_id, browser, answer = _to_callback(owner.tenant_name)
    sso_sign_in.callback(str(flow_id), browser, answer | {"code": codes[0]})
    sso_worker.redeem_flow(flow_id)
    assert sso_sign_in.poll(flow_id, browser).reason_code == ReasonCode.SSO_CODE_REFUSED

    # The sealed secret copied onto another tenant's row does not open there.
    other = make_actor("owner")
    with session_scope() as session:
        row = session.get(SsoConfig, owner.tenant_id)
        assert row is not None
        session.add(SsoConfig(tenant_id=other.tenant_id, cloud=row.cloud, entra_tenant_id=row.entra_tenant_id,
                              client_id=row.client_id, kind=row.kind, ciphertext=row.ciphertext, nonce=row.nonce,
                              key_id=row.key_id, hint=row.hint))
    with pytest.raises(ProviderError) as refused:
        gateway.sso_sign_in_app(other.tenant_id)
    assert refused.value.code == ReasonCode.CREDENTIAL_UNAVAILABLE

    logs = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    stores = {"logs": logs, "pg_dump": pg_dump_text(), "redis": redis_text(), "cli": "\n".join(outputs)}
    assert str(flow_id) in stores["pg_dump"] and "sso_redeem" in stores["redis"]  # the haystacks are real
    needles = {f"secret {k}": v for k, v in encodings(SECRET).items()}
    needles |= {f"code{i} {k}": v for i, code in enumerate(codes) for k, v in encodings(code).items()}
    found = [f"{where}: {name}" for where, text in stores.items() for name, needle in needles.items()
             if needle.lower() in text.lower()]
    leaks = [f"{r.name}: {r.getMessage()[:300]}" for r in caplog.records if any(c in r.getMessage() for c in codes)]
    assert found == [], leaks[:4]
