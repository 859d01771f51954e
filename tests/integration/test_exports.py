"""Export contents (issue 10): every role of two tenants, every export and format; rows only of the actor's own
tenant, the capability each export needs, another tenant's connection answered exactly like a missing one, only
the columns the pages show, the page's filters honoured, and keyset paging that streams page by page with no
duplicate and no gap."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from atlas_services.authz import ROLE_CAPABILITIES, Capability
from atlas_services.db import get_engine
from atlas_services.errors import Forbidden, InvalidInput, NotFound
from atlas_services.exports import AUDIT, COLUMNS, INVENTORY, KINDS, RUNS, ExportFilters, open_export
from atlas_services.models import Role
from tests.support.exports import TenantWorld, parse, seed_tenant

NEEDS = {AUDIT: Capability.AUDIT_VIEW, RUNS: Capability.PROVIDER_VIEW, INVENTORY: Capability.PROVIDER_VIEW}
# Where each export shows the tenant's label, so a row's tenant can be read off the row.
LABELLED = {AUDIT: "action", RUNS: "message", INVENTORY: "display_name"}


@pytest.fixture
def worlds(db: None) -> dict[str, TenantWorld]:
    return {"alpha": seed_tenant("alpha"), "beta": seed_tenant("beta")}


def _read(world: TenantWorld, role: str, kind: str, fmt: str, **filters: Any) -> list[dict[str, Any]]:
    if kind == INVENTORY:
        filters.setdefault("connection_id", world.connection_id)
    export = open_export(world.actors[role], kind, fmt, ExportFilters(**filters))
    return parse(fmt, "".join(export.chunks))


@pytest.mark.parametrize("fmt", ["csv", "json"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_role_of_each_tenant_gets_its_own_rows_or_a_refusal(worlds: dict[str, TenantWorld], kind: str,
                                                                   fmt: str) -> None:
    for label, world in worlds.items():
        other = next(name for name in worlds if name != label)
        for role in Role:
            if NEEDS[kind] not in ROLE_CAPABILITIES[role]:
                with pytest.raises(Forbidden):
                    _read(world, role.value, kind, fmt)
                continue
            rows = _read(world, role.value, kind, fmt)
            assert rows, (label, role, kind)
            assert list(rows[0]) == list(COLUMNS[kind])
            values = [str(row[LABELLED[kind]]) for row in rows if row[LABELLED[kind]]]
            assert all(other not in value for value in values), (label, role, kind)
            if kind == AUDIT:  # the seeded events, plus the tenant's own setup (members joining, a connection)
                assert sum(v == f"{label}.event" for v in values) == 4
            else:
                assert all(value.startswith(label) for value in values)


def test_the_column_sets_are_what_the_pages_show_and_nothing_secret() -> None:
    assert COLUMNS == {
        AUDIT: ("at", "actor", "action", "target_type", "target_id", "details"),
        RUNS: ("id", "op_type", "status", "connection_id", "connection_name", "started_by", "reason_code",
               "message", "remediation", "created_at", "started_at", "finished_at"),
        INVENTORY: ("kind", "external_id", "display_name", "item_type", "state", "first_observed_at",
                    "last_observed_at", "removed_at"),
    }


@pytest.mark.parametrize("kind", [RUNS, INVENTORY])
def test_another_tenants_connection_is_answered_like_a_missing_one(worlds: dict[str, TenantWorld],
                                                                   kind: str) -> None:
    alpha, beta = worlds["alpha"], worlds["beta"]
    answers = []
    for target in (beta.connection_id, str(uuid.uuid4()), "not-an-id"):
        with pytest.raises(NotFound) as refused:
            open_export(alpha.actors["owner"], kind, "csv", ExportFilters(connection_id=target))
        answers.append(str(refused.value))
    assert answers == ["connection not found"] * 3


def test_run_filters_are_the_operations_pages(worlds: dict[str, TenantWorld]) -> None:
    alpha = worlds["alpha"]
    rows = _read(alpha, "readonly", RUNS, "json", status="failed", op_type="inventory_sync")
    assert rows and all((r["status"], r["op_type"]) == ("failed", "inventory_sync") for r in rows)
    every = _read(alpha, "readonly", RUNS, "json")
    assert len(rows) == sum((r["status"], r["op_type"]) == ("failed", "inventory_sync") for r in every)
    assert [r["id"] for r in _read(alpha, "readonly", RUNS, "json", connection_id=alpha.connection_id)] == \
        [r["id"] for r in every]


def test_inventory_filters_are_the_inventory_views(worlds: dict[str, TenantWorld]) -> None:
    alpha = worlds["alpha"]
    devices = _read(alpha, "readonly", INVENTORY, "csv", inventory_kind="managed_device")
    assert [r["display_name"] for r in devices] == [n for i, n in enumerate(alpha.item_names) if i % 2 == 0]
    found = _read(alpha, "readonly", INVENTORY, "csv", search="item 003")
    assert [r["display_name"] for r in found] == ["alpha item 003"]


@pytest.mark.parametrize(("kind", "filters"), [
    (AUDIT, {"status": "failed"}), (RUNS, {"status": "nope"}), (RUNS, {"op_type": "drop_tables"}),
    (RUNS, {"search": "x"}), (INVENTORY, {}), (INVENTORY, {"inventory_kind": "users"}),
    (INVENTORY, {"search": "x" * 101})])
def test_filters_that_do_not_apply_or_are_malformed_are_refused(worlds: dict[str, TenantWorld], kind: str,
                                                                filters: dict[str, Any]) -> None:
    if kind == INVENTORY and "connection_id" not in filters and filters:
        filters["connection_id"] = worlds["alpha"].connection_id
    with pytest.raises(InvalidInput):
        open_export(worlds["alpha"].actors["owner"], kind, "csv", ExportFilters(**filters))


@pytest.fixture
def statements() -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append(statement)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", count)
    yield seen
    event.remove(engine, "before_cursor_execute", count)


@pytest.mark.parametrize("kind", KINDS)
def test_exports_page_through_with_no_duplicate_and_no_gap(db: None, kind: str,
                                                           statements: list[str]) -> None:
    world = seed_tenant("paged", runs=11, items=11, events=11)
    owner = world.actors["owner"]
    filters = ExportFilters(connection_id=world.connection_id if kind == INVENTORY else None)
    whole = parse("json", "".join(open_export(owner, kind, "json", filters, page_size=500).chunks))

    statements.clear()
    export = open_export(owner, kind, "json", filters, page_size=3)
    after_open = len(statements)
    chunks = iter(export.chunks)
    first_rows = [next(chunks) for _ in range(3)]  # the first page, already read
    assert len(statements) == after_open, "the first page was read twice"
    paged = parse("json", "".join(first_rows) + "".join(chunks))
    assert len(statements) > after_open + 2, "the rest was not read page by page"
    assert paged == whole and len(whole) >= 11
    keys = {AUDIT: ("at", "action", "target_id"), RUNS: ("id",), INVENTORY: ("kind", "external_id")}[kind]
    assert len({tuple(row[k] for k in keys) for row in paged}) == len(paged)


def test_audit_paging_over_many_events_is_ordered_newest_first(db: None) -> None:
    world = seed_tenant("many", runs=1, items=1, events=25)
    rows = parse("csv", "".join(open_export(world.actors["readonly"], AUDIT, "csv", page_size=4).chunks))
    moments = [row["at"] for row in rows]
    assert moments == sorted(moments, reverse=True)
    assert sum(row["action"] == "many.event" for row in rows) == 25
    assert len({(row["at"], row["action"], row["target_id"]) for row in rows}) == len(rows)
