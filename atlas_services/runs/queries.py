"""The run read models the pages and the CLI poll (PostgreSQL only), and cancelling a run."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Subquery, case, exists, null, tuple_, union_all
from sqlmodel import Session, col, select

from atlas_services import audit
from atlas_services.authz import Actor, Capability, load_for_actor, requires
from atlas_services.change_stamps import reading
from atlas_services.db import session_scope
from atlas_services.errors import InvalidInput
from atlas_services.models import ACTIVE_RUN_STATUSES, OperationRun, ProviderConnection, RunStatus, RunTrigger, User
from atlas_services.runs import lifecycle
from atlas_services.runs.summaries import OtherSummary, RunSummary, parse_summary
from atlas_services.runs.types import OperationType


@dataclass(frozen=True)
class RunListItem:
    """A run as the lists show it: no summary, and progress only while the run is active."""

    id: uuid.UUID
    op_type: str
    status: str
    connection_id: uuid.UUID
    connection_name: str
    reason_code: str | None
    message: str | None
    remediation: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    # Written at every page boundary while the run works: pages_fetched, items_stored, per-section counts.
    progress: dict[str, Any] = field(default_factory=dict)
    # Who started it, as people read it: "Schedule", the starter's email, or "(deleted user)".
    starter: str = ""


@dataclass(frozen=True)
class RunView(RunListItem):
    """One run in full (its detail page and the CLI)."""

    summary: RunSummary = field(default_factory=OtherSummary)


SCHEDULE_STARTER = "Schedule"
DELETED_STARTER = "(deleted user)"


def starter_label(trigger: str, email: str | None) -> str:
    """Who started a run: a schedule, a person (by email), or a person deleted since."""
    if trigger == RunTrigger.SCHEDULE:
        return SCHEDULE_STARTER
    return email or DELETED_STARTER


def _run_view(run: OperationRun, connection_name: str, starter_email: str | None) -> RunView:
    return RunView(id=run.id, op_type=run.op_type, status=run.status, connection_id=run.connection_id,
                   connection_name=connection_name, reason_code=run.reason_code, message=run.message,
                   remediation=run.remediation, summary=parse_summary(run.op_type, run.summary),
                   created_at=run.created_at, started_at=run.started_at, finished_at=run.finished_at,
                   progress=dict(run.progress), starter=starter_label(run.trigger, starter_email))


# The columns a list shows, as plain rows: no ORM objects, and no JSON decoded but an active run's progress.
_LIST_COLUMNS = (
    col(OperationRun.id), col(OperationRun.op_type), col(OperationRun.status), col(OperationRun.connection_id),
    col(ProviderConnection.display_name), col(OperationRun.reason_code), col(OperationRun.message),
    col(OperationRun.remediation), col(OperationRun.created_at), col(OperationRun.started_at),
    col(OperationRun.finished_at),
    case((col(OperationRun.status).in_(ACTIVE_RUN_STATUSES), col(OperationRun.progress)), else_=null()),
    col(OperationRun.trigger), col(User.email),
)


def _list_item(row: Any) -> RunListItem:
    (id_, op_type, status, connection_id, connection_name, reason_code, message, remediation, created_at,
     started_at, finished_at, progress, trigger, starter_email) = row
    return RunListItem(id=id_, op_type=op_type, status=status, connection_id=connection_id,
                       connection_name=connection_name, reason_code=reason_code, message=message,
                       remediation=remediation, created_at=created_at, started_at=started_at,
                       finished_at=finished_at, progress=dict(progress or {}),
                       starter=starter_label(trigger, starter_email))


@requires(Capability.PROVIDER_VIEW)
def get_run(actor: Actor, run_id: object) -> RunView:
    with session_scope() as session:
        run = load_for_actor(session, OperationRun, run_id, actor, Capability.PROVIDER_VIEW, what="run")
        connection = session.get(ProviderConnection, run.connection_id)
        starter = session.get(User, run.started_by) if run.started_by is not None else None
        return _run_view(run, connection.display_name if connection else "", starter.email if starter else None)


@requires(Capability.PROVIDER_VIEW)
def list_runs(actor: Actor, limit: int = 20, *, before: str | None = None, connection_id: object | None = None,
              status: str | None = None, op_type: str | None = None,
              session: Session | None = None) -> list[RunListItem]:
    """The tenant's runs, newest first, optionally filtered; pass ``run_cursor(last)`` as ``before`` for the
    next page (keyset paging: stable while new runs arrive)."""
    limit = max(1, min(int(limit), 200))
    page = _history_page(actor.tenant_id, limit, before=_parse_cursor(before) if before is not None else None,
                         connection_id=_connection_arg(connection_id), status=_status_arg(status),
                         op_type=_op_type_arg(op_type))
    query = (select(*_LIST_COLUMNS)  # type: ignore[call-overload]  # typed overloads stop at 4 columns
             .join(page, col(OperationRun.id) == page.c.id)
             .join(ProviderConnection, col(ProviderConnection.id) == col(OperationRun.connection_id))
             .join(User, col(User.id) == col(OperationRun.started_by), isouter=True)  # the starter, in the same read
             .where(OperationRun.tenant_id == actor.tenant_id))
    with reading(session) as reader:
        rows = reader.execute(
            query.order_by(col(OperationRun.created_at).desc(), col(OperationRun.id).desc())).all()
        return [_list_item(row) for row in rows]


def _history_page(tenant_id: uuid.UUID, limit: int, *, before: tuple[datetime, uuid.UUID] | None,
                  connection_id: uuid.UUID | None, status: str | None, op_type: str | None) -> Subquery:
    """The ids of one history page, in a shape every filter combination reads by index, never by walking
    the history (the indexes are explained in migration 0007).

    Unfiltered, the tenant-history or connection-history index yields the page directly. With a status or an
    operation, the page is the newest rows of a merge of one index range per (status, operation) pair that
    the filters allow, each range read newest first from the (tenant|connection, status, op_type, created_at,
    id) index and stopped after ``limit`` rows; a pair that has no runs costs one index probe. The pairs come
    from RunStatus and OperationType, the only values the start gate and the lifecycle ever store.
    """
    scope = select(OperationRun.id, OperationRun.created_at)
    if connection_id is None:
        scope = scope.where(OperationRun.tenant_id == tenant_id)
    else:
        # A connection's runs are its tenant's, so the ranges are the connection's alone (with tenant_id too,
        # the planner may pick a tenant range and filter it by connection). Another tenant's connection reads
        # like a missing one: a one-time check before any range is read, so it is no slower than a missing id.
        scope = scope.where(OperationRun.connection_id == connection_id, exists().where(
            col(ProviderConnection.id) == connection_id, col(ProviderConnection.tenant_id) == tenant_id))
    if before is not None:
        scope = scope.where(tuple_(col(OperationRun.created_at), col(OperationRun.id)) < tuple_(*before))
    newest = (col(OperationRun.created_at).desc(), col(OperationRun.id).desc())
    if status is None and op_type is None:
        return scope.order_by(*newest).limit(limit).subquery()
    ranges = [scope.where(OperationRun.status == s, OperationRun.op_type == o).order_by(*newest).limit(limit)
              for s in ([status] if status else [s.value for s in RunStatus])
              for o in ([op_type] if op_type else [o.value for o in OperationType])]
    merged = union_all(*ranges).subquery()
    return select(merged.c.id, merged.c.created_at).order_by(
        merged.c.created_at.desc(), merged.c.id.desc()).limit(limit).subquery()


def _connection_arg(connection_id: object | None) -> uuid.UUID | None:
    if connection_id is None:
        return None
    try:
        return uuid.UUID(str(connection_id))
    except ValueError:
        raise InvalidInput("connection_id", "Not a connection id") from None


def _status_arg(status: str | None) -> str | None:
    if status is not None and status not in {s.value for s in RunStatus}:
        raise InvalidInput("status", f"status must be one of: {', '.join(s.value for s in RunStatus)}")
    return status


def _op_type_arg(op_type: str | None) -> str | None:
    if op_type is not None and op_type not in set(OperationType):
        raise InvalidInput("op_type", f"operation must be one of: {', '.join(OperationType)}")
    return op_type


def run_cursor(run: RunListItem) -> str:
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
def has_active_runs(actor: Actor, *, session: Session | None = None) -> bool:
    with reading(session) as reader:
        return reader.exec(select(OperationRun.id).where(
            OperationRun.tenant_id == actor.tenant_id,
            col(OperationRun.status).in_(ACTIVE_RUN_STATUSES)).limit(1)).first() is not None


@requires(Capability.PROVIDER_RUN)
def cancel_run(actor: Actor, run_id: object) -> str:
    """Cancel a queued run, or ask a running one to stop at its next page boundary."""
    with session_scope() as session:
        run = load_for_actor(session, OperationRun, run_id, actor, Capability.PROVIDER_RUN, what="run")
        key = run.id
    outcome = lifecycle.request_cancel(key)
    with session_scope() as session:
        audit.record(session, tenant_id=actor.tenant_id, actor_user_id=actor.user_id, action="run.cancel",
                     target_type="operation_run", target_id=key, details={"outcome": outcome})
    return outcome
