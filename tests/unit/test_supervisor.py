"""`atlas run` must stop every child, even ones that ignore SIGTERM (as `reflex run` does without a TTY), and leave
none behind when it is itself killed (issue 10)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from atlas_cli.proc_scan import port_free, port_holders
from atlas_cli.run_guard import Port, StartRefused, guard_start
from atlas_cli.supervisor import spawn, stop_process_group
from atlas_cli.watchdog import Watchdog, group_members, remove_stale_postmaster_pid

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


# --- issue 10: no orphans -----------------------------------------------------------------------------------------

ORPHAN_MAKER = """
import subprocess, sys, time
from atlas_cli.watchdog import die_with_parent
# SIGTERM at its default (a disposition ignored in this test process would be inherited):
child = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_DFL); "
                          "time.sleep(600)"], preexec_fn=die_with_parent())
print(child.pid, flush=True)
time.sleep(600)
"""


def _wait_dead(pid: int, seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(pid)


def test_a_child_started_with_die_with_parent_dies_when_its_parent_is_sigkilled() -> None:
    parent = subprocess.Popen([sys.executable, "-c", ORPHAN_MAKER], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert _alive(child)
    parent.kill()
    parent.wait()
    assert _wait_dead(child), f"the child outlived its SIGKILLed parent: {Path(f'/proc/{child}/status').read_text()}"


def test_a_child_without_it_would_have_survived() -> None:
    """The test above can fail: without the parent-death signal the child lives on."""
    parent = subprocess.Popen([sys.executable, "-c", ORPHAN_MAKER.replace(", preexec_fn=die_with_parent()", "")],
                              stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    try:
        assert not _wait_dead(child, seconds=1)
    finally:
        os.kill(child, signal.SIGKILL)


def test_the_watchdog_stops_recorded_groups_when_its_pipe_closes(tmp_path: Path) -> None:
    stubborn = subprocess.Popen([sys.executable, "-c", STUBBORN], start_new_session=True, stdout=subprocess.PIPE,
                                text=True)
    assert stubborn.stdout is not None
    grandchild = int(stubborn.stdout.readline())
    watchdog = Watchdog(tmp_path / "watchdog.log")
    watchdog.guard_group(stubborn.pid)
    started = time.monotonic()
    watchdog.close()  # as when the supervisor dies: end of file
    stubborn.wait(timeout=5)
    assert _wait_dead(grandchild) and not group_members(stubborn.pid)
    assert time.monotonic() - started < 10
    assert f"stopping process groups [{stubborn.pid}]" in (tmp_path / "watchdog.log").read_text()


def test_a_stale_postmaster_pid_is_removed_and_a_live_one_kept(tmp_path: Path) -> None:
    pid_file = tmp_path / "postmaster.pid"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    pid_file.write_text(f"{dead.pid}\n{tmp_path}\n")
    assert remove_stale_postmaster_pid(tmp_path) and not pid_file.exists()
    # A pid reused by a process that is not this data directory's postgres (here: this test) is stale too.
    pid_file.write_text(f"{os.getpid()}\n{tmp_path}\n")
    assert remove_stale_postmaster_pid(tmp_path) and not pid_file.exists()
    assert not remove_stale_postmaster_pid(tmp_path)  # no file: nothing to do


def test_a_second_start_on_one_data_dir_is_refused_in_one_line_while_the_lock_is_held(tmp_path: Path) -> None:
    first = guard_start(tmp_path, [], replace=False, url="http://127.0.0.1:3000")
    try:
        with pytest.raises(StartRefused) as refused:
            guard_start(tmp_path, [], replace=False, url="http://127.0.0.1:3000")
        message = str(refused.value)
        assert "\n" not in message
        assert f"Atlas is already running from this checkout (pid {os.getpid()}, http://127.0.0.1:3000" in message
        assert "`atlas run --replace`" in message
    finally:
        os.close(first)
    os.close(guard_start(tmp_path, [], replace=False, url="http://127.0.0.1:3000"))  # free again


def test_a_busy_port_is_named_with_its_holder_and_the_setting_to_pick_another(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        assert not port_free("127.0.0.1", port) and port_holders(port) == [os.getpid()]
        with pytest.raises(StartRefused) as refused:
            guard_start(tmp_path, [Port(port, "127.0.0.1", "the simulator", "ATLAS_SIMULATOR_URL=http://127.0.0.1:"
                                                                             "{port}")], replace=False, url="u")
    message = str(refused.value)
    assert message.startswith(f"port {port} (the simulator) is in use by pid {os.getpid()} (")
    assert "pick another port: ATLAS_SIMULATOR_URL=http://127.0.0.1:" in message
    os.close(guard_start(tmp_path, [], replace=False, url="u"))  # a refused start released the lock
