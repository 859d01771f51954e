"""The simulator's fleet scenario and its per-tenant request counts (``GET /_sim/stats``), over real HTTP: what
the scale-out test reads to prove no run was executed twice."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
from starlette.requests import Request

from atlas_cli.supervisor import stop_process_group
from atlas_sim import stats
from atlas_sim.fleet import fleet_connection_seeds, fleet_scenario
from atlas_sim.server import RunningSimulator, start_in_thread
from tests.support.processes import ATLAS, run_cli
from tests.support.scale import free_port, get, wait_for

TENANTS = 3


@pytest.fixture(scope="module")
def fleet() -> Iterator[RunningSimulator]:
    with start_in_thread(fleet_scenario(TENANTS)) as running:
        yield running


def _stats(sim: RunningSimulator) -> dict[str, object]:
    status, body = get(urlsplit(sim.base_url).port or 0, "/_sim/stats")
    assert status == 200
    result: dict[str, object] = json.loads(body)
    return result


def _token(sim: RunningSimulator, tenant_id: str, client_id: str, secret: str) -> httpx.Response:
    return httpx.post(f"{sim.base_url}/{tenant_id}/oauth2/v2.0/token",
                      content=urlencode({"grant_type": "client_credentials", "client_id": client_id,
                                         "client_secret": secret, "scope": "https://graph.microsoft.com/.default"}),
                      headers={"content-type": "application/x-www-form-urlencoded"})


def test_every_fleet_tenant_signs_its_own_app_in_and_is_counted_apart(fleet: RunningSimulator) -> None:
    seeds = fleet_connection_seeds(TENANTS)
    assert [t.id for t in fleet.scenario.tenants] == [s.entra_tenant_id for s in seeds]
    assert len({s.entra_tenant_id for s in seeds}) == len({s.client_id for s in seeds}) == TENANTS
    before = _stats(fleet)
    first, second = seeds[0], seeds[1]
    for _ in range(2):
        token = _token(fleet, first.entra_tenant_id, first.client_id, first.client_secret)
        assert token.status_code == 200, token.text
    # Another tenant's secret opens nothing here.
    assert _token(fleet, second.entra_tenant_id, second.client_id, first.client_secret).status_code == 401
    graph = httpx.get(f"{fleet.base_url}/v1.0/organization",
                      headers={"authorization": f"Bearer {token.json()['access_token']}"})
    assert graph.status_code == 200, graph.text

    after = _stats(fleet)
    tokens_before: dict[str, int] = before["token_requests_by_tenant"]  # type: ignore[assignment]
    tokens: dict[str, int] = after["token_requests_by_tenant"]  # type: ignore[assignment]
    graph_by_tenant: dict[str, int] = after["graph_requests_by_tenant"]  # type: ignore[assignment]
    assert tokens.get(first.entra_tenant_id, 0) - tokens_before.get(first.entra_tenant_id, 0) == 2
    assert tokens.get(second.entra_tenant_id, 0) - tokens_before.get(second.entra_tenant_id, 0) == 1
    assert graph_by_tenant.get(first.entra_tenant_id) == 1 and second.entra_tenant_id not in graph_by_tenant
    assert after["token_requests"] == before["token_requests"] + 3  # type: ignore[operator]


@pytest.mark.parametrize(("client", "allowed"), [("127.0.0.1", True), ("::1", True), ("10.0.0.7", False),
                                                 ("testclient", False)])
def test_stats_answer_loopback_callers_only(client: str, allowed: bool) -> None:
    request = Request({"type": "http", "method": "GET", "path": "/_sim/stats", "headers": [],
                       "client": (client, 50000)})
    assert stats._from_loopback(request) is allowed


def test_a_fleet_has_a_sane_size() -> None:
    with pytest.raises(ValueError, match="1 to"):
        fleet_scenario(0)


def test_atlas_simulator_serves_a_fleet_as_its_own_process(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "simulator.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([ATLAS, "simulator", "--port", str(port), "--fleet", "5"], stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for("the simulator", lambda: get(port, "/_sim/stats")[0] == 200, timeout=30, proc=proc, log=log)
        last = fleet_connection_seeds(5)[-1]
        token = httpx.post(f"http://127.0.0.1:{port}/{last.entra_tenant_id}/oauth2/v2.0/token",
                           data={"grant_type": "client_credentials", "client_id": last.client_id,
                                 "client_secret": last.client_secret,
                                 "scope": "https://graph.microsoft.com/.default"})
        assert token.status_code == 200, token.text
        assert json.loads(get(port, "/_sim/stats")[1])["token_requests_by_tenant"] == {last.entra_tenant_id: 1}
    finally:
        stop_process_group(proc, grace=5)


def test_atlas_simulator_takes_a_scenario_or_a_fleet_not_both(tmp_path: Path) -> None:
    result = run_cli("simulator", "--fleet", "2", "--scenario", str(tmp_path / "x.yaml"))
    assert result.returncode != 0 and "not both" in result.stderr, result.stderr
