"""The canary sweep over the export routes (issue 10): a canary secret is the connection's client secret and sits
in a run's raw summary and progress and in an inventory item's raw Graph data; no download, by any role, in any
format, holds any encoding of it, and no download makes an HTTP request.
(tests/integration/test_canary_sweep.py exports, through the CLI, what real operations left behind.)"""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from atlas_app.export_routes import build_export_api
from atlas_services import sessions
from atlas_services.models import Role
from tests.support.canary import encodings
from tests.support.exports import CANARY, seed_tenant
from tests.support.outbound_guard import OutboundLog


def test_no_export_by_any_role_holds_the_canary(db: None, caplog: pytest.LogCaptureFixture,
                                                outbound: OutboundLog) -> None:
    world = seed_tenant("canary")
    bodies = []
    for role in Role:
        actor = world.actors[role.value]
        client = TestClient(Starlette(routes=build_export_api().routes))
        client.cookies.set(sessions.SESSION_COOKIE, sessions.open_session(actor.user_id, actor.tenant_id))
        for fmt in ("csv", "json"):
            for path in ("/exports/audit?", "/exports/runs?", f"/exports/inventory?connection={world.connection_id}&"):
                answer = client.get(f"{path}format={fmt}")
                assert answer.status_code in (200, 403), answer.text
                bodies.append(answer.text)
    text = "\n".join(bodies)
    assert "canary run 5" in text and "canary item 004" in text  # the sweep read real rows
    found = [name for name, needle in encodings(CANARY).items() if needle in text + caplog.text]
    assert found == []
    assert encodings(CANARY)["plain"] in f"x{CANARY}x"  # the needles match what they were made from
    assert outbound.requests == []  # an export reads PostgreSQL and calls nothing out
