"""`atlas run` leaves no orphans (issue 10): whatever stops it (Ctrl-C, SIGTERM, a closed terminal's SIGHUP, or
SIGKILL), no process of the run is left after 15 s, the embedded PostgreSQL leaves no postmaster.pid, and a second
`atlas run` then starts cleanly. SIGHUP comes as a closed terminal sends it: `atlas run` runs in a pseudo-terminal
that the test closes (its output then has nowhere to go, and the stop must go on). A second `atlas run` beside a
running one says so in one line (exit status 2), and `--replace` stops the first. A foreign program on a port is
named, with the setting that picks another port.

Each test runs the real `atlas run` (embedded PostgreSQL, SQLite queue, simulator, worker) in a data directory of
its own on free ports, with a stand-in for the Reflex web process (tests/support/run_web_stub.py: it ignores
SIGTERM, as `reflex run` does without a terminal, and has a grandchild); one runs the real `reflex run`. The
processes of a run are found through the marker `atlas run` puts in their environment, and through their process
groups.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from atlas_cli.proc_scan import RUN_MARKER, command_line, environment, port_free
from atlas_cli.watchdog import group_members, postmaster_pid, process_alive
from tests.support.processes import ATLAS, ROOT
from tests.support.web_build import START_TIMEOUT as WEB_START_TIMEOUT
from tests.support.web_build import build_turn

START_TIMEOUT = 90.0
GONE_WITHIN = 15.0
STUB_WEB = "{python} -m tests.support.run_web_stub {port}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Run:
    """One `atlas run` started by a test: its data directory, ports and the processes it was seen with."""

    data_dir: Path
    web_port: int = field(default_factory=_free_port)
    sim_port: int = field(default_factory=_free_port)
    started: list[subprocess.Popen[str]] = field(default_factory=list)
    seen_pids: set[int] = field(default_factory=set)
    seen_groups: set[int] = field(default_factory=set)
    real_web: bool = False  # the real `reflex run` (its own .web/ build) instead of the stand-in

    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items()
               if key not in ("ATLAS_DATABASE_URL", "ATLAS_REDIS_URL", RUN_MARKER, "ATLAS_RUN_WEB_COMMAND")}
        env.update(ATLAS_DATA_DIR=str(self.data_dir), ATLAS_WEB_PORT=str(self.web_port),
                   ATLAS_SIMULATOR_URL=f"http://127.0.0.1:{self.sim_port}", PYTHONUNBUFFERED="1")
        if self.real_web:
            env.update(REFLEX_WEB_WORKDIR=str(self.data_dir.parent / "web"), REFLEX_STATE_MANAGER_MODE="memory")
        else:
            env["ATLAS_RUN_WEB_COMMAND"] = STUB_WEB
        return env

    def start(self, *args: str, terminal: bool = False) -> subprocess.Popen[str]:
        """`atlas run` in a session of its own, output to a log file; with ``terminal``, in a pseudo-terminal that
        is its controlling terminal (``proc.hang_up()`` closes it, as closing a terminal window does)."""
        log = self.data_dir.parent / f"{self.data_dir.name}-run-{len(self.started) + 1}.log"
        if terminal:
            proc = _start_in_terminal([ATLAS, "run", *args], self.env(), log)
        else:
            with open(log, "w") as out:
                proc = subprocess.Popen([ATLAS, "run", *args], cwd=ROOT, env=self.env(), stdout=out,
                                        stderr=subprocess.STDOUT, text=True, start_new_session=True)
        proc.log = log  # type: ignore[attr-defined]
        self.started.append(proc)
        return proc

    def wait_serving(self, proc: subprocess.Popen[str], timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while "Press Ctrl-C to stop everything" not in self.output(proc):
            assert proc.poll() is None, f"atlas run exited with {proc.returncode}:\n{self.output(proc)}"
            assert time.monotonic() < deadline, f"atlas run did not start:\n{self.output(proc)}"
            time.sleep(0.2)
        self.record()

    def output(self, proc: subprocess.Popen[str]) -> str:
        return Path(proc.log).read_text(errors="replace")  # type: ignore[attr-defined]

    def marked(self) -> list[int]:
        """Live processes carrying this run's marker (PostgreSQL's backends overwrite theirs: see record)."""
        found = []
        for name in os.listdir("/proc"):
            if name.isdigit() and environment(int(name)).get(RUN_MARKER) == str(self.data_dir.resolve()):
                if process_alive(int(name)):
                    found.append(int(name))
        return found

    def record(self) -> None:
        """Remember every process of the running Atlas and its process group (PostgreSQL's through its pid file)."""
        pids = self.marked()
        postmaster = postmaster_pid(self.data_dir / "postgres")
        assert postmaster is not None and postmaster in pids, "the embedded PostgreSQL is not running"
        assert len(pids) >= 6, pids  # watchdog, postgres, simulator, worker, web stand-in and its grandchild
        self.seen_pids |= set(pids)
        self.seen_groups |= {os.getpgid(pid) for pid in pids if process_alive(pid)}

    def leftovers(self) -> list[str]:
        left = [f"pid {pid}" for pid in sorted(self.seen_pids | set(self.marked())) if process_alive(pid)]
        left += [f"group {pgid}: {group_members(pgid)}" for pgid in sorted(self.seen_groups) if group_members(pgid)]
        if (self.data_dir / "postgres" / "postmaster.pid").exists():
            left.append("postmaster.pid")
        return left

    def assert_all_gone(self, within: float = GONE_WITHIN) -> float:
        began = time.monotonic()
        while self.leftovers() and time.monotonic() - began < within:
            time.sleep(0.2)
        assert not self.leftovers(), f"left after {within:.0f} s: {self.leftovers()}"
        return time.monotonic() - began

    def stop_all(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
        self.assert_all_gone()


def _start_in_terminal(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    master, slave = pty.openpty()

    def controlling_terminal() -> None:  # runs in the child, after setsid
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdin=slave, stdout=slave, stderr=slave, text=True,
                            start_new_session=True, preexec_fn=controlling_terminal)
    os.close(slave)

    closing = threading.Event()
    log.touch()

    def copy() -> None:  # drain the terminal into the log (a full terminal buffer would block the writer)
        with open(log, "wb", buffering=0) as out:
            while not closing.is_set():
                if not select.select([master], [], [], 0.1)[0]:
                    continue
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    return
                if not chunk:
                    return
                out.write(chunk.replace(b"\r\n", b"\n"))

    reader = threading.Thread(target=copy, daemon=True)
    reader.start()

    def hang_up() -> None:
        """Close the terminal: the reader lets go of it first (the hangup comes with the last close)."""
        closing.set()
        reader.join()
        os.close(master)

    proc.hang_up = hang_up  # type: ignore[attr-defined]
    return proc


@pytest.fixture
def atlas_run(tmp_path: Path) -> Iterator[Run]:
    run = Run(tmp_path / "data")
    run.data_dir.mkdir()
    try:
        yield run
    finally:
        for proc in run.started:
            if proc.poll() is None:
                proc.kill()
        for pgid in run.seen_groups:
            if group_members(pgid):
                os.killpg(pgid, signal.SIGKILL)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL],
                         ids=lambda sig: sig.name)
