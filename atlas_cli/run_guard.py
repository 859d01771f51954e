"""Before `atlas run` starts anything: is an earlier Atlas of this checkout running, and is anything else holding
the ports? One line saying so (exit status 2), or, with `--replace`, the earlier Atlas is stopped first.

The run lock is an flock on <data dir>/atlas-run.lock, held by the supervisor and by its watchdog: it is free
only once a run and its clean-up are over, whoever ended it (Ctrl-C, a signal, a SIGKILL, a reboot).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from atlas_cli.proc_scan import (
    RUN_MARKER,
    command_line,
    environment,
    port_free,
    port_holders,
    process_group,
    run_processes,
)
from atlas_cli.watchdog import process_alive, stop_groups, stop_postgres

LOCK_NAME = "atlas-run.lock"
ROOT = Path(__file__).resolve().parent.parent
STOP_WAIT_SECONDS = 40.0
KILL_WAIT_SECONDS = 30.0


class StartRefused(Exception):
    """`atlas run` must not start; the message is one line for the user."""


@dataclass(frozen=True)
class Port:
    number: int
    host: str
    what: str  # "the web UI"
    setting: str  # how to pick another, with {port} for a free one: "ATLAS_WEB_PORT={port}"


def _try_lock(data_dir: Path) -> int | None:
    fd = os.open(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _holder(data_dir: Path) -> dict[str, object]:
    with contextlib.suppress(OSError, ValueError):
        data = json.loads((data_dir / LOCK_NAME).read_text() or "{}")
        if isinstance(data, dict):
            return data
    return {}


def _record(fd: int, url: str) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({"pid": os.getpid(), "url": url, "started": time.time()}).encode(), 0)


def _wait_for_lock(data_dir: Path, seconds: float) -> int | None:
    deadline = time.monotonic() + seconds
    while True:
        fd = _try_lock(data_dir)
        if fd is not None or time.monotonic() > deadline:
            return fd
        time.sleep(0.2)


def _of_this_checkout(pid: int, data_dir: Path) -> bool:
    """Started by an `atlas run` with this data directory (or, before the run marker existed, from this checkout)."""
    marker = environment(pid).get(RUN_MARKER)
    if marker is not None:
        return marker == str(data_dir)
    try:
        cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return False
    args = command_line(pid, limit=4096).split()
    return cwd == ROOT and any(arg.endswith(("/atlas", "/reflex")) for arg in args[:2])


def _free_port_after(port: int, host: str) -> int:
    for candidate in range(port + 1, min(port + 200, 65535)):
        if port_free(host, candidate):
            return candidate
    return port + 1


def stop_earlier(data_dir: Path, supervisor: int) -> None:
    """Stop an earlier Atlas of this data directory: its supervisor (orderly, then SIGKILL; its watchdog cleans up),
    then whatever is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(supervisor, signal.SIGTERM)
    deadline = time.monotonic() + STOP_WAIT_SECONDS
    while process_alive(supervisor) and time.monotonic() < deadline:
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(supervisor, signal.SIGKILL)
    sweep(data_dir)


def sweep(data_dir: Path, extra: list[int] | tuple[int, ...] = ()) -> None:
    """Stop the embedded PostgreSQL of ``data_dir`` cleanly, then the process groups of every process an
    `atlas run` of ``data_dir`` left (and of ``extra``)."""
    with contextlib.suppress(ImportError):
        from atlas_cli.embedded import pg_ctl_path  # lazy: pgserver is only there for the embedded database

        stop_postgres(pg_ctl_path(), data_dir / "postgres")
    own = process_group(os.getpid())
    groups = {process_group(pid) for pid in [*run_processes(data_dir), *extra] if process_alive(pid)}
    stop_groups(sorted(group for group in groups if group is not None and group != own))


def guard_start(data_dir: Path, ports: list[Port], replace: bool, url: str) -> int:
    """Take the run lock for ``data_dir`` and check ``ports``; returns the lock's file descriptor (keep it open).

    Raises StartRefused with the one-line reason when another Atlas or another program is in the way.
    """
    fd = _try_lock(data_dir)
    if fd is None:
        pid = _holder(data_dir).get("pid")
        if not replace:
            raise StartRefused(f"Atlas is already running from this checkout (pid {pid}, {_holder(data_dir).get('url')}"
                               f", data in {data_dir}); stop it, or use `atlas run --replace` to stop it and start")
        print(f"stopping the running Atlas (pid {pid}) ...", flush=True)
        if isinstance(pid, int):
            stop_earlier(data_dir, pid)
        fd = _wait_for_lock(data_dir, KILL_WAIT_SECONDS)
        if fd is None:
            raise StartRefused(f"the running Atlas (pid {pid}) did not stop; see {data_dir}/watchdog.log")
    try:
        _check_ports(data_dir, ports, replace)
    except BaseException:
        os.close(fd)
        raise
    _record(fd, url)
    return fd


def _check_ports(data_dir: Path, ports: list[Port], replace: bool) -> None:
    for port in ports:
        if port_free(port.host, port.number):
            continue
        holders = port_holders(port.number)
        ours = [pid for pid in holders if _of_this_checkout(pid, data_dir)]
        if ours and replace:
            print(f"stopping what is left of an earlier Atlas (pids {ours}) ...", flush=True)
            sweep(data_dir, ours)
            if port_free(port.host, port.number):
                continue
            raise StartRefused(f"port {port.number} ({port.what}) is still in use after stopping pids {ours}")
        if ours:
            raise StartRefused(f"an earlier Atlas of this checkout still holds port {port.number} ({port.what}; pid "
                               f"{ours[0]}: {command_line(ours[0])}); `atlas run --replace` stops it")
        other = environment(holders[0]).get(RUN_MARKER) if holders else None
        who = (f"another Atlas (pid {holders[0]}, data in {other})" if other
               else f"pid {holders[0]} ({command_line(holders[0])})" if holders
               else "a program this user cannot see")
        choice = port.setting.format(port=_free_port_after(port.number, port.host))
        raise StartRefused(f"port {port.number} ({port.what}) is in use by {who}, not by this Atlas; stop it, or "
                           f"pick another port: {choice} atlas run")
