"""Private servers a fault test may stop, restart, flush and kill: PostgreSQL (pgserver's binaries), redis-server
and the simulator, each on its own loopback port, never the machine's shared ones.

Each keeps its port across a restart, so the processes pointed at it (workers) see the same server go away and
come back, as they would in production.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


class PrivatePostgres:
    """A PostgreSQL server of its own, listening on 127.0.0.1 only; ``restart`` keeps the data.

    Its files live in a directory of its own under the system's temporary directory, not in pytest's tmp_path:
    as root the server runs as an unprivileged user, who must be able to reach them, and pytest keeps resetting
    its own tree to mode 0700 (each xdist worker does, when it starts).
    """

    def __init__(self, template: PrivatePostgres | None = None) -> None:
        """A new server: an empty cluster, or a copy of ``template``'s files (stopped), which is much faster than
        initdb and migrations for every test."""
        from pgserver._commands import POSTGRES_BIN_PATH  # type: ignore[import-untyped]

        self.bin = POSTGRES_BIN_PATH
        self.home = Path(tempfile.mkdtemp(prefix="atlas-faults-pg-"))
        self.data = self.home / "pgdata"
        self.log = self.home / "postgres.log"
        self.port = free_port()
        # PostgreSQL refuses to run as root: there, run it as pgserver's own unprivileged user.
        self.user: str | None = None
        if os.geteuid() == 0:
            import stat

            from pgserver.utils import (  # type: ignore[import-untyped]
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            self.user = "pgserver"
            ensure_user_exists(self.user)
            # As pgserver does for itself: the unprivileged user must reach the binaries and libraries.
            readable = stat.S_IRGRP | stat.S_IROTH
            ensure_prefix_permissions(self.bin)
            ensure_folder_permissions(self.bin, readable | stat.S_IXGRP | stat.S_IXOTH)
            ensure_folder_permissions(self.bin.parent / "lib", readable)
            shutil.chown(self.home, self.user, self.user)
        if template is not None:
            # cp -a keeps the files' owner (the unprivileged user, as root) and modes, which PostgreSQL checks.
            subprocess.run(["cp", "-a", str(template.data), str(self.data)], check=True, timeout=60)
            return
        self._run("initdb", "-D", str(self.data), "--auth=trust", "--encoding=utf8", "-U", "postgres", "--no-sync")

    def _run(self, program: str, *args: str, timeout: float = 60) -> None:
        done = subprocess.run([str(self.bin / program), *args], capture_output=True, text=True, timeout=timeout,
                              user=self.user, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{program} {args[-1]} failed: {done.stderr.strip()[-2000:]}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.data} -c fsync=off -c max_connections=60"
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "30", "-l", str(self.log), "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` ends every session (as a restart does), ``immediate`` is a crash."""
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "30", "-m", mode, "stop")

    def running(self) -> bool:
        return _accepts(self.port)

    def close(self) -> None:
        if (self.data / "postmaster.pid").exists():
            try:
                self.stop("immediate")
            except RuntimeError:
                pass
        shutil.rmtree(self.home, ignore_errors=True)


class PrivateRedis:
    """A redis-server of its own, without persistence: a restart loses every key, as a crash would."""

    def __init__(self, root: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.binary = binary
        self.port = free_port()
        self.log = root / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                stdout=out, stderr=subprocess.STDOUT)
        wait_for("the private redis-server", lambda: _accepts(self.port), timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def flush(self) -> None:
        import redis

        client = redis.Redis.from_url(self.url)
        try:
            client.flushall()
        finally:
            client.close()

    def close(self) -> None:
        self.stop()


class SimulatorProcess:
    """`python -m atlas_sim` serving ``scenario`` (a scenario's dict form) on a fixed port, in a process of its own
    that a test may SIGKILL and start again."""

    def __init__(self, root: Path, scenario: dict[str, Any]) -> None:
        self.scenario_path = root / "scenario.yaml"
        self.scenario_path.write_text(yaml.safe_dump(scenario), encoding="utf-8")
        self.log = root / "simulator.log"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "atlas_sim", "--port", str(self.port), "--scenario", str(self.scenario_path)],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        proc = self.proc
        wait_for("the simulator", lambda: _accepts(self.port) or proc.poll() is not None, timeout=30)
        if proc.poll() is not None:
            raise RuntimeError(f"the simulator exited: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: open connections are cut mid-answer, nothing is flushed."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def close(self) -> None:
        self.kill()


class CuttableLink:
    """A loopback TCP relay to ``upstream_port`` that a test can cut and heal, as a network partition would: while
    cut, bytes are neither relayed nor refused (no RST, no FIN), so the client just waits, and new connections get
    no answer; once healed, everything held back flows on."""

    def __init__(self, upstream_port: int) -> None:
        import threading

        self.upstream_port = upstream_port
        self.flowing = threading.Event()
        self.flowing.set()
        self._closed = threading.Event()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        self._sockets: list[socket.socket] = []
        self._marker: bytes | None = None
        self._clients: set[socket.socket] = set()
        threading.Thread(target=self._accept, name="cuttable-link", daemon=True).start()

    def cut(self) -> None:
        self.flowing.clear()

    def cut_after(self, marker: bytes) -> None:
        """Cut the link right after relaying the next client bytes that hold ``marker`` (a statement's text):
        the server has the statement, and what it answers is held back."""
        self._marker = marker

    def heal(self) -> None:
        self.flowing.set()

    def _accept(self) -> None:
        import threading

        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._open, args=(client,), daemon=True).start()

    def _open(self, client: socket.socket) -> None:
        import threading

        self._wait_flowing()
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        except OSError:
            client.close()
            return
        self._sockets += [client, upstream]
        self._clients.add(client)
        for source, target in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _wait_flowing(self) -> None:
        while not self.flowing.wait(0.2):
            if self._closed.is_set():
                return

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                self._wait_flowing()  # a cut holds what arrived: the sender is not told
                if not data or self._closed.is_set():
                    break
                target.sendall(data)
                marker = self._marker
                if marker is not None and source in self._clients and marker in data:
                    self._marker = None
                    self.flowing.clear()
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._closed.set()
        self.flowing.set()
        self._listener.close()
        for sock in self._sockets:
            try:
                sock.close()
            except OSError:
                pass
