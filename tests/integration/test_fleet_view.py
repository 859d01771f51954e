"""The fleet view's reads (atlas_services.fleet): filters, counts, sorting and paging in PostgreSQL, tenant-scoped,
one statement per widget whatever the fleet's size, and the inventory store keeping "last inventory" current."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, text

from atlas_services import fleet
from atlas_services.authz import Actor
from atlas_services.db import get_engine, session_scope
from atlas_services.errors import Forbidden, InvalidInput
from atlas_services.fleet import FleetFilter, FleetQuery, fleet_counts, fleet_page
from atlas_services.inventory_store import RunObservationStore
from atlas_services.models import utcnow
from atlas_services.runs import lifecycle, start
from tests.support.factories import create_connection, make_actor

BLOCKED_INVENTORY = {"readiness": {
    "health_check": {"status": "ready"}, "inventory_sync": {"status": "blocked", "missing": ["X.Read.All"]},
    "compliance_snapshot": {"status": "ready"}}}
BLOCKED_COMPLIANCE = {"readiness": {"inventory_sync": {"status": "ready"},
                                    "compliance_snapshot": {"status": "blocked"}}}


@pytest.fixture
def statements(db: None) -> Iterator[list[str]]:
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(" ".join(statement.split()))

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", record)
    yield sent
    event.remove(engine, "before_cursor_execute", record)


def _set(name: str, actor: Actor, **values: Any) -> None:
    """Give a connection the state a health check or a sync would have left (columns of provider_connections)."""
    assignments = ", ".join(f"{key} = :{key}" for key in values)
    with session_scope() as session:
        session.execute(text(f"UPDATE provider_connections SET {assignments} "
                             "WHERE tenant_id = :tenant AND display_name = :name"),
                        {**values, "tenant": actor.tenant_id, "name": name})


def _expires(name: str, actor: Actor, days: float) -> None:
    with session_scope() as session:
        session.execute(text("UPDATE provider_credentials k SET expires_at = :at FROM provider_connections c "
                             "WHERE k.connection_id = c.id AND c.tenant_id = :tenant AND c.display_name = :name"),
                        {"at": utcnow() + timedelta(days=days), "tenant": actor.tenant_id, "name": name})


def _names(actor: Actor, **filters: Any) -> list[str]:
    page = fleet_page(actor, FleetQuery(FleetFilter(**filters), page_size=200))
    assert page.matched == len(page.entries)
    return [entry.connection.name for entry in page.entries]


@pytest.fixture
def fleet_of_six(db: None) -> Actor:
    owner = make_actor("owner")
    for name in ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot"):
        create_connection(owner, name=name)
    now = utcnow()
    _set("alpha", owner, health_status="healthy", last_checked_at=now, last_inventory_at=now)
    _set("bravo", owner, health_status="healthy", last_checked_at=now - timedelta(days=2), cloud="global",
         last_inventory_at=now - timedelta(days=10))
    _set("charlie", owner, health_status="unhealthy", last_checked_at=now, health_reason_code="permission.missing")
    _set("delta", owner, health_status="unhealthy", last_checked_at=now, enabled=False)
    _set("echo", owner, health_status="healthy", last_checked_at=now, last_inventory_at=now - timedelta(days=40))
    with session_scope() as session:
        for name, details in (("charlie", BLOCKED_INVENTORY), ("echo", BLOCKED_COMPLIANCE)):
            session.execute(text("UPDATE provider_connections SET health_details = CAST(:d AS jsonb) "
                                 "WHERE tenant_id = :t AND display_name = :n"),
                            {"d": json.dumps(details), "t": owner.tenant_id, "n": name})
    _expires("alpha", owner, 400)
    _expires("bravo", owner, 10)
    _expires("charlie", owner, -3)  # expired: it needs the same action as one that is about to
    _expires("echo", owner, 45)
    # foxtrot: never checked, never inventoried, no expiry typed
    return owner


def test_each_filter_matches_exactly_its_connections(fleet_of_six: Actor) -> None:
    owner = fleet_of_six
    assert _names(owner) == ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
    assert _names(owner, health="healthy") == ["alpha", "bravo", "echo"]
    assert _names(owner, health="unhealthy") == ["charlie", "delta"]
    assert _names(owner, health="unknown") == ["foxtrot"]
    assert _names(owner, health="never_checked") == ["foxtrot"]
    assert _names(owner, cloud="global") == ["bravo"]
    assert _names(owner, cloud="simulator") == ["alpha", "charlie", "delta", "echo", "foxtrot"]
    assert _names(owner, expiring_within_days=30) == ["bravo", "charlie"]
    assert _names(owner, expiring_within_days=60) == ["bravo", "charlie", "echo"]
    assert _names(owner, inventory_older_than_days=7) == ["bravo", "charlie", "delta", "echo", "foxtrot"]
    assert _names(owner, inventory_older_than_days=30) == ["charlie", "delta", "echo", "foxtrot"]
    assert _names(owner, failing_capability="inventory_sync") == ["charlie"]
    assert _names(owner, failing_capability="compliance_snapshot") == ["echo"]
    assert _names(owner, failing_capability="any") == ["charlie", "echo"]
    assert _names(owner, health="healthy", expiring_within_days=30) == ["bravo"]
    assert _names(owner, health="healthy", cloud="china") == []


def test_rows_carry_what_the_table_shows(fleet_of_six: Actor) -> None:
    entries = {e.connection.name: e for e in fleet_page(fleet_of_six, FleetQuery()).entries}
    assert entries["charlie"].failing_capabilities == ("inventory_sync",)
    assert entries["charlie"].connection.expiry_warning == "The credential has expired: rotate it now."
    assert entries["foxtrot"].last_inventory_at is None and entries["alpha"].last_inventory_at is not None
    assert entries["alpha"].connection.secret_hint and entries["alpha"].connection.credential_kind == "client_secret"
    assert not entries["delta"].connection.enabled


def test_the_counts_at_the_top(fleet_of_six: Actor) -> None:
    counts = fleet_counts(fleet_of_six)
    assert (counts.total, counts.healthy, counts.unhealthy, counts.expiring, counts.never_checked,
            counts.disabled) == (6, 3, 2, 2, 1, 1)
    # Each count is the size of the filter its link applies.
    assert len(_names(fleet_of_six, health="healthy")) == counts.healthy
    assert len(_names(fleet_of_six, expiring_within_days=counts.expiring_days)) == counts.expiring


def test_sorting_and_paging(fleet_of_six: Actor) -> None:
    owner = fleet_of_six
    first = fleet_page(owner, FleetQuery(page_size=4))
    second = fleet_page(owner, FleetQuery(page_size=4, page=2))
    assert [e.connection.name for e in first.entries] == ["alpha", "bravo", "charlie", "delta"]
    assert [e.connection.name for e in second.entries] == ["echo", "foxtrot"]
    assert (first.matched, first.pages, second.matched) == (6, 2, 6)
    beyond = fleet_page(owner, FleetQuery(page_size=4, page=9))
    assert beyond.entries == [] and beyond.matched == 6
    by_name_desc = fleet_page(owner, FleetQuery(descending=True))
    assert [e.connection.name for e in by_name_desc.entries][:2] == ["foxtrot", "echo"]
    by_expiry = [e.connection.name for e in fleet_page(owner, FleetQuery(sort="expires")).entries]
    assert by_expiry == ["charlie", "bravo", "echo", "alpha", "delta", "foxtrot"]  # soonest first, none last
    by_health = [e.connection.name for e in fleet_page(owner, FleetQuery(sort="health")).entries]
    assert by_health == ["charlie", "delta", "foxtrot", "alpha", "bravo", "echo"]  # worst first
    by_inventory = [e.connection.name for e in fleet_page(owner, FleetQuery(sort="last_inventory",
                                                                            descending=True)).entries]
    assert by_inventory == ["alpha", "bravo", "echo", "charlie", "delta", "foxtrot"]  # newest first, never last


def test_another_tenants_connections_are_neither_listed_nor_counted(fleet_of_six: Actor) -> None:
    other = make_actor("owner")
    create_connection(other, name="alpha")
    create_connection(other, name="zulu")
    assert _names(other) == ["alpha", "zulu"]
    assert fleet_counts(other).total == 2
    assert fleet_counts(fleet_of_six).total == 6


def test_deleted_connections_are_not_in_the_fleet(fleet_of_six: Actor) -> None:
    _set("foxtrot", fleet_of_six, deleted_at=utcnow())
    assert "foxtrot" not in _names(fleet_of_six)
    assert fleet_counts(fleet_of_six).total == 5


@pytest.mark.parametrize("query", [
    FleetQuery(FleetFilter(health="sick")),
    FleetQuery(FleetFilter(cloud="moon")),
    FleetQuery(FleetFilter(failing_capability="script_deploy")),
    FleetQuery(FleetFilter(expiring_within_days=-1)),
    FleetQuery(FleetFilter(inventory_older_than_days="7")),  # type: ignore[arg-type]
    FleetQuery(FleetFilter(expiring_within_days=True)),  # type: ignore[arg-type]
    FleetQuery(sort="secret"),
    FleetQuery(sort="display_name; DROP TABLE tenants"),
    FleetQuery(page=0),
    FleetQuery(page_size=10_000),
    FleetQuery(descending="yes"),  # type: ignore[arg-type]
])
def test_bad_queries_are_refused_naming_the_field(fleet_of_six: Actor, query: FleetQuery) -> None:
    with pytest.raises(InvalidInput):
        fleet_page(fleet_of_six, query)


def test_a_member_without_provider_view_reads_nothing(db: None) -> None:
    outsider = Actor(user_id=uuid.uuid4(), email="x@example.test", tenant_id=uuid.uuid4(), tenant_name="x",
                     role="nobody")
    with pytest.raises(Forbidden):
        fleet_page(outsider, FleetQuery())
    with pytest.raises(Forbidden):
        fleet_counts(outsider)


def test_one_statement_per_widget_whatever_the_fleet_size(statements: list[str]) -> None:
    """No N+1: the page and the counts are one statement each for 3 connections and for 60."""
    owner = make_actor("owner")
    sent: dict[int, tuple[int, int]] = {}
    for size in (3, 60):
        while fleet_counts(owner).total < size:
            create_connection(owner)
        statements.clear()
        page = fleet_page(owner, FleetQuery(FleetFilter(failing_capability="any", inventory_older_than_days=1,
                                                        expiring_within_days=30), page_size=200))
        after_page = len(statements)
        fleet_page(owner, FleetQuery(page_size=200))
        fleet_counts(owner)
        sent[size] = (after_page, len(statements))
        assert page.matched == 0
    assert sent == {3: (1, 3), 60: (1, 3)}, sent


def _plan(statement: Any, params: dict[str, Any]) -> str:
    """PostgreSQL's plan for a statement as the service sends it (with sequential scans priced out)."""
    def explain(conn: Any, cursor: Any, sql: str, parameters: Any, context: Any, many: bool) -> tuple[str, Any]:
        return "EXPLAIN " + sql, parameters

    with get_engine().connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        event.listen(conn, "before_cursor_execute", explain, retval=True)
        try:
            return "\n".join(str(row[0]) for row in conn.execute(statement, params))
        finally:
            event.remove(conn, "before_cursor_execute", explain)
            conn.exec_driver_sql("RESET enable_seqscan")


