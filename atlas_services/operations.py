"""Operation runs: the start gate, the run lifecycle and the read models the UI polls."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, col, select

from atlas_services import audit, gateway, run_lifecycle
from atlas_services.authz import Actor, Capability, load_for_actor, requires, role_capabilities
from atlas_services.db import session_scope
from atlas_services.errors import InvalidInput, ProviderError
from atlas_services.models import (
    ACTIVE_RUN_PREDICATE,
    ACTIVE_RUN_STATUSES,
    Membership,
    OperationRun,
    ProviderConnection,
    RunStatus,
    utcnow,
)
from atlas_services.reasons import reason

log = logging.getLogger(__name__)

# Operation types known to Atlas; the value says whether a worker can run it yet.
OPERATION_TYPES: dict[str, bool] = {
    "health_check": True,
    "inventory_sync": True,
    "compliance_snapshot": True,
    "script_deploy": False,
    "app_publish": False,
}

Outcome = Literal["started", "deduplicated", "scope_busy"]


@dataclass(frozen=True)
class StartResult:
    outcome: Outcome
    run_id: uuid.UUID
    active_run_id: uuid.UUID | None = None


@dataclass(frozen=True)
class RunView:
    id: uuid.UUID
    op_type: str
    status: str
    connection_id: uuid.UUID
    connection_name: str
    reason_code: str | None
    message: str | None
    remediation: str | None
    summary: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    # Written at every page boundary while the run works: pages_fetched, items_stored, per-section counts.
    progress: dict[str, Any] = field(default_factory=dict)


def scope_key(tenant_id: uuid.UUID, entra_tenant_id: uuid.UUID) -> str:
    return f"{tenant_id}:microsoft:{entra_tenant_id}"


def _resolve_connection(session: Session, actor: Actor, connection_id: object | None) -> ProviderConnection:
    if connection_id is None:
        connection = session.exec(select(ProviderConnection).where(
            ProviderConnection.tenant_id == actor.tenant_id, col(ProviderConnection.is_default))).first()
        if connection is None:
            raise ProviderError("connection.no_default")
    else:
        connection = load_for_actor(session, ProviderConnection, connection_id, actor, Capability.PROVIDER_RUN,
                                    what="connection")
    if not connection.enabled:
        raise ProviderError("connection.disabled")
    return connection


@requires(Capability.PROVIDER_RUN)
def start_operation(actor: Actor, op_type: str, connection_id: object | None = None, *,
                    enqueue: Callable[[uuid.UUID], None]) -> StartResult:
    """Start ``op_type`` on a connection (the tenant's default when None): one run per scope at a time.

    Returns ``started``, ``deduplicated`` (the same operation is already active on the connection) or
    ``scope_busy`` (another operation holds the scope; ``active_run_id`` names it). The job is enqueued
    after the commit, carrying only the run id; if that fails the run fails with ``queue.unavailable``.
    """
    if not isinstance(op_type, str) or op_type not in OPERATION_TYPES:
        raise InvalidInput("op_type", f"unknown operation type; choose one of: {', '.join(OPERATION_TYPES)}")
    if not OPERATION_TYPES[op_type]:
        raise ProviderError("capability.not_available", f"'{op_type}' is not available yet.")
    return _start(actor, op_type, connection_id, None, enqueue)


def start_verification(actor: Actor, connection_id: uuid.UUID, credential_id: uuid.UUID, *,
                       enqueue: Callable[[uuid.UUID], None]) -> uuid.UUID:
    """Start the health check that verifies a rotated credential (the rotation use case authorizes)."""
    result = _start(actor, "health_check", connection_id, credential_id, enqueue)
    if result.outcome != "started":
        raise ProviderError("run.scope_busy", f"Another operation is active (run {result.active_run_id}).")
    return result.run_id


def _start(actor: Actor, op_type: str, connection_id: object | None, credential_id: uuid.UUID | None,
           enqueue: Callable[[uuid.UUID], None]) -> StartResult:
    for _ in range(3):
        with session_scope() as session:
            connection = _resolve_connection(session, actor, connection_id)
            scope = scope_key(actor.tenant_id, connection.entra_tenant_id)
            inserted = session.execute(
                insert(OperationRun)
                .values(id=uuid.uuid4(), tenant_id=actor.tenant_id, connection_id=connection.id, scope_key=scope,
                        op_type=op_type, status=RunStatus.QUEUED, started_by=actor.user_id, created_at=utcnow(),
                        summary={}, progress={}, attempt=0, credential_id=credential_id)
                .on_conflict_do_nothing(index_elements=["tenant_id", "scope_key"],
                                        index_where=text(ACTIVE_RUN_PREDICATE))
                .returning(col(OperationRun.id))
            ).scalar_one_or_none()
            if inserted is None:
                active = session.exec(select(OperationRun).where(
                    OperationRun.tenant_id == actor.tenant_id, OperationRun.scope_key == scope,
                    col(OperationRun.status).in_(ACTIVE_RUN_STATUSES))).first()
                if active is None:
                    continue  # the active run finished between our insert and select: try again
                same = (active.op_type, active.connection_id, active.credential_id) == (
                    op_type, connection.id, credential_id)
                return StartResult("deduplicated" if same else "scope_busy", active.id, active.id)
            audit.record(session, tenant_id=actor.tenant_id, actor_user_id=actor.user_id, action="run.start",
                         target_type="operation_run", target_id=inserted,
                         details={"op_type": op_type, "connection": connection.display_name,
                                  "verifies_credential": str(credential_id) if credential_id else None})
        _enqueue_or_fail(inserted, enqueue)
        return StartResult("started", inserted)
    raise ProviderError("internal.unexpected", "The scope kept changing; try again.")


def _enqueue_or_fail(run_id: uuid.UUID, enqueue: Callable[[uuid.UUID], None]) -> None:
    try:
        enqueue(run_id)
    except Exception as exc:
        log.warning("enqueue of run %s failed: %s", run_id, type(exc).__name__)
        run_lifecycle.fail_with(run_id, "queue.unavailable")
        raise ProviderError("queue.unavailable") from None


def _run_view(run: OperationRun, connection_name: str) -> RunView:
    return RunView(id=run.id, op_type=run.op_type, status=run.status, connection_id=run.connection_id,
                   connection_name=connection_name, reason_code=run.reason_code, message=run.message,
                   remediation=run.remediation, summary=dict(run.summary), created_at=run.created_at,
                   started_at=run.started_at, finished_at=run.finished_at, progress=dict(run.progress))


@requires(Capability.PROVIDER_VIEW)
def get_run(actor: Actor, run_id: object) -> RunView:
    with session_scope() as session:
        run = load_for_actor(session, OperationRun, run_id, actor, Capability.PROVIDER_VIEW, what="run")
        connection = session.get(ProviderConnection, run.connection_id)
        return _run_view(run, connection.display_name if connection else "")


@requires(Capability.PROVIDER_VIEW)
def list_runs(actor: Actor, limit: int = 20, *, before: str | None = None, connection_id: object | None = None,
              status: str | None = None, op_type: str | None = None) -> list[RunView]:
    """The tenant's runs, newest first, optionally filtered; pass ``run_cursor(last)`` as ``before`` for the
    next page (keyset paging: stable while new runs arrive, served by the tenant-history index)."""
    limit = max(1, min(int(limit), 200))
    query = (select(OperationRun, ProviderConnection.display_name)
             .join(ProviderConnection, col(ProviderConnection.id) == col(OperationRun.connection_id))
             .where(OperationRun.tenant_id == actor.tenant_id))
    if before is not None:
        created_at, run_id = _parse_cursor(before)
        query = query.where(tuple_(col(OperationRun.created_at), col(OperationRun.id)) < tuple_(created_at, run_id))
    if connection_id is not None:
        try:
            query = query.where(OperationRun.connection_id == uuid.UUID(str(connection_id)))
        except ValueError:
            raise InvalidInput("connection_id", "Not a connection id") from None
    if status is not None:
        if status not in {s.value for s in RunStatus}:
            raise InvalidInput("status", f"status must be one of: {', '.join(s.value for s in RunStatus)}")
        query = query.where(OperationRun.status == status)
    if op_type is not None:
        if op_type not in OPERATION_TYPES:
            raise InvalidInput("op_type", f"operation must be one of: {', '.join(OPERATION_TYPES)}")
        query = query.where(OperationRun.op_type == op_type)
    with session_scope() as session:
        rows = session.exec(
            query.order_by(col(OperationRun.created_at).desc(), col(OperationRun.id).desc()).limit(limit)).all()
        return [_run_view(run, name) for run, name in rows]


def run_cursor(run: RunView) -> str:
    """An opaque position after ``run`` in list_runs' order."""
    return f"{run.created_at.isoformat()}|{run.id}"


def _parse_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        moment, _, run_id = str(cursor).partition("|")
        parsed = datetime.fromisoformat(moment)
        if parsed.tzinfo is None:
            raise ValueError("naive")
        return parsed, uuid.UUID(run_id)
    except ValueError:
        raise InvalidInput("before", "Not a valid page position") from None


@requires(Capability.PROVIDER_VIEW)
def has_active_runs(actor: Actor) -> bool:
    with session_scope() as session:
        return session.exec(select(OperationRun.id).where(
            OperationRun.tenant_id == actor.tenant_id,
            col(OperationRun.status).in_(ACTIVE_RUN_STATUSES)).limit(1)).first() is not None


@requires(Capability.PROVIDER_RUN)
def cancel_run(actor: Actor, run_id: object) -> str:
    """Cancel a queued run, or ask a running one to stop at its next page boundary."""
    with session_scope() as session:
        run = load_for_actor(session, OperationRun, run_id, actor, Capability.PROVIDER_RUN, what="run")
        key = run.id
    outcome = run_lifecycle.request_cancel(key)
    with session_scope() as session:
        audit.record(session, tenant_id=actor.tenant_id, actor_user_id=actor.user_id, action="run.cancel",
                     target_type="operation_run", target_id=key, details={"outcome": outcome})
    return outcome


def execute_run(run_id: uuid.UUID) -> None:
    """Run a queued operation to its end (called by the worker with the run id only)."""
    claim = run_lifecycle.claim(run_id)
    if claim is None:
        log.info("run %s is no longer queued; nothing to do", run_id)
        return
    if not _starter_may_still_run(claim):
        _finish(claim, RunStatus.FAILED, summary={}, code="run.not_authorized")
        return
    context = run_lifecycle.RunContext(claim)
    with run_lifecycle.HeartbeatThread(claim):
        try:
            outcome = gateway.run_capability(claim.op_type, claim.connection_id, context,
                                             credential_id=claim.credential_id, actor_user_id=claim.started_by)
        except run_lifecycle.LeaseLost:
            log.warning("run %s lost its lease; stopping without writing", run_id)
            return
        except run_lifecycle.RunCancelled:
            run_lifecycle.transition(run_id, RunStatus.CANCELLED, lease=claim.lease, message="Cancelled by a user.",
                                     summary=context.progress)
            return
        except ProviderError as exc:
            # A capability that failed as a whole may still carry what it found (sections, permissions).
            found = getattr(exc, "summary", None)
            _finish(claim, RunStatus.FAILED, summary=found if isinstance(found, dict) else {}, code=exc.code,
                    message=exc.detail, remediation=exc.remediation)
            return
        except Exception as exc:
            # Raw exception text may hold anything (even secrets): log the type only, store the catalogue text.
            log.error("run %s failed unexpectedly: %s", run_id, type(exc).__name__)
            _finish(claim, RunStatus.FAILED, summary={}, code="internal.unexpected")
            return
    status = RunStatus.PARTIALLY_SUCCEEDED if outcome.partial else RunStatus.SUCCEEDED
    _finish(claim, status, summary=outcome.summary,
            code="run.partial" if outcome.partial else None)


def _starter_may_still_run(claim: run_lifecycle.Claim) -> bool:
    """Tasks re-authorize: the user who started the run must still hold provider.run in its tenant."""
    if claim.started_by is None:  # started by Atlas itself (schedules)
        return True
    with session_scope() as session:
        role = session.exec(select(Membership.role).where(
            Membership.user_id == claim.started_by, Membership.tenant_id == claim.tenant_id)).first()
    return role is not None and Capability.PROVIDER_RUN in role_capabilities(role)


def _finish(claim: run_lifecycle.Claim, status: RunStatus, *, summary: dict[str, Any], code: str | None = None,
            message: str | None = None, remediation: str | None = None) -> None:
    entry = reason(code) if code else None
    done = run_lifecycle.transition(
        claim.run_id, status, lease=claim.lease, summary=summary, reason_code=entry.code if entry else None,
        message=message or (entry.message if entry else None),
        remediation=remediation or (entry.remediation if entry else None))
    if not done:
        log.warning("run %s lost its lease before finishing; result dropped", claim.run_id)
