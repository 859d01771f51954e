"""Live tabs per web process (issue 15 item 3): N websocket tabs polling live pages of one backend process.

One real backend process (the Reflex app under uvicorn, no frontend build: tabs are Socket.IO clients speaking
Reflex's event protocol) serves N tabs. Each tab signs in over HTTP (``/auth/login``, the HttpOnly session cookie),
opens ``/_event`` like a browser tab, loads /connections or /operations (half the tabs each) and sends that page's
poll event every 2 s, while runs of the tenant progress (a writer in this process drives real run rows through
the real lifecycle: start, claim, heartbeat with progress, finish).

Per N and state manager (``disk``: Reflex's default, ``redis``: ``REFLEX_REDIS_URL``) a row reports the poll
round trip (poll sent → the page's delta received; every poll ends with one, ``checked_at``), the share of
polls that re-read the page, the SQL statements and transactions the web process ran per poll (counted inside
it on SQLAlchemy's engine events), and its CPU (``/proc`` via psutil: % of one core, and ms per poll).
Steps stop at the first N whose p95 is over 1 s (saturated). The load generator shares the 2-core machine.

Side by side: with ``ATLAS_BENCH_LIVE_BASELINE=<git ref>`` the same steps also run against a web process serving
that commit's code (``git archive`` into a temporary directory; same database, same writer, same run), labelled
``baseline``; this checkout's rows are labelled ``this``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench tabs password 1"  # noqa: S105 - a user that exists only in this benchmark's scratch database
POLL_SECONDS = 2.0
STEPS = (50, 100, 200, 300, 500)
SMOKE_STEPS = (4,)
WINDOW_SECONDS = 12.0  # measured, after every tab has loaded its page and polled once
SMOKE_WINDOW_SECONDS = 3.0
USERS = 10  # tabs share sign-ins like people with several tabs open
CONNECTIONS = 60
HISTORY_RUNS = 300
ACTIVE_RUNS = 2  # inventory syncs in progress at any time
PROGRESS_SECONDS = 3.0  # each active run records progress this often (a page boundary); heartbeats every 1 s
SATURATED_P95_S = 1.0
PAGES = ("/connections", "/operations")


# ---------------------------------------------------------------- the web process


def _serve(port: int, counter_path: str) -> None:
    """Run in the web process: count SQL statements and transactions, then serve the app (one process)."""
    import uvicorn
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    counts = {"statements": 0, "transactions": 0}

    def statement(*_args: Any) -> None:
        counts["statements"] += 1

    def transaction(*_args: Any) -> None:
        counts["transactions"] += 1

    event.listen(Engine, "before_cursor_execute", statement)
    event.listen(Engine, "commit", transaction)
    event.listen(Engine, "rollback", transaction)

    def publish() -> None:
        while True:
            Path(counter_path + ".tmp").write_text(json.dumps(counts))
            os.replace(counter_path + ".tmp", counter_path)
            time.sleep(0.2)

    threading.Thread(target=publish, daemon=True).start()
    uvicorn.run("atlas_app.atlas_app:app", factory=True, host="127.0.0.1", port=port, log_level="warning",
                ws="wsproto")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _code_tree(ref: str) -> Iterator[Path]:
    """The code of git ``ref`` in a temporary directory."""
    tree = Path(tempfile.mkdtemp(prefix="atlas-live-baseline-"))
    try:
        archive = subprocess.run(["git", "archive", ref], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        yield tree
    finally:
        shutil.rmtree(tree, ignore_errors=True)


@contextmanager
def _web_process(manager: str, redis_url: str, code: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    from atlas_cli.supervisor import web_environment

    port = _free_port()
    work = Path(tempfile.mkdtemp(prefix="atlas-live-tabs-"))
    counter = work / "counts.json"
    env = web_environment()  # the project-local bun and no telemetry, as `atlas web` runs it
    env.update(ATLAS_WEB_PORT=str(port), ATLAS_WEB_HOST="127.0.0.1", REFLEX_ENV_MODE="prod", PYTHONUNBUFFERED="1",
               REFLEX_SKIP_COMPILE="true",  # websocket tabs need no frontend build
               REFLEX_STATES_WORKDIR=str(work / "states"),  # the disk state manager's files: this run's only
               PYTHONPATH=str(code))  # ahead of the editable install: the code this process serves
    env.pop("REFLEX_REDIS_URL", None)
    if manager == "redis":
        env["REFLEX_REDIS_URL"] = redis_url
    else:
        env["REFLEX_STATE_MANAGER_MODE"] = manager
    log = open(work / "web.log", "wb")
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "serve", str(port), str(counter)],
                            cwd=code, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while not _ready(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the web process did not start:\n{(work / 'web.log').read_text()[-3000:]}")
            time.sleep(0.2)
        yield proc, base, counter
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def _ready(port: int) -> bool:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", "/ping")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _counts(path: Path) -> dict[str, int]:
    time.sleep(0.45)  # the web process publishes every 0.2 s
    return dict(json.loads(path.read_text()))


# ---------------------------------------------------------------- the tenant and its progressing runs


def _seed(connection_count: int, history_runs: int) -> tuple[Any, list[str], list[uuid.UUID]]:
    """A suite tenant with users, connections and a history of finished runs; returns (owner, emails, ids)."""
    from atlas_services.connections import create_connection
    from atlas_services.db import session_scope
    from atlas_services.directory import actor_for, create_tenant, create_user
    from atlas_services.models import RunStatus
    from atlas_services.runs import lifecycle, start
    from atlas_services.secrets import SecretValue

    tenant = f"bench-tabs-{uuid.uuid4().hex[:6]}"
    emails = [f"tab-user-{i}@bench.example" for i in range(USERS)]
    with session_scope() as session:
        create_tenant(session, tenant)
        for email in emails:
            create_user(session, email=email, password=PASSWORD, tenant_name=tenant, role="operator")
        create_user(session, email="tab-owner@bench.example", password=PASSWORD, tenant_name=tenant, role="owner")
    with session_scope() as session:
        owner = actor_for(session, email="tab-owner@bench.example", tenant_name=tenant)
    connections = [create_connection(owner, name=f"customer-{i:03d}", entra_tenant_id=str(uuid.uuid4()),
                                     client_id=str(uuid.uuid4()), client_secret=SecretValue(f"bench-secret-{i}"),
                                     cloud="simulator").id for i in range(connection_count)]
    for i in range(history_runs):
        run_id = start.start_operation(owner, "health_check", connections[i % connection_count],
                                       enqueue=lambda _run_id: None).run_id
        claim = lifecycle.claim(run_id)
        assert claim is not None
        lifecycle.transition(run_id, RunStatus.SUCCEEDED, lease=claim.lease, summary={"checked_at": "bench"})
    return owner, emails, connections


class RunWriter(threading.Thread):
    """Keeps ACTIVE_RUNS inventory syncs progressing like a worker would: heartbeat every second, progress every
    PROGRESS_SECONDS, finish after a while and start the next one."""

    def __init__(self, owner: Any, connections: list[uuid.UUID]) -> None:
        super().__init__(daemon=True)
        self.owner, self.connections = owner, connections
        self.stopping = threading.Event()

    def run(self) -> None:
        from atlas_services.models import RunStatus
        from atlas_services.runs import lifecycle, start

        active: list[dict[str, Any]] = []
        next_connection = 0
        while not self.stopping.is_set():
            while len(active) < ACTIVE_RUNS:
                connection = self.connections[next_connection % len(self.connections)]
                next_connection += 1
                run_id = start.start_operation(self.owner, "inventory_sync", connection,
                                               enqueue=lambda _run_id: None).run_id
                claim = lifecycle.claim(run_id)
                if claim is not None:
                    active.append({"id": run_id, "lease": claim.lease, "pages": 0, "beats": 0})
            for run in list(active):
                run["beats"] += 1
                progress = None
                if run["beats"] % int(PROGRESS_SECONDS) == 0:
                    run["pages"] += 1
                    progress = {"pages_fetched": run["pages"], "items_stored": run["pages"] * 999,
                                "current_section": "managed_devices"}
                lifecycle.heartbeat(run["id"], run["lease"], progress)
                if run["pages"] >= 10:
                    lifecycle.transition(run["id"], RunStatus.SUCCEEDED, lease=run["lease"],
                                         summary={"pages_fetched": run["pages"]})
                    active.remove(run)
            self.stopping.wait(1.0)
        for run in active:
            lifecycle.transition(run["id"], RunStatus.SUCCEEDED, lease=run["lease"], summary={})


# ---------------------------------------------------------------- tabs


def _event_names() -> dict[str, str]:
    """The full state names the browser addresses (the delta of a page is keyed by the same name)."""
    from atlas_app.pages.connections.state import ConnectionsState
    from atlas_app.pages.operations import OperationsState

    return {"/connections": ConnectionsState.get_full_name(), "/operations": OperationsState.get_full_name()}


async def _sign_in(base: str, email: str) -> str:
    import httpx

    async with httpx.AsyncClient(base_url=base, follow_redirects=False) as client:
        response = await client.post("/auth/login", data={"email": email, "password": PASSWORD},
                                     headers={"Origin": base})
    cookie = response.headers.get("set-cookie", "")
    if response.status_code not in (302, 303) or "=" not in cookie:
        raise RuntimeError(f"sign-in failed with {response.status_code}")
    return cookie.split(";", 1)[0]


class Tab:
    def __init__(self, base: str, cookie: str, page: str, state: str) -> None:
        import socketio

        self.base, self.cookie, self.page, self.state = base, cookie, page, state
        self.client = socketio.AsyncClient(reconnection=False)
        self.sent_at: float | None = None
        self.loaded = asyncio.Event()
        self.round_trips: list[float] = []
        self.reread = 0
        self.unanswered = 0
        self.errors = 0
        self.measuring = False
        self.client.on("event", self._on_update, namespace="/_event")

    async def _on_update(self, update: dict[str, Any]) -> None:
        delta = (update or {}).get("delta") or {}
        if self.measuring and any(key.startswith("notice_kind") and value == "error"
                                  for changed in delta.values() for key, value in changed.items()):
            self.errors += 1  # the page told the user something failed
        shown = delta.get(self.state)
        if shown is None:
            return
        if not self.loaded.is_set() and any(key.startswith("loaded") and value for key, value in shown.items()):
            self.loaded.set()
            return
        if self.sent_at is not None:
            if self.measuring:
                self.round_trips.append(time.perf_counter() - self.sent_at)
                self.reread += any(key.startswith(("runs", "connections")) for key in shown)
            self.sent_at = None

    async def open(self) -> None:
        await self.client.connect(f"{self.base}?token={uuid.uuid4()}", headers={"Cookie": self.cookie,
                                                                             "Origin": self.base},
                                  transports=["websocket"], namespaces=["/_event"], socketio_path="/_event",
                                  wait_timeout=60)
        await self._send("on_page_load", {})
        await asyncio.wait_for(self.loaded.wait(), timeout=120)

    async def _send(self, handler: str, payload: dict[str, Any]) -> None:
        await self.client.emit("event", {"name": f"{self.state}.{handler}", "payload": payload,
                                         "router_data": {"pathname": self.page, "asPath": self.page}},
                               namespace="/_event")

    async def poll_forever(self) -> None:
        while True:
            if self.sent_at is not None and self.measuring:
                self.unanswered += 1
            self.sent_at = time.perf_counter()
            await self._send("poll", {"tick": time.time()})
            await asyncio.sleep(POLL_SECONDS)

    async def close(self) -> None:
        await self.client.disconnect()


async def _measure_step(base: str, cookies: list[str], names: dict[str, str], tabs_wanted: int,
                        tabs: list[Tab], pollers: list[asyncio.Task[None]], window: float,
                        proc_pid: int, counter: Path) -> dict[str, Any]:
    import psutil

    from bench._measure import percentile

    while len(tabs) < tabs_wanted:  # open in batches, like people arriving, not a thundering herd
        batch = []
        for i in range(len(tabs), min(tabs_wanted, len(tabs) + 25)):
            page = PAGES[i % len(PAGES)]
            batch.append(Tab(base, cookies[i % len(cookies)], page, names[page]))
        await asyncio.gather(*(tab.open() for tab in batch))
        for tab in batch:
            tabs.append(tab)
            pollers.append(asyncio.create_task(tab.poll_forever()))
            await asyncio.sleep(POLL_SECONDS / 25)  # spread the ticks over the period
    await asyncio.sleep(POLL_SECONDS * 1.5)
    for tab in tabs:
        tab.round_trips, tab.reread, tab.unanswered, tab.errors, tab.measuring = [], 0, 0, 0, True
    process, tabs_process = psutil.Process(proc_pid), psutil.Process()
    cpu_before, db_before, started = process.cpu_times(), _counts(counter), time.perf_counter()
    client_before = tabs_process.cpu_times()
    await asyncio.sleep(window)
    cpu_after, db_after, elapsed = process.cpu_times(), _counts(counter), time.perf_counter() - started
    client_after = tabs_process.cpu_times()
    for tab in tabs:
        tab.measuring = False
    samples = [rt for tab in tabs for rt in tab.round_trips]
    polls = max(len(samples), 1)
    cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    return {
        "tabs": tabs_wanted,
        "polls/s": len(samples) / elapsed,
        "p50 ms": percentile(samples, 50) * 1000 if samples else float("nan"),
        "p95 ms": percentile(samples, 95) * 1000 if samples else float("nan"),
        "unanswered": sum(tab.unanswered for tab in tabs),
        "errors": sum(tab.errors for tab in tabs),
        "re-read %": 100.0 * sum(tab.reread for tab in tabs) / polls,
        "SQL/poll": (db_after["statements"] - db_before["statements"]) / polls,
        "xact/poll": (db_after["transactions"] - db_before["transactions"]) / polls,
        "web CPU %": 100.0 * cpu / elapsed,
        "CPU ms/poll": 1000.0 * cpu / polls,
        # The tabs (this process) share the machine with the web process: when both need a core, both wait.
        "tabs CPU %": 100.0 * ((client_after.user + client_after.system)
                               - (client_before.user + client_before.system)) / elapsed,
    }


async def _step_through(base: str, emails: list[str], steps: tuple[int, ...], window: float, proc_pid: int,
                        counter: Path) -> list[dict[str, Any]]:
    names = _event_names()
    cookies = [await _sign_in(base, email) for email in emails]
    tabs: list[Tab] = []
    pollers: list[asyncio.Task[None]] = []
    rows = []
    try:
        for n in steps:
            row = await _measure_step(base, cookies, names, n, tabs, pollers, window, proc_pid, counter)
            if row["errors"]:
                raise RuntimeError(f"{row['errors']} polls at {n} tabs told the user something failed: see the log")
            rows.append(row)
            if not row["p95 ms"] < SATURATED_P95_S * 1000:
                break
    finally:
        for task in pollers:
            task.cancel()
        await asyncio.gather(*pollers, return_exceptions=True)
        await asyncio.gather(*(tab.close() for tab in tabs), return_exceptions=True)
    return rows


def run(*, smoke: bool = False) -> list[dict[str, Any]]:
    from bench._backing import scratch_database, scratch_redis

    steps, window = (SMOKE_STEPS, SMOKE_WINDOW_SECONDS) if smoke else (STEPS, WINDOW_SECONDS)
    baseline = os.environ.get("ATLAS_BENCH_LIVE_BASELINE", "")
    rows: list[dict[str, Any]] = []
    with scratch_database(), scratch_redis() as redis_url, \
            (_code_tree(baseline) if baseline else nullcontext(None)) as baseline_tree:
        owner, emails, connections = _seed(*((4, 10) if smoke else (CONNECTIONS, HISTORY_RUNS)))
        writer = RunWriter(owner, connections)
        writer.start()
        codes = [("baseline", baseline_tree)] if baseline_tree is not None else []
        try:
            for label, code in [*codes, ("this", ROOT)]:
                for manager in ("disk",) if smoke else ("disk", "redis"):  # smoke: one web process start
                    with _web_process(manager, redis_url, code) as (proc, base, counter):
                        found = asyncio.run(_step_through(base, emails, steps, window, proc.pid, counter))
                    rows += [{"code": label, "state manager": manager, **row} for row in found]
        finally:
            writer.stopping.set()
            writer.join(timeout=30)
    return rows


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    _serve(int(sys.argv[2]), sys.argv[3])
