"""`atlas run` must stop every child, even ones that ignore SIGTERM (as `reflex run` does without a TTY)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from atlas_cli.supervisor import spawn, stop_process_group

IGNORE_SIGTERM = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN)"
STUBBORN = f"""
import subprocess, sys
{IGNORE_SIGTERM}
child = subprocess.Popen([sys.executable, "-c", "{IGNORE_SIGTERM}; time.sleep(600)"])
print(child.pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose: it runs no code.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"


def test_stop_process_group_kills_a_child_ignoring_sigterm_and_its_children() -> None:
    proc = subprocess.Popen([sys.executable, "-c", STUBBORN], start_new_session=True, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    grandchild = int(proc.stdout.readline())
    assert _alive(proc.pid) and _alive(grandchild)

    started = time.monotonic()
    stop_process_group(proc, grace=0.5)  # type: ignore[arg-type]

    assert proc.returncode is not None
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)
    assert time.monotonic() - started < 5


def test_spawn_starts_children_in_their_own_process_group() -> None:
    proc = spawn([sys.executable, "-c", "import time; time.sleep(30)"], dict(os.environ))
    try:
        assert os.getpgid(proc.pid) == proc.pid != os.getpgid(0)
    finally:
        stop_process_group(proc, grace=1)
