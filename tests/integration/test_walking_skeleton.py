"""One run end to end: CLI start -> run row + huey task -> real worker -> MSAL token from the simulator
over HTTP -> GET /organization -> run succeeded, all on real PostgreSQL and Redis."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from atlas_sim.scenario import load_scenario
from tests.support.processes import run_cli

OWNER = "owner@demo.atlas.test"


def _start_and_wait(connection_id: str) -> dict[str, Any]:
    result = run_cli("op", "start", "health_check", "--tenant", "Demo MSP", "--as", OWNER,
                     "--connection", connection_id, "--wait", "--timeout", "60", "--json", timeout=90)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def _connection(seed_demo: dict[str, Any], name: str) -> str:
    return next(str(c["id"]) for c in seed_demo["connections"] if c["name"] == name)


def test_health_check_succeeds_through_the_worker(seed_demo: dict[str, Any],
                                                  worker: subprocess.Popen[str]) -> None:
    outcome = _start_and_wait(_connection(seed_demo, "Contoso"))
    assert (outcome["outcome"], outcome["status"], outcome["reason_code"]) == ("started", "succeeded", None)

    shown = json.loads(run_cli("op", "show", outcome["run_id"], "--tenant", "Demo MSP", "--as", OWNER,
                               "--json").stdout)["run"]
    contoso = next(t for t in load_scenario().tenants if t.display_name == "Contoso")
    assert contoso.id in json.dumps(shown["summary"])
    listed = json.loads(run_cli("connection", "list", "--tenant", "Demo MSP", "--as", OWNER, "--json").stdout)
    health = {c["name"]: c["health_status"] for c in listed["connections"]}
    assert health["Contoso"] == "healthy"


def test_expired_secret_fails_with_its_reason_code_and_no_secret_anywhere(
        seed_demo: dict[str, Any], worker: subprocess.Popen[str]) -> None:
    outcome = _start_and_wait(_connection(seed_demo, "Fabrikam"))
    assert (outcome["status"], outcome["reason_code"]) == ("failed", "auth.client_secret_expired")

    shown = json.loads(run_cli("op", "show", outcome["run_id"], "--tenant", "Demo MSP", "--as", OWNER,
                               "--json").stdout)["run"]
    assert shown["remediation"]
    secrets = [s.value for t in load_scenario().tenants for a in t.apps for s in a.secrets]
    worker.terminate()
    output, _ = worker.communicate(timeout=20)
    for secret in secrets:
        assert secret not in json.dumps(shown) and secret not in output
