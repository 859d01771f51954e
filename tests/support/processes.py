"""The real `atlas` console script, run against the test database: one command, or a worker for a block."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from atlas_cli.supervisor import stop_process_group

ROOT = Path(__file__).resolve().parents[2]
ATLAS = str(Path(sys.executable).with_name("atlas"))


def run_cli(*args: str, stdin: str | None = None, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the real `atlas` console script against the test database."""
    return subprocess.run([ATLAS, *args], input=stdin, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=ROOT)


@contextmanager
def running_worker() -> Iterator[subprocess.Popen[str]]:
    """A real `atlas worker` process consuming the test queue, for as long as the block runs.

    Start the simulator first (its URL reaches the worker through os.environ).
    """
    proc = subprocess.Popen([ATLAS, "worker", "--workers", "2"], cwd=ROOT, env=dict(os.environ),
                            start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        yield proc
    finally:
        stop_process_group(proc, grace=5)  # type: ignore[arg-type]
