"""The start gate: one active run per scope, written in one transaction and enqueued after the commit."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import Connection, Row, bindparam, text
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import SQLModel

from atlas_services import audit
from atlas_services.authz import Actor, Capability, load_fields_for_actor, requires
from atlas_services.cloud_availability import refuse_if_unavailable
from atlas_services.db import connection_scope
from atlas_services.errors import InvalidInput, ProviderError
from atlas_services.models import (
    ACTIVE_RUN_PREDICATE,
    OperationRun,
    ProviderConnection,
    RunStatus,
    RunTrigger,
    utcnow,
)
from atlas_services.reasons import ReasonCode
from atlas_services.runs import lifecycle
from atlas_services.runs.types import OPERATIONS, OperationType

log = logging.getLogger(__name__)

Outcome = Literal["started", "deduplicated", "scope_busy"]


@dataclass(frozen=True)
class StartResult:
    outcome: Outcome
    run_id: uuid.UUID
    active_run_id: uuid.UUID | None = None


# The start's one statement, built once (building it costs more than a round trip): insert the run on the
# active-scope index, and in the same statement its audit event, written only when the run was; the answer is the
# run written, else the run holding the scope.
_runs = SQLModel.metadata.tables[OperationRun.__tablename__]
_RUN_VALUES = ("id", "tenant_id", "connection_id", "scope_key", "op_type", "started_by", "trigger", "created_at",
               "credential_id")
_IDENTITY = ("id", "op_type", "connection_id", "credential_id")  # what deduplication compares
_run_written = (
    insert(_runs)
    .values({name: bindparam(name) for name in _RUN_VALUES} | {"status": RunStatus.QUEUED.value, "attempt": 0})
    .on_conflict_do_nothing(index_elements=["tenant_id", "scope_key"], index_where=text(ACTIVE_RUN_PREDICATE))
    .returning(*(_runs.c[name] for name in _IDENTITY))
    .cte("run")
)
# The run holding the scope. Inside the start statement it sees that statement's snapshot, so a holder that
# committed while the insert waited for it is missing there, and is read by this query on its own.
_HOLDER = (
    sa.select(*(_runs.c[name] for name in _IDENTITY), sa.false().label("written"))
    .where(_runs.c.tenant_id == bindparam("tenant_id"), _runs.c.scope_key == bindparam("scope_key"),
           text(ACTIVE_RUN_PREDICATE))
)
_START = (
    sa.union_all(sa.select(*(_run_written.c[name] for name in _IDENTITY), sa.true().label("written")), _HOLDER)
    .order_by(sa.desc("written"))  # the run written wins over a holder that finished as it was written
    .limit(1)
    .add_cte(audit.insert_per_row(_run_written, action="run.start", target_type="operation_run").cte("audited"))
)


def scope_key(tenant_id: uuid.UUID, entra_tenant_id: uuid.UUID) -> str:
    return f"{tenant_id}:microsoft:{entra_tenant_id}"


# What a start reads of its connection (a Row, not an entity: see authz.load_fields_for_actor).
_CONNECTION_FIELDS = ("id", "entra_tenant_id", "display_name", "cloud", "enabled")
_connections = SQLModel.metadata.tables[ProviderConnection.__tablename__]
_DEFAULT_CONNECTION = sa.select(*(_connections.c[name] for name in _CONNECTION_FIELDS)).where(
    _connections.c.tenant_id == bindparam("tenant_id"), _connections.c.is_default)


def _resolve_connection(db: Connection, actor: Actor, connection_id: object | None) -> Row[Any]:
    if connection_id is None:
        connection = db.execute(_DEFAULT_CONNECTION, {"tenant_id": actor.tenant_id}).first()
        if connection is None:
            raise ProviderError(ReasonCode.CONNECTION_NO_DEFAULT)
    else:
        connection = load_fields_for_actor(db, ProviderConnection, _CONNECTION_FIELDS, connection_id, actor,
                                           Capability.PROVIDER_RUN, what="connection")
    if not connection.enabled:
        raise ProviderError(ReasonCode.CONNECTION_DISABLED)
    return connection


@requires(Capability.PROVIDER_RUN)
def start_operation(actor: Actor, op_type: str, connection_id: object | None = None, *,
                    enqueue: Callable[[uuid.UUID], None]) -> StartResult:
    """Start ``op_type`` on a connection (the tenant's default when None): one run per scope at a time.

    Returns ``started``, ``deduplicated`` (the same operation is already active on the connection) or
    ``scope_busy`` (another operation holds the scope; ``active_run_id`` names it). The job is enqueued
    after the commit, carrying only the run id; if that fails the run fails with ``queue.unavailable``.
    """
    if not isinstance(op_type, str) or op_type not in set(OperationType):
        raise InvalidInput("op_type", f"unknown operation type; choose one of: {', '.join(OperationType)}")
    if not OPERATIONS[OperationType(op_type)].available:
        raise ProviderError(ReasonCode.CAPABILITY_NOT_AVAILABLE, f"'{op_type}' is not available yet.")
    return _start(actor, op_type, connection_id, None, enqueue, RunTrigger.PERSON)


def start_verification(actor: Actor, connection_id: uuid.UUID, credential_id: uuid.UUID, *,
                       enqueue: Callable[[uuid.UUID], None]) -> uuid.UUID:
    """Start the health check that verifies a rotated credential (the rotation use case authorizes)."""
    result = _start(actor, OperationType.HEALTH_CHECK, connection_id, credential_id, enqueue, RunTrigger.PERSON)
    if result.outcome != "started":
        raise ProviderError(ReasonCode.RUN_SCOPE_BUSY, f"Another operation is active (run {result.active_run_id}).")
    return result.run_id


def _start(actor: Actor, op_type: str, connection_id: object | None, credential_id: uuid.UUID | None,
           enqueue: Callable[[uuid.UUID], None], trigger: RunTrigger) -> StartResult:
    for _ in range(3):
        with connection_scope() as db:
            connection = _resolve_connection(db, actor, connection_id)
            refuse_if_unavailable(connection.cloud, op_type)  # a capability the cloud's Graph lacks never queues
            details = {"op_type": op_type, "connection": connection.display_name,
                       "verifies_credential": str(credential_id) if credential_id else None}
            result = _write(db, actor.tenant_id, connection, op_type, credential_id, actor.user_id, trigger, details)
        if result is None:
            continue  # the holder finished between the insert and the look: try again
        if result.outcome == "started":
            _enqueue_or_fail(result.run_id, enqueue)
        return result
    raise ProviderError(ReasonCode.INTERNAL_UNEXPECTED, "The scope kept changing; try again.")


def _write(db: Connection, tenant_id: uuid.UUID, connection: Row[Any], op_type: str,
           credential_id: uuid.UUID | None, started_by: uuid.UUID | None, trigger: RunTrigger,
           details: dict[str, Any]) -> StartResult | None:
    """The start's one statement (and, when it lost a race, one look at the holder); None: try again."""
    scope = scope_key(tenant_id, connection.entra_tenant_id)
    run = db.execute(_START, {
        "id": uuid.uuid4(), "tenant_id": tenant_id, "connection_id": connection.id, "scope_key": scope,
        "op_type": op_type, "started_by": started_by, "trigger": trigger.value, "created_at": utcnow(),
        "credential_id": credential_id,
        **audit.per_row_params(tenant_id=tenant_id, actor_user_id=started_by, details=details),
    }).first() or db.execute(_HOLDER, {"tenant_id": tenant_id, "scope_key": scope}).first()
    if run is None:
        return None
    if not run.written:
        same = (run.op_type, run.connection_id, run.credential_id) == (op_type, connection.id, credential_id)
        return StartResult("deduplicated" if same else "scope_busy", run.id, run.id)
    return StartResult("started", run.id)


# What a scheduled start reads of its connection: the start's fields, by tenant and id, never a deleted one.
_SCHEDULED_CONNECTION = sa.select(*(_connections.c[name] for name in _CONNECTION_FIELDS)).where(
    _connections.c.id == bindparam("connection_id"), _connections.c.tenant_id == bindparam("tenant_id"),
    _connections.c.deleted_at.is_(None))


def start_scheduled(db: Connection, *, tenant_id: uuid.UUID, connection_id: uuid.UUID, op_type: str,
                    schedule_id: uuid.UUID) -> StartResult:
    """Start ``op_type`` for a schedule through the same gate as a person's start, inside the caller's transaction
    (the scheduler's claim of the schedule row), so the run and the schedule's advance commit together.

    No user: started_by stays NULL, the trigger is ``schedule``, and the audit event (actor NULL) names the
    schedule. The caller enqueues a started run after its commit, with ``enqueue_or_fail``. A disabled or deleted
    connection, or an operation its cloud lacks, raises ProviderError.
    """
    connection = db.execute(_SCHEDULED_CONNECTION, {"connection_id": connection_id, "tenant_id": tenant_id}).first()
    if connection is None:
        raise ProviderError(ReasonCode.CONNECTION_DISABLED, "The connection was deleted.")
    if not connection.enabled:
        raise ProviderError(ReasonCode.CONNECTION_DISABLED)
    refuse_if_unavailable(connection.cloud, op_type)
    details = {"op_type": op_type, "connection": connection.display_name, "trigger": RunTrigger.SCHEDULE.value,
               "schedule": str(schedule_id)}
    for _ in range(3):
        result = _write(db, tenant_id, connection, op_type, None, None, RunTrigger.SCHEDULE, details)
        if result is not None:
            return result
    raise ProviderError(ReasonCode.INTERNAL_UNEXPECTED, "The scope kept changing; try again.")


def enqueue_or_fail(run_id: uuid.UUID, enqueue: Callable[[uuid.UUID], None]) -> None:
    """Enqueue a committed run; if the queue refuses, the run fails with queue.unavailable (and this raises)."""
    _enqueue_or_fail(run_id, enqueue)


def _enqueue_or_fail(run_id: uuid.UUID, enqueue: Callable[[uuid.UUID], None]) -> None:
    try:
        enqueue(run_id)
    except Exception as exc:  # noqa: BLE001 - whatever the queue raised, the run must not stay queued
        log.warning("enqueue of run %s failed: %s", run_id, type(exc).__name__)
        lifecycle.fail_with(run_id, ReasonCode.QUEUE_UNAVAILABLE)
        raise ProviderError(ReasonCode.QUEUE_UNAVAILABLE) from None
