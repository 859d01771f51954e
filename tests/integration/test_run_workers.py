"""`atlas run --workers M`: M `atlas worker` processes, each consuming the queue, each in its own process group,
and the supervisor's watch returns as soon as any one of them dies (which stops the whole run)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from atlas_cli.supervisor import spawn_workers, stop_process_group, watch
from tests.support.processes import run_cli
from tests.support.scale import wait_for


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
