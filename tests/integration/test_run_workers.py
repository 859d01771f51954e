"""`atlas run --workers M`: M `atlas worker` processes, each consuming the queue, each in its own process group,
and the supervisor's watch returns as soon as any one of them dies (which stops the whole run)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from atlas_cli.supervisor import spawn_workers, stop_process_group, watch
from atlas_services.runs.queries import get_run
from atlas_sim.fleet import fleet_connection_seeds, fleet_scenario
from atlas_sim.server import start_in_thread
from tests.support.factories import create_connection, make_actor
from tests.support.processes import ATLAS, ROOT, run_cli
from tests.support.scale import get, wait_for


def test_run_starts_m_worker_processes_and_one_dying_ends_the_watch(db: None, tmp_path: Path) -> None:
    workers = spawn_workers(dict(os.environ), tmp_path, 3)
    try:
        assert len({proc.pid for proc in workers}) == 3
        for number in range(1, 4):
            log = tmp_path / f"worker-{number}.log"
            wait_for(f"worker {number}", lambda log=log: log.exists() and "consumer started" in log.read_text(),
                     timeout=60)
        assert all(os.getpgid(proc.pid) == proc.pid for proc in workers)  # each its own group
        assert all(proc.poll() is None for proc in workers)
        os.killpg(workers[1].pid, signal.SIGKILL)
        dead = watch(workers, interval=0.05)
        assert dead == [workers[1].args]
        assert workers[0].poll() is None and workers[2].poll() is None
    finally:
        for proc in workers:
            stop_process_group(proc, grace=5)


def test_run_refuses_a_worker_count_out_of_range() -> None:
    for count in ("0", "33"):
        result = run_cli("run", "--workers", count)
        assert result.returncode == 2 and "--workers" in result.stderr, result.stderr


def test_m_worker_processes_share_the_sqlite_queue_of_atlas_run(db: None, tmp_path: Path) -> None:
    """`atlas run`'s default queue is huey's SQLite file (no ATLAS_REDIS_URL): M processes share it, and every run
    started through the CLI is executed once, by one of them."""
    owner = make_actor("owner")
    seeds = fleet_connection_seeds(6)
    made = [create_connection(owner, name=s.display_name, entra_tenant_id=s.entra_tenant_id, client_id=s.client_id,
                              secret=s.client_secret) for s in seeds]
    with start_in_thread(fleet_scenario(len(seeds))) as sim:
        env = {key: value for key, value in os.environ.items() if key != "ATLAS_REDIS_URL"}
        env.update(ATLAS_DATA_DIR=str(tmp_path), ATLAS_SIMULATOR_URL=sim.base_url)
        workers = spawn_workers(env, tmp_path, 3)
        try:
            for number, proc in enumerate(workers, start=1):
                log = tmp_path / f"worker-{number}.log"
                wait_for(f"worker {number}", lambda log=log: log.exists() and "consumer started" in log.read_text(),
                         timeout=60, proc=proc, log=log)
            run_ids = []
            for connection in made:
                started = subprocess.run([ATLAS, "op", "start", "health_check", "--tenant", owner.tenant_name,
                                          "--as", owner.email, "--connection", str(connection.id), "--json"],
                                         env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)
                assert started.returncode == 0, started.stderr
                run_ids.append(json.loads(started.stdout)["run_id"])
            assert (tmp_path / "huey.sqlite3").exists()

            def ended() -> bool:
                return all(get_run(owner, run_id).status not in ("queued", "running") for run_id in run_ids)

            wait_for("every run to end", ended, timeout=120)
            assert {get_run(owner, run_id).status for run_id in run_ids} == {"succeeded"}
            tokens = json.loads(get(urlsplit(sim.base_url).port or 0, "/_sim/stats")[1])["token_requests_by_tenant"]
            assert tokens == {s.entra_tenant_id: 1 for s in seeds}  # each run executed once
        finally:
            for proc in workers:
                stop_process_group(proc, grace=5)
