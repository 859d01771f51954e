"""The canary sweep over JSON logs: real `atlas` processes (the CLI and a worker) run with ATLAS_LOG_FORMAT=json at
DEBUG (httpx, MSAL and huey included) while a unique client secret is sealed, opened, used for tokens and refused;
then every line they wrote must be one JSON object, the lines of a run must name its run and tenant, and no
encoding of either canary may appear anywhere in the output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from atlas_services.db import session_scope
from atlas_services.models import OperationRun, RunStatus
from tests.support.canary import encodings
from tests.support.processes import ATLAS, ROOT, run_cli
from tests.support.simulated_cloud import serving

TENANT = "9a3c1f0e-5b7d-4c2a-8e61-3f4d2c1b0a97"
APP = "c0ffee00-4321-4abc-8def-0123456789ac"
CANARY = f"CANARY~{uuid.uuid4().hex}"
WRONG_CANARY = f"CANARY~{uuid.uuid4().hex}"
JSON_LOGS = {"ATLAS_LOG_FORMAT": "json", "ATLAS_LOG_LEVEL": "DEBUG"}
NEEDLES = {**{f"secret/{k}": v for k, v in encodings(CANARY).items()},
           **{f"wrong-secret/{k}": v for k, v in encodings(WRONG_CANARY).items()}}


@pytest.fixture
def simulator() -> Iterator[Any]:
    scenario = {"name": "canary-logs", "tenants": [{
        "id": TENANT, "display_name": "Log Canary Corp", "verified_domains": [{"name": "logcanary.onmicrosoft.com"}],
        "intune": {"devices": 12, "configurations": 1, "compliance_policies": 1, "mobile_apps": 1},
        "apps": [{"client_id": APP, "display_name": "Atlas (log canary)",
                  "permissions": ["Organization.Read.All", "Application.Read.All",
                                  "DeviceManagementManagedDevices.Read.All", "DeviceManagementConfiguration.Read.All",
                                  "DeviceManagementApps.Read.All"],
                  "secrets": [{"value": CANARY}]}]}]}
    with serving(scenario) as running:
        yield running


def _cli(*args: str, stdin: str | None = None, stderr: list[str]) -> subprocess.CompletedProcess[str]:
    result = run_cli(*args, stdin=stdin, env=JSON_LOGS, timeout=90)
    assert result.returncode == 0, result.stderr
    stderr.append(result.stderr)
    return result


def _terminal(run_id: uuid.UUID, timeout: float = 90.0) -> dict[str, Any]:
    """Wait on the run's row (not on the CLI, not on a log line) until it reaches a terminal status."""
    deadline = time.monotonic() + timeout
    while True:
        with session_scope() as session:
            run = session.get(OperationRun, run_id)
            assert run is not None
            if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
                return {"run_id": str(run.id), "tenant_id": str(run.tenant_id), "status": run.status,
                        "reason_code": run.reason_code}
        assert time.monotonic() < deadline, f"run {run_id} still {run.status} after {timeout}s"
        time.sleep(0.2)


def _stop_gracefully(worker: subprocess.Popen[str]) -> None:
    """SIGINT is huey's graceful stop: the task in hand ends, the worker's loops finish their pass, the process
    exits and its output is flushed. (SIGTERM stops at once: a line being written could be cut short.)"""
    if worker.poll() is None:
        worker.send_signal(signal.SIGINT)
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        pytest.fail("the worker did not stop within 30 s of SIGINT")


def _json_lines(text: str, where: str) -> list[dict[str, Any]]:
    parsed = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            parsed.append(json.loads(line))
        except ValueError:
            pytest.fail(f"{where}: a line that is not JSON: {line[:200]!r}")
    return parsed


def test_every_line_is_json_names_its_run_and_tenant_and_carries_no_secret(
        db: None, huey_queue: Any, simulator: Any, tmp_path: Path) -> None:
    cli_stderr: list[str] = []
    owner = ["--tenant", "Log Canary MSP", "--as", "owner@logcanary.test"]
    tenant = json.loads(_cli("tenant", "create", "Log Canary MSP", "--json", stderr=cli_stderr).stdout)
    _cli("user", "create", "--email", "owner@logcanary.test", "--tenant", "Log Canary MSP", "--role", "owner",
         stdin="long enough password", stderr=cli_stderr)
    connections = {}
    for name, secret in (("good", CANARY), ("wrong", WRONG_CANARY)):
        made = _cli("connection", "create", *owner, "--name", name, "--entra-tenant-id", TENANT, "--client-id", APP,
                    "--cloud", "simulator", "--json", stdin=secret, stderr=cli_stderr)
        connections[name] = json.loads(made.stdout)["connection"]["id"]

    # To a file, not a pipe: at DEBUG a pipe nobody reads until the end fills up and stalls the worker.
    log_file = tmp_path / "worker.log"
    with log_file.open("w") as sink:
        worker = subprocess.Popen([ATLAS, "worker"], cwd=ROOT, env={**os.environ, **JSON_LOGS},
                                  start_new_session=True, stdout=sink, stderr=subprocess.STDOUT, text=True)
    runs: dict[str, dict[str, Any]] = {}
    try:
        for name, op_type in (("good", "health_check"), ("good", "inventory_sync"), ("wrong", "health_check")):
            started = json.loads(_cli("op", "start", op_type, "--connection", connections[name], *owner, "--json",
                                      stderr=cli_stderr).stdout)
            assert started["outcome"] == "started", started
            # One at a time (two runs on one connection would be "scope_busy"), each to its end in the database.
            runs[f"{name}/{op_type}"] = _terminal(uuid.UUID(started["run_id"]))
    finally:
        _stop_gracefully(worker)
    # Read only now: the worker has exited, so every line it wrote is whole and on disk.
    worker_output = log_file.read_text()
    assert worker.returncode == 0, worker_output[-2000:]

    assert runs["good/health_check"]["status"] == "succeeded", runs
    assert runs["good/inventory_sync"]["status"] == "succeeded", runs
    assert runs["wrong/health_check"]["reason_code"] == "auth.invalid_client_secret", runs

    worker_lines = _json_lines(worker_output, "worker")
    cli_lines = [line for text in cli_stderr for line in _json_lines(text, "cli")]
    tenant_id = tenant["id"]
    for key, run in runs.items():
        run_id = run["run_id"]
        about = [line for line in worker_lines if line.get("run_id") == run_id]
        assert about, f"no worker line names run {key}"
        assert {line.get("tenant_id") for line in about} == {tenant_id}, f"a line of run {key} names no tenant"
        # A line whose text mentions the run is bound to it (it was logged inside the run's context).
        mentioning = [line for line in worker_lines if run_id in line["message"]]
        assert all(line.get("run_id") == run_id for line in mentioning), mentioning
    assert any(line["logger"].startswith("httpx") for line in worker_lines)  # DEBUG really reached the libraries
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in worker_lines + cli_lines)

    everything = worker_output + "\n".join(cli_stderr)
    assert [name for name, needle in NEEDLES.items() if needle in everything] == []
    assert [name for name, needle in NEEDLES.items() if needle in f"x{CANARY}x{WRONG_CANARY}"] != []  # self-check