def test_a_signal_to_atlas_run_leaves_no_process_and_a_second_run_starts_cleanly(atlas_run: Run,
                                                                                  sig: signal.Signals) -> None:
    hang_up = sig == signal.SIGHUP  # the real thing: the terminal closes, the kernel sends SIGHUP
    first = atlas_run.start(terminal=hang_up)
    atlas_run.wait_serving(first)

    if hang_up:
        first.hang_up()  # type: ignore[attr-defined]
    else:
        os.kill(first.pid, sig)
    took = atlas_run.assert_all_gone()
    first.wait(timeout=5)
    assert first.returncode == (-signal.SIGKILL if sig == signal.SIGKILL else 0), atlas_run.output(first)
    print(f"{sig.name}: every process of the run gone in {took:.1f} s")

    second = atlas_run.start()
    atlas_run.wait_serving(second)
    assert "address already in use" not in atlas_run.output(second).lower()
    atlas_run.stop_all()


def test_sigkill_of_atlas_run_with_the_real_reflex_web_leaves_no_process(atlas_run: Run) -> None:
    """The same with `reflex run` itself, whose backend and frontend tooling are grandchildren of `atlas run` that
    ignore SIGTERM: the watchdog stops them. (The second start uses the stand-in: a second build adds minutes.)"""
    atlas_run.real_web = True
    with build_turn():  # builds of this checkout take turns (they write files in the project root)
        first = atlas_run.start()
        atlas_run.wait_serving(first, timeout=WEB_START_TIMEOUT)
    reflex = [pid for pid in atlas_run.marked() if "bin/reflex run" in command_line(pid, limit=4096)]
    assert reflex, "no reflex process in the run"

    os.kill(first.pid, signal.SIGKILL)
    took = atlas_run.assert_all_gone()
    print(f"SIGKILL with reflex: every process of the run gone in {took:.1f} s")

    atlas_run.real_web = False
    second = atlas_run.start()
    atlas_run.wait_serving(second)
    atlas_run.stop_all()


