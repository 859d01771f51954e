"""Read models for a connection's inventory and compliance trend (what the UI and CLI show).

Every function is tenant-scoped through the one loader (another tenant's connection is NotFound) and reads
PostgreSQL only; nothing here can reach Microsoft.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, tuple_
from sqlmodel import Session, col, select

from atlas_services.authz import Actor, Capability, load_for_actor, requires
from atlas_services.db import session_scope
from atlas_services.errors import InvalidInput
from atlas_services.models import (
    ComplianceSnapshot,
    InventoryItem,
    InventoryKind,
    OperationRun,
    ProviderConnection,
    RunStatus,
)
from atlas_services.runs.summaries import InventorySyncSummary, parse_summary
from atlas_services.runs.types import OperationType

KIND_LABELS: dict[str, str] = {
    InventoryKind.MANAGED_DEVICE: "Managed devices",
    InventoryKind.DEVICE_CONFIGURATION: "Device configurations",
    InventoryKind.COMPLIANCE_POLICY: "Compliance policies",
    InventoryKind.MOBILE_APP: "Mobile apps",
}
MAX_PAGE = 200


def _connection(session: Session, actor: Actor, connection_id: object) -> ProviderConnection:
    return load_for_actor(session, ProviderConnection, connection_id, actor, Capability.PROVIDER_VIEW,
                          what="connection")


# -- inventory counts ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KindCount:
    kind: str
    label: str
    active: int  # observed by the last complete listing (or since)
    removed: int  # gone from a later complete listing
    last_observed_at: datetime | None


@dataclass(frozen=True)
class SectionView:
    name: str
    status: str  # succeeded | failed | skipped | running
    items: int
    reason_code: str | None
    message: str | None


@dataclass(frozen=True)
class SyncView:
    run_id: uuid.UUID
    status: str
    finished_at: datetime | None
    sections: tuple[SectionView, ...]


@dataclass(frozen=True)
class InventoryOverview:
    connection_id: uuid.UUID
    kinds: tuple[KindCount, ...]  # every kind, in display order, zero when never observed
    last_sync: SyncView | None  # the newest finished inventory_sync run


@requires(Capability.PROVIDER_VIEW)
def inventory_overview(actor: Actor, connection_id: object) -> InventoryOverview:
    """Counts per kind for a connection and how its last inventory sync went."""
    with session_scope() as session:
        connection = _connection(session, actor, connection_id)
        rows = session.execute(
            select(col(InventoryItem.kind),
                   func.count().filter(col(InventoryItem.removed_at).is_(None)),
                   func.count().filter(col(InventoryItem.removed_at).is_not(None)),
                   func.max(col(InventoryItem.last_observed_at)))
            .where(col(InventoryItem.connection_id) == connection.id)
            .group_by(col(InventoryItem.kind))).all()
        found = {kind: (int(active), int(removed), last) for kind, active, removed, last in rows}
        run = session.exec(
            select(OperationRun)
            .where(OperationRun.connection_id == connection.id, OperationRun.op_type == OperationType.INVENTORY_SYNC,
                   col(OperationRun.status).not_in([RunStatus.QUEUED, RunStatus.RUNNING]))
            .order_by(col(OperationRun.created_at).desc(), col(OperationRun.id).desc()).limit(1)).first()
        kinds = tuple(KindCount(kind, label, *found.get(kind, (0, 0, None))) for kind, label in KIND_LABELS.items())
        return InventoryOverview(connection.id, kinds, _sync_view(run) if run is not None else None)


def _sync_view(run: OperationRun) -> SyncView:
    summary = parse_summary(run.op_type, run.summary)
    sections = summary.sections if isinstance(summary, InventorySyncSummary) else {}
    views = tuple(SectionView(name=name, status=entry.status, items=entry.items, reason_code=entry.reason_code,
                              message=entry.message) for name, entry in sections.items())
    return SyncView(run.id, run.status, run.finished_at, views)


# -- inventory items ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class InventoryItemView:
    id: uuid.UUID
    kind: str
    external_id: str
    display_name: str
    item_type: str | None
    state: str | None
    first_observed_at: datetime
    last_observed_at: datetime
    removed_at: datetime | None
    data: dict[str, Any]


@dataclass(frozen=True)
class InventoryPage:
    items: tuple[InventoryItemView, ...]
    next_cursor: str | None  # pass back as ``cursor`` for the next page; None on the last page


def _encode_cursor(name: str, item_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(json.dumps([name, str(item_id)]).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, uuid.UUID]:
    try:
        name, item_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return str(name), uuid.UUID(str(item_id))
    except (ValueError, TypeError, binascii.Error):
        raise InvalidInput("cursor", "The page cursor is not valid; start from the first page.") from None


@requires(Capability.PROVIDER_VIEW)
def list_inventory_items(actor: Actor, connection_id: object, kind: str, *, cursor: str | None = None,
                         limit: int = 50, include_removed: bool = False,
                         search: str | None = None) -> InventoryPage:
    """One page of a connection's items of ``kind``, by display name (keyset-paginated: stable while syncs run)."""
    if kind not in KIND_LABELS:
        raise InvalidInput("kind", f"kind must be one of: {', '.join(KIND_LABELS)}")
    try:
        size = max(1, min(int(limit), MAX_PAGE))
    except (TypeError, ValueError):
        raise InvalidInput("limit", "limit must be a number") from None
    with session_scope() as session:
        connection = _connection(session, actor, connection_id)
        query = select(InventoryItem).where(InventoryItem.connection_id == connection.id, InventoryItem.kind == kind)
        if not include_removed:
            query = query.where(col(InventoryItem.removed_at).is_(None))
        if search:
            pattern = "%" + str(search)[:100].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(col(InventoryItem.display_name).ilike(pattern, escape="\\"))
        if cursor:
            name, item_id = _decode_cursor(cursor)
            query = query.where(tuple_(col(InventoryItem.display_name), col(InventoryItem.id)) > (name, item_id))
        rows = session.exec(query.order_by(col(InventoryItem.display_name), col(InventoryItem.id))
                            .limit(size + 1)).all()
        items = tuple(InventoryItemView(
            id=r.id, kind=r.kind, external_id=r.external_id, display_name=r.display_name, item_type=r.item_type,
            state=r.state, first_observed_at=r.first_observed_at, last_observed_at=r.last_observed_at,
            removed_at=r.removed_at, data=dict(r.data)) for r in rows[:size])
        more = len(rows) > size
        return InventoryPage(items, _encode_cursor(items[-1].display_name, items[-1].id) if more else None)


# -- compliance trend ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ComplianceSnapshotView:
    run_id: uuid.UUID
    observed_at: datetime
    # {"compliance": {"compliant", "noncompliant", "in_grace_period", "error", "conflict", "unknown",
    #  "not_applicable", "remediated", "config_manager"}, "devices": {"enrolled", "mdm_enrolled", "dual_enrolled"},
    #  "operating_systems": {...}, "exchange_access": {...}, "sources": {name: status}}; parts may be missing
    counts: dict[str, Any]


@requires(Capability.PROVIDER_VIEW)
def compliance_history(actor: Actor, connection_id: object, limit: int = 30) -> list[ComplianceSnapshotView]:
    """The newest ``limit`` compliance snapshots of a connection, oldest first (ready to chart)."""
    size = max(1, min(int(limit), 365))
    with session_scope() as session:
        connection = _connection(session, actor, connection_id)
        rows = session.exec(
            select(ComplianceSnapshot).where(ComplianceSnapshot.connection_id == connection.id)
            .order_by(col(ComplianceSnapshot.observed_at).desc(), col(ComplianceSnapshot.id).desc())
            .limit(size)).all()
        return [ComplianceSnapshotView(r.run_id, r.observed_at, dict(r.counts)) for r in reversed(rows)]
