"""The start gate: start_operation (actor, authorization, audit, enqueue) beside a bare INSERT … ON CONFLICT + LPUSH.

Every case goes through the real use case ``atlas_services.runs.start.start_operation`` on real PostgreSQL (a
scratch database) with the real ``execute_run`` task enqueued by a real huey on Redis (a queue of its own; since
issue 13 huey's priority queue, so a ZADD at a person's priority where the floor keeps its LPUSH). The
floor is the least any start gate could do, measured in the same run, interleaved with Atlas, through the same
engine and pool (``atlas_services.db``) and the same Redis connection pool: one ``INSERT … ON CONFLICT DO NOTHING``
on the active-scope index in its own transaction, then one ``LPUSH`` of a task-sized message when it inserted.

Cases (each repeated; figures are the median over repetitions, ``spread`` is (max - min) / median of the p50s):
- uncontended, one call at a time: ``started`` (a free scope), ``deduplicated`` (the same operation again) and
  ``scope_busy`` (another operation on a busy scope); the floor of the last two is the insert that conflicts;
- ``50 on one scope``: 50 threads released together on one scope, many rounds (1 started + 49 deduplicated);
- ``500 over 500 scopes``: 50 threads share 500 starts on 500 scopes of one suite tenant (an MSP's fleet);
  ``starts/s`` is 500 over the wall time.
Threads stand in for a web process's handler threads: one process, one engine, one pool (the configured size,
10 + 5 unless ``ATLAS_DB_POOL_SIZE`` / ``ATLAS_DB_MAX_OVERFLOW`` say otherwise); the contended cases are repeated
with other pool sizes. ``new conns`` counts the PostgreSQL connections the pool opened during a case (Atlas and
floor together): a pool opens one for each checkout above ``pool_size`` in a burst and closes it afterwards.

Correctness is checked in the same run, and a violation raises: every call's outcome is the expected one, each
round leaves exactly one active run per scope, and every started run has exactly one job in the queue.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.pool import Pool

from atlas_services.runs.outbox import PERSON_PRIORITY
from bench._backing import scratch_database, scratch_redis
from bench._measure import latency_ms, median_spread, percentile

THREADS = 50


@dataclass(frozen=True)
class Sizes:
    reps: int
    uncontended: int  # calls per repetition, one at a time
    rounds: int  # rounds of THREADS concurrent starts on one scope, per repetition
    threads: int
    spread: int  # starts over as many scopes, per repetition
    pools: tuple[tuple[int, int], ...]  # (pool_size, max_overflow) besides the configured one


FULL = Sizes(reps=5, uncontended=300, rounds=10, threads=THREADS, spread=500, pools=((5, 10), (30, 0)))
SMOKE = Sizes(reps=2, uncontended=4, rounds=1, threads=6, spread=12, pools=((2, 2),))

FLOOR_INSERT = text(
    "INSERT INTO operation_runs (id, tenant_id, connection_id, scope_key, op_type, status, created_at, summary,"
    " progress, attempt) VALUES (:id, :tenant, :connection, :scope, 'health_check', 'queued', now(), '{}', '{}', 0)"
    " ON CONFLICT (tenant_id, scope_key) WHERE status IN ('queued', 'running') DO NOTHING RETURNING id")


@dataclass
class World:
    """One suite tenant with an operator and many connections (one scope each), a queue, and the floor's pieces."""

    actor: Any
    connections: list[uuid.UUID]
    enqueue: Callable[[uuid.UUID], None]
    queue: Any
    floor_key: str
    floor_message: bytes
    started: list[uuid.UUID] = field(default_factory=list)  # every run Atlas reported as started
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, connection: uuid.UUID, op_type: str = "health_check") -> str:
        from atlas_services.runs.start import start_operation

        result = start_operation(self.actor, op_type, connection, enqueue=self.enqueue)
        if result.outcome == "started":
            with self.lock:
                self.started.append(result.run_id)
        return result.outcome

    def floor(self, scope: str) -> str:
        from atlas_services.db import get_engine

        with get_engine().begin() as conn:
            inserted = conn.execute(FLOOR_INSERT, {"id": uuid.uuid4(), "tenant": self.actor.tenant_id,
                                                   "connection": self.connections[0], "scope": scope}).scalar()
        if inserted is None:
            return "conflict"
        self.queue.storage.conn.lpush(self.floor_key, self.floor_message)
        return "inserted"


