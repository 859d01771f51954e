"""Who holds a TCP port, and which processes belong to an `atlas run` (read from /proc; Linux)."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

# Set by `atlas run` in its own environment and so in every process it starts (PostgreSQL included): the data
# directory of that run. It tells an earlier Atlas of this checkout from a foreign program.
RUN_MARKER = "ATLAS_SUPERVISOR_DIR"
_LISTEN = "0A"


def port_free(host: str, port: int) -> bool:
    """True when ``host``:``port`` can be bound (SO_REUSEADDR, as servers bind: TIME_WAIT does not count)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as handle:
            next(handle, None)
            for line in handle:
                fields = line.split()
                if len(fields) > 9 and fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    return inodes


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def port_holders(port: int) -> list[int]:
    """The pids (visible to this user) with a socket listening on ``port``."""
    wanted = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    holders: list[int] = []
    if not wanted:
        return holders
    for pid in _pids():
        with contextlib.suppress(OSError):
            fd_dir = f"/proc/{pid}/fd"
            if any(os.readlink(f"{fd_dir}/{fd}") in wanted for fd in os.listdir(fd_dir)):
                holders.append(pid)
    return sorted(holders)


def command_line(pid: int, limit: int = 80) -> str:
    """The process's command line, shortened for a one-line message."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    text = " ".join(arg.decode(errors="replace") for arg in args if arg)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def environment(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
    return {key: value for key, _, value in pairs}


def run_processes(data_dir: Path) -> list[int]:
    """Every process (of this user) started by an `atlas run` with this data directory, except this process."""
    mine = os.getpid()
    return [pid for pid in _pids() if pid != mine and environment(pid).get(RUN_MARKER) == str(data_dir)]


def belongs_to_run(pid: int, data_dir: Path) -> bool:
    return environment(pid).get(RUN_MARKER) == str(data_dir)


def process_group(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None
