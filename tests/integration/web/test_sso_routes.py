"""Sign in with Microsoft's plain HTTP routes on their own: a callback or a wait without this browser's live flow
(no cookie, garbage, an unknown flow, another browser's token for a real flow) is refused, and none of them sets
a session cookie."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from atlas_app.sso_routes import build_sso_api
from atlas_services import sso_config
from tests.support.factories import make_actor


def _client() -> TestClient:
    return TestClient(Starlette(routes=build_sso_api().routes), follow_redirects=False)


@pytest.mark.parametrize("cookie", [None, "", "garbage", "not-a-uuid.token",
                                    "00000000-0000-0000-0000-000000000000.token"])
@pytest.mark.parametrize("path", ["/auth/sso/callback?code=abc&state=def", "/auth/sso/wait"])
def test_without_this_browsers_live_flow_nothing_happens(db: None, cookie: str | None, path: str) -> None:
    client = _client()
    if cookie is not None:
        client.cookies.set("atlas_sso_flow", cookie)
    response = client.get(path)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?error=sso.flow_unknown"
    assert "atlas_session" not in response.headers.get("set-cookie", "")


def test_another_browsers_flow_is_unknown_here(db: None, huey_queue: Any) -> None:
    owner = make_actor("owner")
    sso_config.configure(owner, cloud="simulator", entra_tenant_id="8a3c1f70-5b2e-4d19-a6c4-2e9f0b7d3c15",
                         client_id="5ca1ab1e-0000-4abc-8def-0123456789cd", client_secret="a-long-enough-secret")
    started = _client()
    assert started.get(f"/auth/sso/start?workspace={owner.tenant_name}").headers["location"] == "/auth/sso/wait"
    flow_id = started.cookies["atlas_sso_flow"].split(".")[0]
    assert started.get("/auth/sso/wait").status_code == 200  # still starting: the waiting page
    thief = _client()
    thief.cookies.set("atlas_sso_flow", f"{flow_id}.another-browsers-token")
    assert thief.get("/auth/sso/wait").headers["location"] == "/login?error=sso.flow_unknown"
    unknown = _client().get("/auth/sso/start?workspace=no-such-workspace")
    assert unknown.headers["location"] == "/login?error=sso.not_configured"