def run(*, smoke: bool = False) -> list[dict[str, Any]]:
    sizes = SMOKE if smoke else FULL
    with scratch_database(), scratch_redis() as redis_url, _bench_queue(redis_url) as (queue, task):
        world = _seed(max(sizes.uncontended, sizes.rounds, sizes.spread), queue, task)
        _warm_up(world)
        with _counting_connects() as connects:
            rows = _uncontended(world, sizes)
        for row in rows:
            row["new conns"] = connects[0]
        for pool in (None, *sizes.pools):
            with _pool(pool):
                label = f" (pool {_pool_label()})"
                for case in (_one_scope, _spread):
                    with _counting_connects() as connects:
                        row = case(world, sizes, label)
                    row["new conns"] = connects[0]
                    rows.append(row)
        _check_queue(world)
        _check_one_active_run_per_scope()
    return rows


# --- the cases -----------------------------------------------------------------------------------------------


def _uncontended(world: World, sizes: Sizes) -> list[dict[str, Any]]:
    n = sizes.uncontended
    samples: dict[str, list[tuple[list[float], list[float]]]] = {"started": [], "deduplicated": [], "scope_busy": []}
    for _ in range(sizes.reps):
        _free_scopes()
        scopes = [f"floor:{uuid.uuid4()}" for _ in range(n)]
        connections = world.connections[:n]
        for outcome, op_type in (("started", "health_check"), ("deduplicated", "health_check"),
                                 ("scope_busy", "inventory_sync")):
            floor_expected = "inserted" if outcome == "started" else "conflict"
            atlas_s, floor_s = [], []
            for connection, scope in zip(connections, scopes, strict=True):
                atlas_s.append(_call(lambda c=connection, o=op_type: world.start(c, o), outcome))
                floor_s.append(_call(lambda s=scope: world.floor(s), floor_expected))
            samples[outcome].append((atlas_s, floor_s))
        _check_active_runs(connections, world)
    return [_row(f"uncontended {outcome}", 1, n, reps) for outcome, reps in samples.items()]


def _one_scope(world: World, sizes: Sizes, label: str = "") -> dict[str, Any]:
    threads = sizes.threads
    reps = []
    for _ in range(sizes.reps):
        _free_scopes()
        connections = world.connections[:sizes.rounds]
        atlas_s: list[float] = []
        floor_s: list[float] = []
        atlas_wall = floor_wall = 0.0
        for connection in connections:
            times, outcomes, wall = _together(threads, [lambda c=connection: world.start(c)] * threads)
            _expect(Counter(outcomes), Counter({"started": 1, "deduplicated": threads - 1}))
            atlas_s += times
            atlas_wall += wall
            scope = f"floor:{uuid.uuid4()}"
            times, outcomes, wall = _together(threads, [lambda s=scope: world.floor(s)] * threads)
            _expect(Counter(outcomes), Counter({"inserted": 1, "conflict": threads - 1}))
            floor_s += times
            floor_wall += wall
        _check_active_runs(connections, world)
        reps.append((atlas_s, floor_s, len(connections) * threads / atlas_wall,
                     len(connections) * threads / floor_wall))
    return _row(f"{threads} on one scope{label}", threads, sizes.rounds * threads, reps)


def _spread(world: World, sizes: Sizes, label: str = "") -> dict[str, Any]:
    n = sizes.spread
    reps = []
    connections = world.connections[:n]

    def atlas() -> tuple[list[float], float]:
        times, outcomes, wall = _together(sizes.threads, [lambda c=c: world.start(c) for c in connections])
        _expect(Counter(outcomes), Counter({"started": n}))
        _check_active_runs(connections, world)
        return times, wall

    def floor() -> tuple[list[float], float]:
        times, outcomes, wall = _together(
            sizes.threads, [lambda s=f"floor:{uuid.uuid4()}": world.floor(s) for _ in range(n)])
        _expect(Counter(outcomes), Counter({"inserted": n}))
        return times, wall

    for rep in range(sizes.reps):
        _free_scopes()
        if rep % 2:  # alternate which goes first, so that a drift in the machine's load favours neither
            (floor_times, floor_wall), (times, wall) = floor(), atlas()
        else:
            (times, wall), (floor_times, floor_wall) = atlas(), floor()
        reps.append((times, floor_times, n / wall, n / floor_wall))
    return _row(f"{n} over {n} scopes{label}", sizes.threads, n, reps)


