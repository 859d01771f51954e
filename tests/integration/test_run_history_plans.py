"""Every filter of the run history reads by index range, never by walking the history.

The table is seeded like the run-history benchmark (bench/run_history.py, scaled down: enough rows that the
planner prefers indexes) and analysed; then, for every filter combination the Operations page offers (the
benchmark's own list), on the first page and on a deep page, the statement ``list_runs`` executes is
EXPLAINed. A sequential or bitmap scan of operation_runs, or an index scan that filters status, operation or
connection row by row (a walk through every run of the tenant or connection), fails the case.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, text

from atlas_services.authz import Actor
from atlas_services.db import get_engine, session_scope
from atlas_services.models import ACTIVE_RUN_STATUSES, RunStatus
from bench.run_history import Filters, bench_actor, filter_combinations, label, seed

RUNS = 100_000
CONNECTIONS = 100  # 10 per tenant: 1,000 runs per connection, 10,000 per tenant
CONNECTION = "the bench connection"
CASES = filter_combinations(CONNECTION)
FILTERED_ONE_BY_ONE = ("status", "op_type", "connection_id")


@pytest.fixture(scope="module")
def seeded(database: None) -> Iterator[tuple[Actor, str, str]]:
    """The seeded history: an owner of the first tenant, its first connection, and a cursor halfway back."""
    seed(os.environ["ATLAS_DATABASE_URL"], RUNS, connections=CONNECTIONS)
    actor, connection_id = bench_actor(os.environ["ATLAS_DATABASE_URL"])
    with session_scope() as session:
        created_at, run_id = session.execute(text(
            "SELECT created_at, id FROM operation_runs WHERE tenant_id = :t ORDER BY created_at DESC, id DESC "
            "OFFSET :n LIMIT 1"), {"t": actor.tenant_id, "n": RUNS // 20}).one()
    yield actor, connection_id, f"{created_at.isoformat()}|{run_id}"
    with get_engine().begin() as conn:
        conn.execute(text("TRUNCATE operation_runs, provider_connections, tenants CASCADE"))


def _arguments(filters: Filters, connection_id: str) -> dict[str, Any]:
    return {**filters, "connection_id": connection_id if filters["connection_id"] else None}


def _executed(call: Any) -> list[tuple[str, Any]]:
    """The statements (and parameters) ``call`` sends to PostgreSQL."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        seen.append((statement, parameters))

    event.listen(get_engine(), "before_cursor_execute", record)
    try:
        call()
    finally:
        event.remove(get_engine(), "before_cursor_execute", record)
    return seen


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def walks(plan: dict[str, Any], indexes: dict[str, list[str]], bounded: frozenset[str] = frozenset()
          ) -> list[str]:
    """Where a plan reads operation_runs other than by an index range that yields only what it keeps: a
    sequential or bitmap scan, a Filter on a filtered column, or an Index Cond that skips a leading column of
    its index (a scan of the whole range under the columns it does match). ``indexes`` maps index names to
    their columns; ``bounded`` names indexes whose size does not grow with history (the partial indexes of
    active runs: at most one per scope), which may be read whole."""
    found = []
    for node in _nodes(plan):
        if node.get("Relation Name") != "operation_runs" or node.get("Index Name") in bounded:
            continue
        kind, index = node["Node Type"], node.get("Index Name", "")
        if kind in ("Seq Scan", "Bitmap Heap Scan"):
            found.append(f"{kind} on operation_runs")
        elif kind in ("Index Scan", "Index Only Scan"):
            condition = node.get("Index Cond", "")
            matched = [re.search(rf"\b{column}\b", condition) is not None for column in indexes[index]]
            if not any(matched):
                found.append(f"{kind} of all of {index}")
            elif False in matched and True in matched[matched.index(False):]:
                skipped = indexes[index][matched.index(False)]
                found.append(f"{kind} on {index} skipping {skipped}: the whole range under what it matches")
            walked = [c for c in FILTERED_ONE_BY_ONE if c in node.get("Filter", "")]
            if walked:
                found.append(f"{kind} on {index} filtering {', '.join(walked)} row by row")
    return found