def test_the_fleet_reads_use_the_tenant_indexes(fleet_of_six: Actor) -> None:
    """The page and the counts read the tenant's connections and active credentials through their indexes (the
    plans at 10 x 1,000 connections are in bench/fleet_view.py)."""
    now = utcnow()
    for statement in (fleet._page_statement(FleetQuery(FleetFilter(health="healthy")), now),
                      fleet._counts_statement(now)):
        plan = _plan(statement, {"tenant_id": fleet_of_six.tenant_id})
        assert "Seq Scan" not in plan, plan
        assert "ix_provider_credentials_tenant_active" in plan, plan
        assert "provider_connections_fleet" in plan or "provider_connections_tenant" in plan, plan


def test_a_complete_inventory_listing_sets_last_inventory(db: None) -> None:
    owner = make_actor("owner")
    connection = create_connection(owner)
    assert fleet_page(owner, FleetQuery()).entries[0].last_inventory_at is None
    run_id = start.start_operation(owner, "inventory_sync", connection.id, enqueue=lambda _: None).run_id
    claim = lifecycle.claim(run_id)
    assert claim is not None
    store = RunObservationStore(run_id=claim.run_id, lease=claim.lease, tenant_id=owner.tenant_id,
                                connection_id=claim.connection_id)
    store.store_page("managed_device", [])
    assert fleet_page(owner, FleetQuery()).entries[0].last_inventory_at is None  # a page is not a listing
    before = utcnow()
    store.mark_removed("managed_device")
    assert fleet_page(owner, FleetQuery(FleetFilter(inventory_older_than_days=1))).entries == []
    last = fleet_page(owner, FleetQuery()).entries[0].last_inventory_at
    assert last is not None and last >= before