# --- measuring -----------------------------------------------------------------------------------------------


def _call(fn: Callable[[], str], expected: str) -> float:
    started = time.perf_counter()
    outcome = fn()
    elapsed = time.perf_counter() - started
    _expect(outcome, expected)
    return elapsed


def _together(threads: int, calls: Sequence[Callable[[], str]]) -> tuple[list[float], list[str], float]:
    """Run ``calls`` on ``threads`` threads released at once; each call's seconds and outcome, and the wall time."""
    pending = list(reversed(calls))
    lock = threading.Lock()
    gate = threading.Barrier(threads + 1)
    times: list[float] = []
    outcomes: list[str] = []
    failures: list[BaseException] = []

    def work() -> None:
        gate.wait()
        while True:
            with lock:
                if not pending:
                    return
                call = pending.pop()
            started = time.perf_counter()
            try:
                outcome = call()
            except BaseException as exc:  # noqa: BLE001 - reported after the join
                failures.append(exc)
                return
            elapsed = time.perf_counter() - started
            with lock:
                times.append(elapsed)
                outcomes.append(outcome)

    workers = [threading.Thread(target=work, name=f"bench-start-{i}") for i in range(threads)]
    for worker in workers:
        worker.start()
    gate.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    wall = time.perf_counter() - started
    if failures:
        raise failures[0]
    return times, outcomes, wall


def _row(case: str, threads: int, starts: int, reps: Sequence[tuple[Any, ...]]) -> dict[str, Any]:
    """Median over repetitions of each figure, Atlas beside its floor; a rep is (atlas s, floor s[, /s, floor /s])."""
    atlas = [latency_ms(r[0]) for r in reps]
    floor = [latency_ms(r[1]) for r in reps]

    def med(figures: list[dict[str, float]], key: str) -> float:
        return median_spread([f[key] for f in figures])[0]

    row: dict[str, Any] = {"case": case, "threads": threads, "starts": starts, "reps": len(reps)}
    row.update({k: med(atlas, k) for k in atlas[0]})
    row.update({f"floor {k}": med(floor, k) for k in floor[0]})
    row["x p50"] = row["p50 ms"] / row["floor p50 ms"]
    row["x p95"] = row["p95 ms"] / row["floor p95 ms"]
    if len(reps[0]) > 2:
        row["starts/s"] = median_spread([r[2] for r in reps])[0]
        row["floor /s"] = median_spread([r[3] for r in reps])[0]
    else:  # one at a time: throughput is the inverse of the mean latency
        row["starts/s"] = median_spread([len(r[0]) / sum(r[0]) for r in reps])[0]
        row["floor /s"] = median_spread([len(r[1]) / sum(r[1]) for r in reps])[0]
    row["spread"] = median_spread([percentile(r[0], 50) for r in reps])[1]
    row["floor spread"] = median_spread([percentile(r[1], 50) for r in reps])[1]
    return row


# --- correctness ---------------------------------------------------------------------------------------------


def _expect(got: object, wanted: object) -> None:
    if got != wanted:
        raise RuntimeError(f"start gate correctness: expected {wanted}, got {got}")


def _check_active_runs(connections: Sequence[uuid.UUID], world: World) -> None:
    """Each scope the case used holds exactly one active run."""
    from atlas_services.db import get_engine

    with get_engine().connect() as conn:
        counts = dict(conn.execute(text(
            "SELECT connection_id, count(*) FROM operation_runs WHERE status IN ('queued', 'running')"
            " AND connection_id = ANY(:ids) AND scope_key NOT LIKE 'floor:%' GROUP BY connection_id"),
            {"ids": list(connections)}).all())
    _expect(sorted(set(counts.values())), [1])
    _expect(len(counts), len(set(connections)))


def _check_one_active_run_per_scope() -> None:
    from atlas_services.db import get_engine

    with get_engine().connect() as conn:
        doubled = conn.execute(text(
            "SELECT count(*) FROM (SELECT 1 FROM operation_runs WHERE status IN ('queued', 'running')"
            " GROUP BY tenant_id, scope_key HAVING count(*) > 1) AS d")).scalar_one()
    _expect(doubled, 0)


def _check_queue(world: World) -> None:
    """Every run reported as started has exactly one job in the queue, and the queue holds nothing else."""
    queued = Counter(task.args[0] for task in world.queue.pending())
    _expect(queued, Counter(str(run_id) for run_id in world.started))


