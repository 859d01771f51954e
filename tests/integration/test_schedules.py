"""Schedules as people set them: the defaults a new connection inherits, set/list/clear with their capabilities,
and bad input that leaves nothing written."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlmodel import select

from atlas_services.connections import delete_connection, set_enabled
from atlas_services.db import session_scope
from atlas_services.errors import Forbidden, InvalidInput, NotFound
from atlas_services.models import AuditEvent, Schedule, SchedulePolicy, utcnow
from atlas_services.schedules.defaults import list_defaults, reset_default, set_default
from atlas_services.schedules.manage import clear_schedule, connection_schedules, list_schedules, set_schedule
from tests.support.factories import create_connection, make_actor


def _count(model: type) -> int:
    with session_scope() as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def test_a_new_connection_inherits_the_default_policy_first_due_within_its_jitter(db: None) -> None:
    owner = make_actor("owner")
    before = utcnow()
    connection = create_connection(owner)

    views = {v.op_type: v for v in connection_schedules(owner, connection.id)}
    assert {op: v.description for op, v in views.items()} == {
        "health_check": "every 6h, jitter 30m",
        "inventory_sync": "daily at 01:00 UTC, jitter 2h",
        "compliance_snapshot": "daily at 04:00 UTC, jitter 2h",
    }
    for view in views.values():
        assert before <= view.next_due_at <= utcnow() + timedelta(seconds=view.jitter_seconds)
        assert view.consecutive_skips == 0 and view.last_outcome is None


def test_a_tenant_policy_replaces_the_built_in_default_for_new_connections(db: None) -> None:
    owner = make_actor("owner")
    with session_scope() as session:
        session.add(SchedulePolicy(tenant_id=owner.tenant_id, op_type="health_check", every_seconds=3600))
        session.add(SchedulePolicy(tenant_id=owner.tenant_id, op_type="compliance_snapshot", enabled=False))
    connection = create_connection(owner)
    views = {v.op_type: v.description for v in connection_schedules(owner, connection.id)}
    assert views == {"health_check": "every 1h", "inventory_sync": "daily at 01:00 UTC, jitter 2h"}


def test_set_replaces_the_schedule_is_due_at_once_and_is_audited(db: None) -> None:
    owner = make_actor("owner")
    connection = create_connection(owner)
    before = utcnow()

    view = set_schedule(owner, connection.id, "inventory_sync", daily="02:00", time_zone="Europe/Berlin",
                        jitter="0")

    assert view.description == "daily at 02:00 Europe/Berlin"
    assert before <= view.next_due_at <= utcnow()  # no jitter: due at once
    (listed,) = [v for v in list_schedules(owner) if v.op_type == "inventory_sync"]
    assert listed.id == view.id and listed.time_zone == "Europe/Berlin"
    with session_scope() as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "schedule.set")).one()
    assert event.actor_user_id == owner.user_id and event.details["schedule"] == "daily at 02:00 Europe/Berlin"

    clear_schedule(owner, connection.id, "inventory_sync")
    assert "inventory_sync" not in {v.op_type for v in connection_schedules(owner, connection.id)}
    with pytest.raises(NotFound, match="schedule not found"):
        clear_schedule(owner, connection.id, "inventory_sync")


def test_viewing_needs_provider_view_and_setting_needs_provider_manage(db: None) -> None:
    owner = make_actor("owner")
    connection = create_connection(owner)
    for role in ("operator", "readonly"):
        member = make_actor(role, tenant_name=owner.tenant_name)
        assert len(connection_schedules(member, connection.id)) == 3
        with pytest.raises(Forbidden):
            set_schedule(member, connection.id, "health_check", every="1h")
        with pytest.raises(Forbidden):
            clear_schedule(member, connection.id, "health_check")
    manager = make_actor("manager", tenant_name=owner.tenant_name)
    assert set_schedule(manager, connection.id, "health_check", every="1h").every_seconds == 3600


def test_another_tenants_connection_is_not_found_and_its_schedules_are_not_listed(db: None) -> None:
    owner, stranger = make_actor("owner"), make_actor("owner")
    connection = create_connection(owner)
    with pytest.raises(NotFound, match="connection not found"):
        set_schedule(stranger, connection.id, "health_check", every="1h")
    with pytest.raises(NotFound, match="connection not found"):
        clear_schedule(stranger, connection.id, "health_check")
    with pytest.raises(NotFound, match="connection not found"):
        connection_schedules(stranger, connection.id)
    assert list_schedules(stranger) == []
    assert list_schedules(stranger, connection_id=connection.id) == []


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"every": "0h"}, InvalidInput, "longer than zero"),
    ({"every": "-6h"}, InvalidInput, "cannot be negative"),
    ({"daily": "02:00", "time_zone": "Atlantis/Capital"}, InvalidInput, "Unknown time zone"),
    ({"every": "1h", "jitter": "90m"}, InvalidInput, "longer than the interval"),
    ({"op_type": "script_deploy", "every": "1h"}, InvalidInput, "cannot be scheduled"),
    ({"op_type": "reboot", "every": "1h"}, InvalidInput, "Unknown operation"),
    ({"connection": "disabled", "every": "1h"}, InvalidInput, "connection is disabled"),
    ({"connection": "deleted", "every": "1h"}, NotFound, "connection not found"),
    ({"connection": "not-a-uuid", "every": "1h"}, NotFound, "connection not found"),
])
def test_bad_input_gets_a_clear_message_and_writes_nothing(db: None, kwargs: dict[str, str], error: type,
                                                           message: str) -> None:
    owner = make_actor("owner")
    connection = create_connection(owner)
    target: object = connection.id
    which = kwargs.pop("connection", None)
    if which == "disabled":
        set_enabled(owner, connection.id, False)
    elif which == "deleted":
        delete_connection(owner, connection.id)
    elif which is not None:
        target = which
    schedules, events = _count(Schedule), _count(AuditEvent)
    with session_scope() as session:
        due_before = sorted(str(s.due_at) for s in session.exec(select(Schedule)).all())

    with pytest.raises(error, match=message):
        set_schedule(owner, target, kwargs.pop("op_type", "health_check"), **kwargs)

    assert (_count(Schedule), _count(AuditEvent)) == (schedules, events)
    with session_scope() as session:
        assert sorted(str(s.due_at) for s in session.exec(select(Schedule)).all()) == due_before


def test_deleting_a_connection_deletes_its_schedules(db: None) -> None:
    owner = make_actor("owner")
    keep, gone = create_connection(owner), create_connection(owner)
    delete_connection(owner, gone.id)
    with session_scope() as session:
        assert {s.connection_id for s in session.exec(select(Schedule)).all()} == {keep.id}


def test_a_manager_changes_the_tenant_defaults_new_connections_inherit(db: None) -> None:
    manager = make_actor("manager")
    existing = create_connection(manager)
    assert [(d.op_type, d.source) for d in list_defaults(manager)] == [
        ("health_check", "built-in"), ("inventory_sync", "built-in"), ("compliance_snapshot", "built-in")]

    set_default(manager, "inventory_sync", daily="03:00", time_zone="Europe/Berlin", jitter="1h")
    set_default(manager, "compliance_snapshot", off=True)

    assert {d.op_type: (d.source, d.description) for d in list_defaults(manager)} == {
        "health_check": ("built-in", "every 6h, jitter 30m"),
        "inventory_sync": ("tenant", "daily at 03:00 Europe/Berlin, jitter 1h"),
        "compliance_snapshot": ("tenant", "no schedule"),
    }
    new = create_connection(manager)
    assert {v.op_type: v.description for v in connection_schedules(manager, new.id)} == {
        "health_check": "every 6h, jitter 30m", "inventory_sync": "daily at 03:00 Europe/Berlin, jitter 1h"}
    assert len(connection_schedules(manager, existing.id)) == 3  # existing schedules stay as they were
    assert reset_default(manager, "compliance_snapshot").description == "daily at 04:00 UTC, jitter 2h"
    assert len(connection_schedules(manager, create_connection(manager).id)) == 3


def test_tenant_defaults_need_provider_manage_stay_in_the_tenant_and_refuse_bad_input(db: None) -> None:
    owner, other = make_actor("owner"), make_actor("owner")
    operator = make_actor("operator", tenant_name=owner.tenant_name)
    with pytest.raises(Forbidden):
        set_default(operator, "health_check", every="1h")
    with pytest.raises(Forbidden):
        reset_default(operator, "health_check")
    for kwargs, message in (({"every": "0h"}, "longer than zero"), ({"every": "1h", "off": True}, "not both"),
                            ({"op_type": "script_deploy", "every": "1h"}, "Choose one of")):
        with pytest.raises(InvalidInput, match=message):
            set_default(owner, kwargs.pop("op_type", "health_check"), **kwargs)
    assert _count(SchedulePolicy) == 0
    set_default(owner, "health_check", every="1h")
    assert [d.source for d in list_defaults(other)] == ["built-in"] * 3
