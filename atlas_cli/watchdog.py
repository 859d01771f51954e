"""Children die with `atlas run`, even when it is SIGKILLed.

Two mechanisms, because neither covers everything alone:

- ``PR_SET_PDEATHSIG`` (Linux, through ctypes): each direct child asks the kernel for a signal when the supervisor
  dies. It does not reach grandchildren (Reflex's backend and bun, PostgreSQL, which pg_ctl starts in a session
  of its own), and `reflex run` ignores SIGTERM without a terminal.
- A pipe watchdog: a tiny process (this module, ``python -m atlas_cli.watchdog``) reading a pipe whose write end
  only the supervisor holds. The supervisor tells it, one line each, the process groups it starts and the
  embedded PostgreSQL's data directory. End of file (the supervisor exited, however it exited) -> it stops every
  recorded group (SIGTERM, then SIGKILL) and the PostgreSQL (pg_ctl stop, then signals) so that no stale
  postmaster.pid is left. After an orderly stop that finds nothing left to do.

The watchdog also holds the run lock (run_guard), so the lock is free only once everything is cleaned up.
This module imports nothing but the standard library: the watchdog starts in a few milliseconds.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

PR_SET_PDEATHSIG = 1
GROUP_GRACE_SECONDS = 3.0  # the supervisor is gone: no one waits for a graceful end
POSTGRES_STOP_SECONDS = 20


def set_parent_death_signal(sig: int) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent dies; False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None]:
    """A ``preexec_fn`` for Popen: the child gets ``sig`` when the process that spawned it dies.

    If that process died between fork and prctl (no signal would ever come), the child exits at once.
    """
    parent = os.getpid()

    def preexec() -> None:
        set_parent_death_signal(sig)
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def group_members(pgid: int) -> list[int]:
    """The processes of process group ``pgid`` that still run code (zombies waiting for a reaper do not)."""
    members = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            members.append(int(name))
    return members


def _group_alive(pgid: int) -> bool:
    return bool(group_members(pgid))


def stop_groups(groups: list[int], grace: float = GROUP_GRACE_SECONDS) -> None:
    """SIGTERM and SIGINT every process group (`reflex run` stops on SIGINT only), wait up to ``grace`` for them to
    empty, then SIGKILL what is left."""
    for pgid in groups:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, sig)
    deadline = time.monotonic() + grace
    while any(_group_alive(pgid) for pgid in groups) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0  # SIGKILL is not instant: the ports and files are free once they are gone
    while any(_group_alive(pgid) for pgid in groups) and time.monotonic() < deadline:
        time.sleep(0.05)


def postmaster_pid(pgdata: Path) -> int | None:
    """The pid in ``pgdata``/postmaster.pid, or None when there is no (readable) file."""
    try:
        return int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def process_alive(pid: int) -> bool:
    """True while ``pid`` runs code (a zombie does not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _is_our_postmaster(pid: int, pgdata: Path) -> bool:
    """The pid is a running postgres serving ``pgdata`` (not a process that happens to reuse the pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return process_alive(pid) and any(b"postgres" in arg for arg in cmdline[:1]) and \
        str(pgdata).encode() in cmdline


def remove_stale_postmaster_pid(pgdata: Path) -> bool:
    """Remove a postmaster.pid whose server is gone (a pid reused by another process would block the next start)."""
    pid = postmaster_pid(pgdata)
    if pid is None or _is_our_postmaster(pid, pgdata):
        return False
    with contextlib.suppress(FileNotFoundError):
        (pgdata / "postmaster.pid").unlink()
    return True


def stop_postgres(pg_ctl: str, pgdata: Path, timeout: int = POSTGRES_STOP_SECONDS) -> None:
    """Stop the PostgreSQL serving ``pgdata`` cleanly (fast shutdown: sessions end, the data is checkpointed),
    falling back to signals; afterwards no postmaster.pid remains."""
    pid = postmaster_pid(pgdata)
    if pid is None:
        return
    if _is_our_postmaster(pid, pgdata):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run([pg_ctl, "-D", str(pgdata), "-m", "fast", "-w", "-t", str(timeout), "stop"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout + 5, check=False)
        for sig, wait in ((signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):  # immediate shutdown, then no choice
            if not _is_our_postmaster(pid, pgdata):
                break
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while _is_our_postmaster(pid, pgdata) and time.monotonic() < deadline:
                time.sleep(0.1)
    remove_stale_postmaster_pid(pgdata)


class Watchdog:
    """The supervisor's side of the pipe. Start it before any child; it outlives the supervisor by design."""

    def __init__(self, log_path: Path, keep_fds: tuple[int, ...] = ()) -> None:
        with open(log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "atlas_cli.watchdog"], stdin=subprocess.PIPE, stdout=log, stderr=log,
                start_new_session=True,  # a closed terminal's SIGHUP and Ctrl-C's SIGINT do not reach it
                pass_fds=keep_fds)
        assert self._proc.stdin is not None
        self._pipe: IO[bytes] = self._proc.stdin

    @property
    def pid(self) -> int:
        return self._proc.pid

    def _send(self, line: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._pipe.write(line.encode() + b"\n")
            self._pipe.flush()

    def guard_group(self, pgid: int) -> None:
        self._send(f"group {pgid}")

    def guard_postgres(self, pg_ctl: str, pgdata: Path) -> None:
        self._send(f"postgres {pg_ctl}\0{pgdata}")

    def close(self, wait: float = 30.0) -> None:
        """Close the pipe (the watchdog sweeps: after an orderly stop nothing is left) and wait for it to finish."""
        with contextlib.suppress(OSError, ValueError):
            self._pipe.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=wait)


def main() -> None:
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    groups: list[int] = []
    postgres: list[tuple[str, Path]] = []
    for raw in sys.stdin.buffer:
        kind, _, value = raw.decode(errors="replace").rstrip("\n").partition(" ")
        if kind == "group" and value.isdigit():
            groups.append(int(value))
        elif kind == "postgres" and "\0" in value:
            pg_ctl, pgdata = value.split("\0", 1)
            postgres.append((pg_ctl, Path(pgdata)))
    # End of file: the supervisor is gone (or done). Stop what it started, children before the database.
    leftover = [pgid for pgid in groups if _group_alive(pgid)]
    if leftover:
        print(f"watchdog: the supervisor is gone; stopping process groups {leftover}", flush=True)
        stop_groups(leftover)
    for pg_ctl, pgdata in postgres:
        if postmaster_pid(pgdata) is not None:
            print(f"watchdog: stopping the embedded PostgreSQL in {pgdata}", flush=True)
            stop_postgres(pg_ctl, pgdata)


if __name__ == "__main__":
    main()
