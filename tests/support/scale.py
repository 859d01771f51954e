"""Real processes for the scale-out test: the simulator serving a fleet, `atlas worker`s and `atlas web`s.

Each process is started the way an operator starts it (the `atlas` console script, or `reflex run` through
``web_command``), in its own process group, logging to a file, and is stopped with its whole group.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from atlas_cli.supervisor import stop_process_group, web_command, web_environment
from atlas_sim.fleet import fleet_scenario_data
from tests.support.processes import ATLAS, ROOT
from tests.support.web_build import START_TIMEOUT, build_turn, tail


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """GET http://127.0.0.1:port/path with http.client (the outbound guard records httpx/urllib as the code
    under test's requests; a harness probe is not one). (0, b"") when nothing answers."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    except OSError:
        return 0, b""
    finally:
        conn.close()


def wait_for(what: str, predicate: Callable[[], bool], timeout: float, interval: float = 0.2,
             proc: subprocess.Popen[bytes] | None = None, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: the process exited with {proc.returncode}\n{tail(log) if log else ''}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{tail(log) if log else ''}")
        time.sleep(interval)


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(args, cwd=ROOT, env=env, start_new_session=True, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


class FleetSimulator:
    """`atlas simulator` serving ``tenants`` fleet tenants from a scenario file, on a free port."""

    def __init__(self, tenants: int, workdir: Path, faults: list[dict[str, Any]] | None = None) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "simulator.log"
        scenario = workdir / "fleet.yaml"
        scenario.write_text(yaml.safe_dump(fleet_scenario_data(tenants, faults=faults)), encoding="utf-8")
        self.proc = _start([ATLAS, "simulator", "--port", str(self.port), "--scenario", str(scenario)],
                           dict(os.environ), self.log)
        wait_for("the simulator", lambda: get(self.port, "/_sim/stats")[0] == 200, timeout=60,
                 proc=self.proc, log=self.log)

    def stats(self) -> dict[str, Any]:
        status, body = get(self.port, "/_sim/stats")
        assert status == 200, status
        result: dict[str, Any] = json.loads(body)
        return result

    def stop(self) -> None:
        stop_process_group(self.proc, grace=5)


def spawn_worker(log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """An `atlas worker` (two threads, its reaper and its scheduler loop), as `atlas run --workers M` starts each of
    its M; ``wait_until_consuming`` waits for it."""
    return _start([ATLAS, "worker"], env, log)


def wait_until_consuming(proc: subprocess.Popen[bytes], log: Path) -> None:
    wait_for(f"the worker logging to {log.name}", lambda: "consumer started" in log.read_text(errors="replace"),
             timeout=60, proc=proc, log=log)


def scheduler_tick(log: Path) -> subprocess.Popen[bytes]:
    """`atlas scheduler tick --json`: one more scheduling pass, beside the workers' loops."""
    return _start([ATLAS, "scheduler", "tick", "--json"], dict(os.environ), log)


@contextmanager
def web_process(log: Path, public_port: int) -> Iterator[int]:
    """`reflex run --env prod --single-port` (what `atlas web` runs) on a free port, with the environment
    `atlas web` gives it (the Redis state manager when ATLAS_REDIS_URL is set); yields its port.

    Browsers reach it through a load balancer on ``public_port``: its pages open their websocket there
    (``REFLEX_API_URL``) and it accepts that origin (``ATLAS_WEB_ORIGINS``). Its own .web/ folder (a build embeds
    the backend's address), and builds take turns with every other build of this checkout
    (tests/support/web_build.py).
    """
    port = free_port()
    web_dir = Path(tempfile.mkdtemp(prefix="atlas-scale-web-"))
    env = web_environment()
    env.pop("REFLEX_STATE_MANAGER_MODE", None)
    env.update(ATLAS_WEB_PORT=str(port), PYTHONUNBUFFERED="1", REFLEX_WEB_WORKDIR=str(web_dir),
               REFLEX_API_URL=f"http://localhost:{public_port}", ATLAS_WEB_ORIGINS=f"http://127.0.0.1:{public_port}")
    proc: subprocess.Popen[bytes] | None = None
    try:
        with build_turn():
            proc = _start(web_command(port, "127.0.0.1"), env, log)
            wait_for(f"the web process on port {port}",
                     lambda: get(port, "/ping")[0] == 200 and get(port, "/login/")[0] == 200,
                     timeout=START_TIMEOUT, interval=0.5, proc=proc, log=log)
        yield port
    finally:
        if proc is not None:
            stop_process_group(proc, grace=5)
        shutil.rmtree(web_dir, ignore_errors=True)