def test_a_second_run_beside_a_running_one_says_so_in_one_line_and_replace_stops_the_first(atlas_run: Run) -> None:
    first = atlas_run.start()
    atlas_run.wait_serving(first)

    second = atlas_run.start()
    assert second.wait(timeout=30) == 2
    errors = [line for line in atlas_run.output(second).splitlines() if line.startswith("error:")]
    assert errors == [f"error: Atlas is already running from this checkout (pid {first.pid}, "
                      f"http://127.0.0.1:{atlas_run.web_port}, data in {atlas_run.data_dir.resolve()}); stop it, "
                      f"or use `atlas run --replace` to stop it and start"], atlas_run.output(second)
    assert first.poll() is None  # untouched
    assert atlas_run.marked(), "the refused start stopped the running Atlas"

    first_pids = set(atlas_run.marked())
    third = atlas_run.start("--replace")
    atlas_run.wait_serving(third)
    assert first.wait(timeout=5) == 0
    assert f"stopping the running Atlas (pid {first.pid})" in atlas_run.output(third)
    assert not [pid for pid in first_pids if process_alive(pid)]
    atlas_run.stop_all()


def test_orphans_of_an_earlier_atlas_holding_the_port_are_named_and_replace_stops_them(atlas_run: Run) -> None:
    """An earlier Atlas whose supervisor and watchdog both died (an older Atlas, a `kill -9` of both) left its web
    process holding the port: the next start names it, and `--replace` stops what is left."""
    first = atlas_run.start()
    atlas_run.wait_serving(first)
    watchdogs = [pid for pid in atlas_run.marked() if "atlas_cli.watchdog" in command_line(pid)]
    assert len(watchdogs) == 1
    os.kill(watchdogs[0], signal.SIGKILL)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=5)
    time.sleep(0.5)  # the web stand-in ignores its parent-death SIGTERM, as `reflex run` does: it holds the port

    second = atlas_run.start()
    assert second.wait(timeout=30) == 2
    out = atlas_run.output(second)
    assert f"error: an earlier Atlas of this checkout still holds port {atlas_run.web_port} (the web UI; pid" in out
    assert "`atlas run --replace` stops it" in out

    third = atlas_run.start("--replace")
    atlas_run.wait_serving(third)
    atlas_run.stop_all()


def test_a_foreign_program_on_the_web_port_is_named_with_the_setting_to_pick_another(atlas_run: Run,
                                                                                      tmp_path: Path) -> None:
    foreign = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(atlas_run.web_port)],
                               cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while port_free("127.0.0.1", atlas_run.web_port):
            assert time.monotonic() < deadline and foreign.poll() is None, "the foreign server did not start"
            time.sleep(0.1)
        proc = atlas_run.start()
        assert proc.wait(timeout=30) == 2
    finally:
        foreign.kill()
        foreign.wait()
    out = atlas_run.output(proc)
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, out
    assert errors[0].startswith(f"error: port {atlas_run.web_port} (the web UI) is in use by pid {foreign.pid} ("
                                f"{sys.executable} -m http.server"), out
    assert "not by this Atlas; stop it, or pick another port: ATLAS_WEB_PORT=" in errors[0]
    assert not (atlas_run.data_dir / "postgres").exists()  # refused before starting anything
    assert not atlas_run.marked()