# --- the world -----------------------------------------------------------------------------------------------


@contextmanager
def _bench_queue(redis_url: str) -> Iterator[tuple[Any, Any]]:
    """A huey on Redis with a queue of its own, holding the real ``execute_run`` task under its real name.

    Its own queue, so that no worker anywhere consumes the benchmark's jobs (the test suite's Redis is shared);
    the message each start pushes is the one ``atlas_jobs.tasks.enqueue_run`` pushes.
    """
    from huey import PriorityRedisHuey

    from atlas_jobs.tasks import execute_run

    queue = PriorityRedisHuey(f"atlas-bench-{uuid.uuid4().hex[:8]}", url=redis_url)  # as atlas_jobs.huey_app
    try:
        yield queue, queue.task(name=execute_run.name)(execute_run.func)
    finally:
        queue.storage.conn.delete(queue.storage.queue_key + ":floor")
        queue.flush()


def _seed(count: int, queue: Any, task: Any) -> World:
    from atlas_services.db import session_scope
    from atlas_services.directory import actor_for, create_tenant, create_user
    from atlas_services.models import ProviderConnection

    email, tenant = "operator@bench.example", f"bench-{uuid.uuid4().hex[:6]}"
    with session_scope() as session:
        create_tenant(session, tenant)
        create_user(session, email=email, password=uuid.uuid4().hex, tenant_name=tenant, role="operator")
    with session_scope() as session:
        actor = actor_for(session, email=email, tenant_name=tenant)
    def enqueue(run_id: uuid.UUID) -> None:  # as atlas_jobs.tasks.enqueue_run: a person's run, ZADD at its priority
        queue.enqueue(task.s(str(run_id), priority=PERSON_PRIORITY))

    message = queue.serialize_task(task.s(str(uuid.uuid4())))  # the floor pushes a message of the same size
    connections = [ProviderConnection(tenant_id=actor.tenant_id, display_name=f"Customer {i:04d}", cloud="simulator",
                                      entra_tenant_id=uuid.uuid4(), client_id=uuid.uuid4(), is_default=i == 0)
                   for i in range(count)]
    with session_scope() as session:
        session.add_all(connections)
    return World(actor=actor, connections=[c.id for c in connections], enqueue=enqueue, queue=queue,
                 floor_key=queue.storage.queue_key + ":floor", floor_message=message)


def _warm_up(world: World) -> None:
    """Fill the pool and the statement caches before anything is timed."""
    _free_scopes()
    _together(min(THREADS, 8), [lambda c=c: world.start(c) for c in world.connections[:8]])
    for connection in world.connections[:8]:
        world.start(connection)
        world.floor(f"floor:{uuid.uuid4()}")


def _free_scopes() -> None:
    """Finish every active run (untimed), as a worker would, so the next case starts on free scopes."""
    from atlas_services.db import get_engine

    with get_engine().begin() as conn:
        conn.execute(text("UPDATE operation_runs SET status = 'succeeded', finished_at = now()"
                          " WHERE status IN ('queued', 'running')"))


@contextmanager
def _pool(size_and_overflow: tuple[int, int] | None) -> Iterator[None]:
    """The engine with another pool size and overflow (None: as configured) for the block."""
    from atlas_services.config import get_settings
    from atlas_services.db import get_engine, reset_engines

    if size_and_overflow is None:
        yield
        return
    keys = ("ATLAS_DB_POOL_SIZE", "ATLAS_DB_MAX_OVERFLOW")
    saved = {k: os.environ.get(k) for k in keys}

    def switch(values: dict[str, str | None]) -> None:
        get_engine().dispose()
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()
        reset_engines()

    switch(dict(zip(keys, map(str, size_and_overflow), strict=True)))
    try:
        yield
    finally:
        switch(saved)


def _pool_label() -> str:
    from atlas_services.config import get_settings

    settings = get_settings()
    return f"{settings.db_pool_size}+{settings.db_max_overflow}"


@contextmanager
def _counting_connects() -> Iterator[list[int]]:
    """How many new PostgreSQL connections the pools open in the block (a burst above pool_size opens some)."""
    count = [0]

    def opened(*_: Any) -> None:
        count[0] += 1

    event.listen(Pool, "connect", opened)
    try:
        yield count
    finally:
        event.remove(Pool, "connect", opened)


if __name__ == "__main__":
    from bench.__main__ import table

    print(table(run()))