def _index_columns() -> dict[str, list[str]]:
    with get_engine().connect() as conn:
        rows = conn.execute(text(
            "SELECT c.relname, a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, position) "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
            "WHERE i.indrelid = 'operation_runs'::regclass ORDER BY c.relname, k.position")).all()
    columns: dict[str, list[str]] = {}
    for name, column in rows:
        columns.setdefault(str(name), []).append(str(column))
    return columns


def _active_run_indexes() -> frozenset[str]:
    """operation_runs' partial indexes that hold only active runs."""
    with get_engine().connect() as conn:
        rows = conn.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'operation_runs' "
                                 "AND indexdef LIKE '% WHERE %'")).all()
    return frozenset(name for name, definition in rows
                     if {s for s in RunStatus if f"'{s.value}'" in definition.partition(" WHERE ")[2]}
                     == set(ACTIVE_RUN_STATUSES))


def _explain(statement: str, parameters: Any) -> dict[str, Any]:
    with get_engine().connect() as conn:
        (document,) = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters).one()
    return dict(document[0]["Plan"])


@pytest.mark.parametrize("page", ["first", "deep"])
@pytest.mark.parametrize("filters", CASES, ids=[label(f) for f in CASES])
def test_every_history_filter_reads_by_index(seeded: tuple[Actor, str, str], filters: Filters, page: str) -> None:
    from atlas_services.runs.queries import list_runs

    actor, connection_id, cursor = seeded
    before = cursor if page == "deep" else None
    statements = _executed(lambda: list_runs(actor, 26, before=before, **_arguments(filters, connection_id)))
    reads = [(s, p) for s, p in statements if "operation_runs" in s]
    assert reads, "list_runs read no runs"
    for statement, parameters in reads:
        plan = _explain(statement, parameters)
        assert walks(plan, _index_columns(), _active_run_indexes()) == [], f"{label(filters)} ({page} page)"


def test_the_walk_detector_sees_a_walk(seeded: tuple[Actor, str, str]) -> None:
    """The check above can fail: the plain one-WHERE query for an operation that has no runs walks the
    tenant's history (whichever index the planner takes, none has op_type right after tenant_id)."""
    actor, _, _ = seeded
    with get_engine().connect() as conn:
        (document,) = conn.execute(text(
            "EXPLAIN (FORMAT JSON) SELECT id FROM operation_runs WHERE tenant_id = :t AND op_type = 'script_deploy' "
            "ORDER BY created_at DESC, id DESC LIMIT 26"), {"t": actor.tenant_id}).one()
    assert walks(dict(document[0]["Plan"]), _index_columns()) != []


@pytest.mark.parametrize("page", ["first", "deep"])
def test_every_filter_returns_what_the_plain_query_returns(seeded: tuple[Actor, str, str], page: str) -> None:
    """The merged index ranges give the same page, in the same order, as one WHERE with every filter."""
    from atlas_services.runs.queries import list_runs

    actor, connection_id, cursor = seeded
    before = cursor if page == "deep" else None
    for filters in CASES:
        arguments = _arguments(filters, connection_id)
        where = ["tenant_id = :t"] + [f"{column} = :{column}" for column, value in arguments.items() if value]
        if before:
            where.append("(created_at, id) < (:at, :id)")
        moment, _, run_id = cursor.partition("|")
        with session_scope() as session:
            expected = session.execute(text(
                f"SELECT id FROM operation_runs WHERE {' AND '.join(where)} "  # the column names are fixed
                "ORDER BY created_at DESC, id DESC LIMIT 26"),
                {"t": actor.tenant_id, "at": moment, "id": uuid.UUID(run_id),
                 **{k: (uuid.UUID(v) if k == "connection_id" else v) for k, v in arguments.items() if v}},
            ).scalars().all()
        got = [view.id for view in list_runs(actor, 26, before=before, **arguments)]
        assert got == list(expected), f"{label(filters)} ({page} page)"


def test_another_tenants_connection_reads_as_a_missing_one(seeded: tuple[Actor, str, str]) -> None:
    from atlas_services.runs.queries import list_runs

    actor, _, _ = seeded
    with session_scope() as session:
        foreign = session.execute(text("SELECT id FROM provider_connections WHERE tenant_id <> :t LIMIT 1"),
                                  {"t": actor.tenant_id}).scalar_one()
    assert list_runs(actor, connection_id=foreign) == []
    assert list_runs(actor, connection_id=foreign, status="failed") == []
