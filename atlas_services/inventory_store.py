"""Where a run's observations go: inventory pages and compliance snapshots, written inside jobs only.

Every write runs in a transaction that first takes a share lock on the run's row while checking the run is still
``running`` under this worker's lease, so a worker whose run was reaped (or finished elsewhere) writes nothing
(LeaseLost), and the reaper cannot fail the run halfway through a page.

Inventory uses "last observed" semantics: a page upserts on (connection, kind, external id), refreshing
``last_observed_at`` / ``last_run_id`` and clearing ``removed_at``; only after a complete listing are the items
this run did not see marked removed. Nothing is ever deleted by a sync.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, col

from atlas_services.db import session_scope
from atlas_services.models import ComplianceSnapshot, InventoryItem, OperationRun, RunStatus, utcnow
from atlas_services.runs.lifecycle import LeaseLost


class RunObservationStore:
    """The inventory and snapshot store of one claimed run (structurally a providers.base InventoryStore and
    SnapshotStore)."""

    def __init__(self, *, run_id: uuid.UUID, lease: uuid.UUID, tenant_id: uuid.UUID,
                 connection_id: uuid.UUID) -> None:
        self.run_id = run_id
        self.lease = lease
        self.tenant_id = tenant_id
        self.connection_id = connection_id

    def _hold_lease(self, session: Session) -> None:
        held = session.execute(
            select(col(OperationRun.id))
            .where(col(OperationRun.id) == self.run_id, col(OperationRun.lease_token) == self.lease,
                   col(OperationRun.status) == RunStatus.RUNNING)
            .with_for_update(read=True)
        ).first()
        if held is None:
            raise LeaseLost(str(self.run_id))

    def store_page(self, kind: str, records: Sequence[Any]) -> int:
        """Upsert one page of InventoryRecords; duplicates within the page keep the last one."""
        latest = {record.external_id: record for record in records}
        if not latest:
            with session_scope() as session:
                self._hold_lease(session)
            return 0
        now = utcnow()
        rows = [{"id": uuid.uuid4(), "tenant_id": self.tenant_id, "connection_id": self.connection_id,
                 "kind": kind, "external_id": r.external_id, "display_name": r.display_name,
                 "item_type": r.item_type, "state": r.state, "data": r.data, "first_observed_at": now,
                 "last_observed_at": now, "last_run_id": self.run_id, "removed_at": None}
                for r in latest.values()]
        statement = insert(InventoryItem)
        statement = statement.on_conflict_do_update(
            constraint="uq_inventory_items_connection_kind_external",
            set_={"display_name": statement.excluded.display_name, "item_type": statement.excluded.item_type,
                  "state": statement.excluded.state, "data": statement.excluded.data,
                  "last_observed_at": statement.excluded.last_observed_at,
                  "last_run_id": statement.excluded.last_run_id, "removed_at": None})
        with session_scope() as session:
            self._hold_lease(session)
            session.execute(statement, rows)
        return len(rows)

    def _unseen(self, kind: str) -> list[Any]:
        """Items of ``kind`` still active that this run did not observe."""
        return [col(InventoryItem.connection_id) == self.connection_id, col(InventoryItem.kind) == kind,
                col(InventoryItem.removed_at).is_(None),
                or_(col(InventoryItem.last_run_id).is_(None), col(InventoryItem.last_run_id) != self.run_id)]

    def mark_removed(self, kind: str) -> int:
        """Mark the connection's items of ``kind`` that this run did not observe as removed."""
        with session_scope() as session:
            self._hold_lease(session)
            result = session.execute(update(InventoryItem).where(*self._unseen(kind)).values(removed_at=utcnow()))
            return int(result.rowcount)  # type: ignore[attr-defined]

    def count_unseen(self, kind: str) -> int:
        with session_scope() as session:
            return int(session.execute(select(func.count()).select_from(InventoryItem)
                                       .where(*self._unseen(kind))).scalar_one())

    def store_snapshot(self, counts: Mapping[str, Any]) -> None:
        with session_scope() as session:
            self._hold_lease(session)
            session.add(ComplianceSnapshot(tenant_id=self.tenant_id, connection_id=self.connection_id,
                                           run_id=self.run_id, observed_at=utcnow(), counts=dict(counts)))
