"""Issue 13's scale-out test, with real processes: two `atlas web` processes sharing Reflex state through Redis,
three `atlas worker` processes, and a simulator process serving 200 customer tenants, on this run's PostgreSQL
database and Redis.

One pass, in the order an operator would see it. The browser reaches the web processes through a load balancer
(a switchable TCP proxy), as in production:
1. The balancer sends everything to web process A; an operator presses "Check connection" there (no worker runs
   yet, so the run stays queued).
2. A is drained: the balancer now sends everything to B. The operator's open tab reconnects (to B) without a
   reload and keeps the state A gave it, because both keep Reflex state in Redis; a second tab, served by B,
   shows A's run queued.
3. The fleet's hourly health-check schedules (one per connection but the operator's) are all due at once. Three
   workers start together, each running its scheduler loop, and two `atlas scheduler tick` passes run beside
   them.
4. While every worker thread holds a run, one worker is SIGKILLed; a surviving worker's reaper fails its runs with
   run.worker_lost, so none stays stuck. B's page shows A's run reach "succeeded" live, without a reload.
5. Every due schedule produced exactly one run and moved on; every run reaches an end state; no run was claimed
   twice (attempt) nor executed twice: the simulator counts the token and Graph requests per customer tenant, and
   each tenant (one connection, one run) saw exactly one run's worth. The tabs' state is in Redis, and neither
   session token nor password is.

Every Graph answer is slowed (a fault in the fleet's scenario) so runs are in flight long enough to kill a worker
in the middle of some; the test takes about three minutes here, the two web builds included.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import redis
from playwright.sync_api import expect
from sqlalchemy import text

from atlas_cli.supervisor import stop_process_group
from atlas_services.authz import Actor
from atlas_services.config import get_settings
from atlas_services.db import get_engine
from atlas_services.errors import NotFound
from atlas_services.schedules.manage import clear_schedule, set_schedule
from atlas_services.sessions import SESSION_COOKIE
from atlas_sim.fleet import fleet_connection_seeds
from tests.support.browser import PAGE_TIMEOUT_MS, open_signed_in_page
from tests.support.canary import encodings, redis_text
from tests.support.factories import PASSWORD, create_connection, make_actor
from tests.support.scale import (
    FleetSimulator,
    scheduler_tick,
    spawn_worker,
    wait_for,
    wait_until_consuming,
    web_process,
)
from tests.support.switch_proxy import SwitchProxy

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.e2e

CUSTOMERS = 200
SUITE_TENANTS = 4  # the fleet spread over several suite tenants (MSP workspaces)
WORKERS = 3
GRAPH_DELAY_SECONDS = 0.1
HEARTBEAT_SECONDS = 1
HEARTBEAT_TIMEOUT_SECONDS = 8  # a lost run is reaped within 1.5 x this; generous on a loaded 2-core machine
ALL_DONE_TIMEOUT = 300.0
TERMINAL = ("succeeded", "partially_succeeded", "failed", "cancelled")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("scale-out")


@pytest.fixture(scope="module")
def fleet_simulator(workdir: Path) -> Iterator[FleetSimulator]:
    sim = FleetSimulator(CUSTOMERS, workdir, faults=[{"kind": "slow", "seconds": GRAPH_DELAY_SECONDS}])
    previous = os.environ.get("ATLAS_SIMULATOR_URL")
    os.environ["ATLAS_SIMULATOR_URL"] = sim.base_url  # what the workers started below reach
    get_settings.cache_clear()
    try:
        yield sim
    finally:
        sim.stop()
        if previous is None:
            os.environ.pop("ATLAS_SIMULATOR_URL", None)
        else:
            os.environ["ATLAS_SIMULATOR_URL"] = previous
        get_settings.cache_clear()


def _seed_fleet() -> tuple[list[Actor], dict[uuid.UUID, tuple[Actor, str]], Actor]:
    """SUITE_TENANTS suite tenants (an owner each) sharing the fleet's connections round-robin, and an operator
    in the first. Every connection but the first (the operator's, started by hand) gets an hourly health check
    with no jitter, which is due at once, and none of the other inherited schedules (a daily sync could fall due
    mid-test). Returns the owners, {connection id: (owner, Entra tenant id)} and the operator."""
    suffix = uuid.uuid4().hex[:6]
    owners = [make_actor("owner", tenant_name=f"msp-{suffix}-{n}") for n in range(1, SUITE_TENANTS + 1)]
    connections: dict[uuid.UUID, tuple[Actor, str]] = {}
    for index, seed in enumerate(fleet_connection_seeds(CUSTOMERS)):
        owner = owners[index % SUITE_TENANTS]
        made = create_connection(owner, name=seed.display_name, entra_tenant_id=seed.entra_tenant_id,
                                 client_id=seed.client_id, secret=seed.client_secret, make_default=index == 0)
        connections[made.id] = (owner, seed.entra_tenant_id)
        for op_type in ("health_check", "inventory_sync", "compliance_snapshot"):
            with contextlib.suppress(NotFound):
                clear_schedule(owner, made.id, op_type)
        if index > 0:
            set_schedule(owner, made.id, "health_check", every="1h")
    operator = make_actor("operator", tenant_name=owners[0].tenant_name)
    return owners, connections, operator


def _due_schedules() -> dict[uuid.UUID, uuid.UUID]:
    """{schedule id: connection id} of every schedule due now."""
    with get_engine().connect() as conn:
        rows = conn.execute(text("SELECT id, connection_id FROM schedules WHERE due_at <= now()"))
        return {row.id: row.connection_id for row in rows}


def _tick_report(log: Path) -> dict[str, Any]:
    """The JSON object `atlas scheduler tick --json` printed (its log also holds stderr)."""
    line = next(line for line in reversed(log.read_text().splitlines()) if line.startswith("{"))
    report: dict[str, Any] = json.loads(line)
    return report


def _runs() -> list[dict[str, Any]]:
    with get_engine().connect() as conn:
        rows = conn.execute(text("SELECT id, connection_id, status, reason_code, attempt, trigger FROM operation_runs"))
        return [dict(row._mapping) for row in rows]


def _count(status: str) -> int:
    with get_engine().connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM operation_runs WHERE status = :s"), {"s": status})
                   .scalar_one())


def _status(run_id: str) -> str:
    with get_engine().connect() as conn:
        return str(conn.execute(text("SELECT status FROM operation_runs WHERE id = :i"), {"i": run_id}).scalar_one())


def _worker_env() -> dict[str, str]:
    return {**os.environ, "ATLAS_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
            "ATLAS_HEARTBEAT_TIMEOUT_SECONDS": str(HEARTBEAT_TIMEOUT_SECONDS),
            "ATLAS_SCHEDULER_INTERVAL_SECONDS": "1"}  # the test run turns the loop off; these workers run it


def _tab_token(page: Page) -> str:
    token = page.evaluate("window.sessionStorage.getItem('token')")
    assert token, "the tab has no Reflex client token"
    return str(token)


def _socket_record(store: redis.Redis, page: Page) -> bytes | None:
    """Which web process holds the tab's websocket, as Reflex's Redis token manager records it."""
    value = store.get(f"token_manager_socket_record_{_tab_token(page)}")
    return value if isinstance(value, bytes) else None


def _assert_tabs_live_in_redis(store: redis.Redis, *pages: Page) -> None:
    """The tabs' Reflex state and socket records are in the shared Redis (not on a process's disk or in its
    memory), so whichever web process the balancer picks serves any tab."""
    for page in pages:
        assert _socket_record(store, page), f"{page.url}: no socket record in Redis"
        assert any(True for _ in store.scan_iter(match=f"{_tab_token(page)}_*", count=1000)), \
            f"{page.url}: no state in Redis"


def _assert_no_sign_in_secret_in_redis(*pages: Page) -> None:
    """Now that the tabs' state lives in Redis: neither the session tokens nor the password typed at sign-in are
    there, in any encoding (only the token's digest is kept)."""
    tokens = [cookie["value"] for page in pages for cookie in page.context.cookies()
              if cookie["name"].endswith(SESSION_COOKIE)]
    assert len(tokens) == len(pages), "a tab has no session cookie"
    stored = redis_text()
    for secret in [*tokens, PASSWORD]:
        found = [name for name, encoded in encodings(secret).items() if encoded in stored]
        assert not found, f"a sign-in secret is in Redis ({', '.join(found)})"


def test_fleet_scale_out_with_real_processes(db: None, huey_queue: Any, fleet_simulator: FleetSimulator,
                                             browser: Browser, workdir: Path) -> None:
    began = time.monotonic()
    _owners, connections, operator = _seed_fleet()
    seeded = time.monotonic() - began
    first_connection = next(iter(connections))
    workers: list[subprocess.Popen[bytes]] = []
    balancer = SwitchProxy(0)
    public = f"http://127.0.0.1:{balancer.port}"
    store = redis.Redis.from_url(str(get_settings().redis_url))
    pages: list[Page] = []
    try:
        with web_process(workdir / "web-a.log", balancer.port) as port_a, \
                web_process(workdir / "web-b.log", balancer.port) as port_b:
            built = time.monotonic() - began - seeded
            # 1. The balancer sends everything to A: the operator presses "Check connection" there (the button
            # writes the run row and enqueues; no worker runs yet).
            balancer.switch(port_a)
            page_a = open_signed_in_page(browser, public, operator.email, PASSWORD)
            pages.append(page_a)
            page_a.evaluate("window.__atlasNoReload = true")
            page_a.locator(f'[data-testid="check-connection"][data-connection-id="{first_connection}"]').click()
            last_run = page_a.get_by_test_id("last-run-id")
            wait_for("A's run id", lambda: bool(last_run.text_content()), timeout=PAGE_TIMEOUT_MS / 1000)
            run_a = str(last_run.text_content())
            on_a = _socket_record(store, page_a)
            assert on_a, "A keeps no socket record in Redis"

            # 2. A is drained: from now on the balancer sends everything to B. The operator's tab reconnects (to B)
            # without a reload and keeps the state A gave it (the run id the click set); a second operator tab,
            # served by B, watches A's run.
            balancer.switch(port_b)
            served_by_a = balancer.accepted[port_a]
            wait_for("the operator's tab to reconnect to B", lambda: _socket_record(store, page_a) not in (None, on_a),
                     timeout=60)
            page_b = open_signed_in_page(browser, public, operator.email, PASSWORD)
            pages.append(page_b)
            page_b.goto(f"/runs/{run_a}")
            status_b = page_b.get_by_test_id("run-detail-status")
            expect(status_b).to_have_attribute("data-status", "queued")
            page_b.evaluate("window.__atlasNoReload = true")
            assert last_run.text_content() == run_a, "the tab lost its state when it moved from A to B"

            # 3. The fleet's schedules are all due at once. Three workers start together, each with its scheduler
            # loop (every second), and two `atlas scheduler tick` passes run beside them.
            due = _due_schedules()
            assert len(due) == CUSTOMERS - 1 and first_connection not in due.values()
            fleet_due = time.monotonic()
            logs = [workdir / f"worker-{number}.log" for number in range(1, WORKERS + 1)]
            workers.extend(spawn_worker(log, _worker_env()) for log in logs)
            ticks = [scheduler_tick(workdir / f"tick-{number}.json") for number in (1, 2)]
            for proc, log in zip(workers, logs, strict=True):
                wait_until_consuming(proc, log)

            # 4. SIGKILL a worker while every worker thread holds a run (two threads each, so the victim holds two).
            # A's run (a person's, so claimed first) must not be among the victim's: it ends first.
            wait_for("A's run to end", lambda: _status(run_a) not in ("queued", "running"), timeout=120)
            wait_for("every worker thread busy", lambda: _count("running") >= 2 * WORKERS, timeout=120,
                     interval=0.02)
            victim = workers[0]
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait(timeout=10)
            killed_at = time.monotonic()
            for tick in ticks:
                assert tick.wait(timeout=120) == 0, "atlas scheduler tick failed"
            # B's page shows A's run (a person's, ahead of the scheduled ones) finish live.
            expect(status_b).to_have_attribute("data-status", "succeeded", timeout=120_000)
            assert page_b.evaluate("window.__atlasNoReload === true"), "B's page was reloaded"

            # 5. Everything ends.
            wait_for("every run to end", lambda: _count("queued") + _count("running") == 0,
                     timeout=ALL_DONE_TIMEOUT, interval=0.5)
            settled_after = time.monotonic() - killed_at
            fleet_seconds = time.monotonic() - fleet_due
            for survivor in workers[1:]:
                assert survivor.poll() is None, "a surviving worker died"
            # The operator's tab, served by B for a minute of polls now, still holds what A set, never reloaded.
            assert last_run.text_content() == run_a and page_a.evaluate("window.__atlasNoReload === true")
            _assert_tabs_live_in_redis(store, page_a, page_b)
            _assert_no_sign_in_secret_in_redis(page_a, page_b)
            assert balancer.accepted[port_a] == served_by_a, "the drained web process A was still sent requests"
    finally:
        for page in pages:
            page.context.close()
        for proc in workers:
            if proc.poll() is None:
                stop_process_group(proc, grace=5)
        balancer.close()
        store.close()

    runs = _runs()
    # Every due schedule produced exactly one run (and moved on to its next slot); the person's run is the only
    # other one; every run ended.
    scheduled = Counter(run["connection_id"] for run in runs if run["trigger"] == "schedule")
    assert scheduled == Counter(due.values()), "not one run per due schedule"
    assert [(str(run["id"]), run["connection_id"]) for run in runs if run["trigger"] != "schedule"] == \
        [(run_a, first_connection)]
    assert not _due_schedules(), "a schedule is still due"
    with get_engine().connect() as conn:
        started = conn.execute(text(
            "SELECT count(*) FROM schedules s JOIN operation_runs r ON r.id = s.last_run_id "
            "AND r.connection_id = s.connection_id WHERE s.last_outcome = 'started' AND s.id = ANY(:ids)"),
            {"ids": list(due)}).scalar_one()
    assert started == len(due)
    # What the two `atlas scheduler tick` passes started is part of that, and neither started what the other did.
    by_tick = [set(_tick_report(workdir / f"tick-{number}.json")["started"]) for number in (1, 2)]
    assert not by_tick[0] & by_tick[1]
    assert by_tick[0] | by_tick[1] <= {str(run["id"]) for run in runs if run["trigger"] == "schedule"}
    assert all(run["status"] in TERMINAL for run in runs), Counter(run["status"] for run in runs)
    by_end = Counter((run["status"], run["reason_code"]) for run in runs)
    lost = [run for run in runs if run["reason_code"] == "run.worker_lost"]
    assert lost, f"the SIGKILL landed on no run: {by_end}"
    assert len(lost) <= 2, f"runs of live workers were reaped too: {by_end}"  # the victim had two threads
    assert set(by_end) <= {("succeeded", None), ("failed", "run.worker_lost")}, by_end
    # No run was claimed twice.
    assert all(run["attempt"] == 1 for run in runs), Counter(run["attempt"] for run in runs)

    # No run was executed twice: per customer tenant (one connection, one run), one token request and one run's
    # worth of Graph requests; a run killed midway made at most that many.
    stats = fleet_simulator.stats()
    tokens, graph = stats["token_requests_by_tenant"], stats["graph_requests_by_tenant"]
    entra_of = {connection_id: entra for connection_id, (_owner, entra) in connections.items()}
    succeeded = [entra_of[run["connection_id"]] for run in runs if run["status"] == "succeeded"]
    per_run = Counter(graph.get(entra, 0) for entra in succeeded)
    assert len(per_run) == 1 and next(iter(per_run)) > 0, f"Graph requests per succeeded run differ: {per_run}"
    graph_per_run = next(iter(per_run))
    assert all(tokens.get(entra) == 1 for entra in succeeded), Counter(tokens.get(e) for e in succeeded)
    for run in lost:
        entra = entra_of[run["connection_id"]]
        assert tokens.get(entra, 0) <= 1 and graph.get(entra, 0) <= graph_per_run, (tokens.get(entra),
                                                                                     graph.get(entra))
    assert set(tokens) <= set(entra_of.values()) and sum(tokens.values()) <= CUSTOMERS
    print(f"\nscale-out: {len(due)} due schedules + 1 person's run over {WORKERS} workers (the CLI passes started "
          f"{len(by_tick[0])} and {len(by_tick[1])}); {len(lost)} lost to the SIGKILL and reaped; all ended "
          f"{settled_after:.1f} s after the kill; {graph_per_run} Graph requests per health check; seeding "
          f"{seeded:.0f} s, two web builds {built:.0f} s, due to all ended {fleet_seconds:.0f} s")
