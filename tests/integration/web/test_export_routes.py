"""GET /exports/* (issue 10): a session is required and re-authorized on every download; every parameter is
validated (400 with a clear line); another tenant's connection is a 404 exactly like a missing one; the answer
is a streamed attachment with the export's media type, a filename and no caching."""

from __future__ import annotations

import uuid

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from atlas_app.export_routes import build_export_api
from atlas_services import sessions
from atlas_services.authz import Actor
from tests.support.exports import TenantWorld, parse, seed_tenant


def _client(actor: Actor | None = None) -> TestClient:
    client = TestClient(Starlette(routes=build_export_api().routes))
    if actor is not None:
        client.cookies.set(sessions.SESSION_COOKIE, sessions.open_session(actor.user_id, actor.tenant_id))
    return client


@pytest.fixture
def alpha(db: None) -> TenantWorld:
    return seed_tenant("alpha")


@pytest.fixture
def beta(db: None) -> TenantWorld:
    return seed_tenant("beta")


@pytest.mark.parametrize("path", ["/exports/audit?format=csv", "/exports/runs?format=json",
                                  f"/exports/inventory?format=csv&connection={uuid.UUID(int=7)}"])
def test_no_session_or_a_stale_one_is_401(db: None, path: str) -> None:
    assert _client().get(path).status_code == 401
    stale = _client()
    stale.cookies.set(sessions.SESSION_COOKIE, "not-a-session")
    answer = stale.get(path)
    assert (answer.status_code, answer.text) == (401, "Sign in first.")


def test_a_csv_download_is_a_streamed_attachment_of_the_tenants_rows(alpha: TenantWorld, beta: TenantWorld
                                                                     ) -> None:
    answer = _client(alpha.actors["readonly"]).get("/exports/runs?format=csv&status=failed&operation=all")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="atlas-alpha-') and disposition.endswith('.csv"')
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-content-type-options"] == "nosniff"
    rows = parse("csv", answer.text)
    assert rows and {row["status"] for row in rows} == {"failed"}
    assert {row["id"] for row in rows} <= set(alpha.run_ids)


def test_json_is_ndjson_and_inventory_honours_the_views_filters(alpha: TenantWorld) -> None:
    answer = _client(alpha.actors["operator"]).get(
        f"/exports/inventory?format=json&connection={alpha.connection_id}&kind=mobile_app&search=item%20001"
        "&removed=0")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    assert answer.headers["content-disposition"].endswith('.ndjson"')
    assert [row["display_name"] for row in parse("json", answer.text)] == ["alpha item 001"]


def test_capability_refusals_are_403(alpha: TenantWorld) -> None:
    answer = _client(alpha.actors["operator"]).get("/exports/audit?format=csv")
    assert (answer.status_code, answer.text) == (403, "You lack the 'audit.view' permission for this action.")


@pytest.mark.parametrize("path", ["/exports/runs?format=csv&connection={c}",
                                  "/exports/inventory?format=csv&connection={c}"])
def test_another_tenants_connection_is_404_like_a_missing_one(alpha: TenantWorld, beta: TenantWorld,
                                                              path: str) -> None:
    client = _client(alpha.actors["owner"])
    foreign, missing = (client.get(path.format(c=c)) for c in (beta.connection_id, uuid.uuid4()))
    assert (foreign.status_code, foreign.text) == (missing.status_code, missing.text) == (404, "Connection not found.")


@pytest.mark.parametrize(("query", "says"), [
    ("/exports/audit", "format must be one of: csv, json."),
    ("/exports/audit?format=xml", "format must be one of: csv, json."),
    ("/exports/audit?format=csv&status=failed", "Unknown parameter: status."),
    ("/exports/runs?format=csv&format=json", "Parameter format is given more than once."),
    ("/exports/runs?format=csv&connection=../../etc", "connection must be a connection id."),
    ("/exports/runs?format=csv&status=exploded", "Status must be one of:"),
    ("/exports/runs?format=csv&operation=drop", "Operation must be one of:"),
    ("/exports/inventory?format=csv", "The inventory export needs a connection."),
    ("/exports/inventory?format=csv&connection={c}&kind=users", "Kind must be one of:"),
    ("/exports/inventory?format=csv&connection={c}&removed=yes", "removed must be 0 or 1."),
    ("/exports/inventory?format=csv&connection={c}&search=" + "x" * 101, "Search is at most 100 characters."),
])
def test_bad_parameters_are_400_with_a_clear_line(alpha: TenantWorld, query: str, says: str) -> None:
    answer = _client(alpha.actors["owner"]).get(query.format(c=alpha.connection_id))
    assert answer.status_code == 400
    assert answer.text.startswith(says), answer.text


def test_only_get(alpha: TenantWorld) -> None:
    assert _client(alpha.actors["owner"]).post("/exports/audit?format=csv").status_code == 405
