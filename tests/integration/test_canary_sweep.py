"""The canary sweep: a unique secret and a unique private key go in through the CLI, every operation runs on its
success, auth-error, timeout and unexpected-exception paths, and then no encoding of either is found anywhere
Atlas writes: a full pg_dump, every log line, the worker's output, every Redis key and value, and every export
(audit log, run history, inventory; CSV and JSON).

The browser path (form input and every websocket frame) is swept by tests/e2e/test_canary_ui.py.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from atlas_services.graph import tokens
from atlas_services.runs.execute import execute_run
from tests.support.canary import encodings, key_fingerprints, pg_dump_text, redis_text
from tests.support.certificates import make_certificate
from tests.support.processes import ATLAS, ROOT, run_cli
from tests.support.simulated_cloud import serving

TENANT = "5d1e9c2a-0b7f-4e3a-9c61-7f2e8d4a1b90"
APP = "c0ffee00-1234-4abc-8def-0123456789ab"
CANARY = f"CANARY~{uuid.uuid4().hex}"
WRONG_CANARY = f"CANARY~{uuid.uuid4().hex}"
KEY = make_certificate("atlas-canary", key_index=4)


NEEDLES = {**{f"secret/{k}": v for k, v in encodings(CANARY).items()},
           **{f"wrong-secret/{k}": v for k, v in encodings(WRONG_CANARY).items()},
           **{f"key/{k}": v for k, v in key_fingerprints(KEY.private_key_pem).items()}}


def hits(haystack: str, where: str) -> list[str]:
    return [f"{where}: {name}" for name, needle in NEEDLES.items() if needle in haystack]


@pytest.fixture
def canary_simulator() -> Iterator[Any]:
    scenario = {"name": "canary", "tenants": [{
        "id": TENANT, "display_name": "Canary Corp", "verified_domains": [{"name": "canarycorp.onmicrosoft.com"}],
        "intune": {"devices": 30, "configurations": 2, "compliance_policies": 2, "mobile_apps": 3},
        "apps": [{"client_id": APP, "display_name": "Atlas (canary)",
                  "permissions": ["Organization.Read.All", "Application.Read.All",
                                  "DeviceManagementManagedDevices.Read.All", "DeviceManagementConfiguration.Read.All",
                                  "DeviceManagementApps.Read.All"],
                  "secrets": [{"value": CANARY}], "certificates": [KEY.certificate_pem]}]}]}
    with serving(scenario) as running:
        yield running


OPERATIONS = ("health_check", "inventory_sync", "compliance_snapshot")


def _op(connection: str, owner: list[str], op_type: str = "health_check") -> dict[str, Any]:
    result = run_cli("op", "start", op_type, "--connection", connection, *owner, "--wait", "--timeout",
                     "60", "--json", timeout=90)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def _every_export(created: dict[str, str], owner: list[str]) -> str:
    """Every export (issue 10) in both formats, of the runs, events and items all those operations left."""
    outputs = []
    for fmt in ("csv", "json"):
        commands = [("audit", "export"), ("op", "export"),
                    *(("inventory", "export", connection) for connection in created.values())]
        for command in commands:
            result = run_cli(*command, "--format", fmt, *owner)
            assert result.returncode == 0, result.stderr
            outputs.append(result.stdout + result.stderr)
    text = "\n".join(outputs)
    assert "auth.invalid_client_secret" in text and "managed_device" in text  # the exports really hold rows
    return text


def test_canaries_never_leave_the_sealed_columns(db: None, huey_queue: Any, canary_simulator: Any,
                                                 tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    owner = ["--tenant", "Canary MSP", "--as", "owner@canary.test"]
    assert run_cli("tenant", "create", "Canary MSP").returncode == 0
    assert run_cli("user", "create", "--email", "owner@canary.test", "--tenant", "Canary MSP", "--role", "owner",
                   stdin="long enough password").returncode == 0
    created = {}
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(KEY.bundle)
    for name, extra, stdin in (("secret", [], CANARY), ("wrong", [], WRONG_CANARY),
                               ("certificate", ["--certificate-file", str(bundle)], None)):
        result = run_cli("connection", "create", *owner, "--name", name, "--entra-tenant-id", TENANT,
                         "--client-id", APP, "--cloud", "simulator", "--json", *extra, stdin=stdin)
        assert result.returncode == 0, result.stderr
        created[name] = json.loads(result.stdout)["connection"]["id"]
    bundle.unlink()

    worker_env = {**os.environ, "ATLAS_HTTP_TIMEOUT_SECONDS": "1"}
    worker = subprocess.Popen([ATLAS, "worker"], cwd=ROOT, env=worker_env, start_new_session=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        outcomes = {}
        for op_type in OPERATIONS:
            outcomes[f"{op_type}/secret"] = _op(created["secret"], owner, op_type)
            outcomes[f"{op_type}/certificate"] = _op(created["certificate"], owner, op_type)
            outcomes[f"{op_type}/auth-error"] = _op(created["wrong"], owner, op_type)
        with canary_simulator.faults([{"kind": "slow", "seconds": 3}]):
            for op_type in OPERATIONS:
                outcomes[f"{op_type}/timeout"] = _op(created["secret"], owner, op_type)
    finally:
        worker.terminate()
        worker_output, _ = worker.communicate(timeout=30)
    for op_type in OPERATIONS:
        assert outcomes[f"{op_type}/secret"]["status"] == "succeeded", outcomes
        assert outcomes[f"{op_type}/certificate"]["status"] == "succeeded", outcomes
        assert outcomes[f"{op_type}/auth-error"]["reason_code"] == "auth.invalid_client_secret", outcomes
        assert outcomes[f"{op_type}/timeout"]["status"] in ("failed", "partially_succeeded"), outcomes
    assert outcomes["health_check/timeout"]["reason_code"] == "graph.timeout"

    # The unexpected-exception path: an exception whose text carries the secret itself.
    def explode(cloud: Any, tenant: str, client: str, credential: Any) -> str:
        material = credential.private_key if hasattr(credential, "private_key") else credential
        raise RuntimeError(f"unexpected failure with {material.reveal()}")

    original = tokens.acquire_graph_token
    tokens.acquire_graph_token = explode  # type: ignore[assignment]
    try:
        for name, op_type in ((n, o) for n in ("secret", "certificate") for o in OPERATIONS):
            started = json.loads(run_cli("op", "start", op_type, "--connection", created[name], *owner,
                                         "--json").stdout)
            execute_run(uuid.UUID(started["run_id"]))
            shown = json.loads(run_cli("op", "show", started["run_id"], *owner, "--json").stdout)["run"]
            assert shown["reason_code"] == "internal.unexpected"
    finally:
        tokens.acquire_graph_token = original  # type: ignore[assignment]

    exported = _every_export(created, owner)

    dump = pg_dump_text()
    assert "Canary MSP" in dump and "internal.unexpected" in dump and "graph.timeout" in dump  # a real dump
    assert "execute_run" in worker_output  # the worker really logged its work
    found = (hits(dump, "pg_dump") + hits(worker_output, "worker output") + hits(caplog.text, "logs")
             + hits(redis_text(), "redis") + hits(exported, "exports"))
    assert found == []
    # The sweep can find what it looks for: the sealed secret was really used (a success), and the needles
    # do match the values they were made from.
    assert hits(f"x{CANARY}x {KEY.private_key_pem}", "self-check") != []
