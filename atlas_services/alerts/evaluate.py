"""The alert pass (workers only): read PostgreSQL for new events of each tenant with a webhook, insert one
``alerts`` row per event (the unique (tenant, dedup_key) makes every event alert once, however many workers
run the pass at once), and hand the new rows' ids to ``enqueue``.

Events: a run that ended failed (key: run id); a connection unhealthy (key: connection + reason + day: at most
one a day while it stays unhealthy); a credential expiring within 30 days (key: credential + threshold 30, 7, 1);
a schedule skipped ``alert_skip_threshold`` times in a row (key: schedule + the due time that began the streak's
alert, so a new streak after a start alerts again).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, col, func, select

from atlas_services.config import get_settings
from atlas_services.db import session_scope
from atlas_services.models import (
    Alert,
    AlertEvent,
    AlertWebhook,
    HealthStatus,
    OperationRun,
    ProviderConnection,
    ProviderCredential,
    RunStatus,
    Schedule,
    utcnow,
)

THRESHOLDS = (1, 7, 30)  # days to expiry; each crossed once per credential
NewAlert = tuple[str, str, str, dict[str, Any]]  # event, dedup key, title, details


def threshold_for(expires_at: datetime, now: datetime) -> int | None:
    """The smallest threshold the remaining time is within, or None beyond 30 days."""
    left = expires_at - now
    return next((days for days in THRESHOLDS if left <= timedelta(days=days)), None)


def _failed_runs(session: Session, tenant_id: uuid.UUID, since: datetime) -> Iterator[NewAlert]:
    rows = session.exec(select(OperationRun, ProviderConnection.display_name)
                        .join(ProviderConnection, col(ProviderConnection.id) == OperationRun.connection_id)
                        .where(OperationRun.tenant_id == tenant_id, OperationRun.status == RunStatus.FAILED,
                               col(OperationRun.finished_at) >= since)).all()
    for run, connection in rows:
        yield (AlertEvent.RUN_FAILED, f"run:{run.id}", f"{run.op_type} failed on {connection}",
               {"run_id": str(run.id), "connection": connection, "reason_code": run.reason_code})


def _unhealthy_connections(session: Session, tenant_id: uuid.UUID, since: datetime) -> Iterator[NewAlert]:
    rows = session.exec(select(ProviderConnection).where(
        ProviderConnection.tenant_id == tenant_id, ProviderConnection.health_status == HealthStatus.UNHEALTHY,
        col(ProviderConnection.deleted_at).is_(None), col(ProviderConnection.last_checked_at) >= since)).all()
    for c in rows:
        day = c.last_checked_at.date().isoformat() if c.last_checked_at else "unknown"
        yield (AlertEvent.CONNECTION_UNHEALTHY, f"connection:{c.id}:{c.health_reason_code}:{day}",
               f"Connection {c.display_name} is unhealthy",
               {"connection_id": str(c.id), "connection": c.display_name, "reason_code": c.health_reason_code})


def _expiring_credentials(session: Session, tenant_id: uuid.UUID, now: datetime) -> Iterator[NewAlert]:
    expiry = func.coalesce(ProviderCredential.expires_at, ProviderCredential.not_after)
    rows = session.exec(select(ProviderCredential, ProviderConnection.display_name, expiry)
                        .join(ProviderConnection, col(ProviderConnection.id) == ProviderCredential.connection_id)
                        .where(ProviderCredential.tenant_id == tenant_id, col(ProviderCredential.active),
                               col(ProviderConnection.deleted_at).is_(None),
                               expiry <= now + timedelta(days=max(THRESHOLDS)))).all()
    for credential, connection, expires_at in rows:
        days = threshold_for(expires_at, now)
        if days is None:
            continue
        yield (AlertEvent.CREDENTIAL_EXPIRING, f"credential:{credential.id}:{days}",
               f"A {credential.kind} of {connection} expires within {days} day{'s' if days > 1 else ''}",
               {"credential_id": str(credential.id), "connection": connection, "hint": credential.hint,
                "expires_at": expires_at.isoformat(), "threshold_days": days})


def _skipping_schedules(session: Session, tenant_id: uuid.UUID, threshold: int) -> Iterator[NewAlert]:
    rows = session.exec(select(Schedule, ProviderConnection.display_name)
                        .join(ProviderConnection, col(ProviderConnection.id) == Schedule.connection_id)
                        .where(Schedule.tenant_id == tenant_id, Schedule.consecutive_skips >= threshold)).all()
    for schedule, connection in rows:
        # The streak's start is stable while it lasts: the last run the schedule started (or its creation).
        streak = schedule.last_run_id or schedule.created_at.isoformat()
        yield (AlertEvent.SCHEDULE_SKIPPING, f"schedule:{schedule.id}:{streak}",
               f"The {schedule.op_type} schedule of {connection} was skipped {schedule.consecutive_skips} times",
               {"schedule_id": str(schedule.id), "connection": connection, "last_outcome": schedule.last_outcome,
                "consecutive_skips": schedule.consecutive_skips})


def run_pass(enqueue: Callable[[uuid.UUID], None], now: datetime | None = None) -> list[uuid.UUID]:
    """One pass over every tenant with a webhook; returns (and enqueues) the ids of the alerts it created."""
    now = now or utcnow()
    settings = get_settings()
    created: list[uuid.UUID] = []
    with session_scope() as session:
        for tenant_id, since in session.exec(select(AlertWebhook.tenant_id, AlertWebhook.since)).all():
            found = [*_failed_runs(session, tenant_id, since), *_unhealthy_connections(session, tenant_id, since),
                     *_expiring_credentials(session, tenant_id, now),
                     *_skipping_schedules(session, tenant_id, settings.alert_skip_threshold)]
            for event, key, title, details in found:
                alert_id = session.exec(
                    insert(Alert).values(id=uuid.uuid4(), tenant_id=tenant_id, event=event, dedup_key=key,
                                         title=title[:300], details=details, status="pending", attempts=0,
                                         created_at=now)
                    .on_conflict_do_nothing(constraint="uq_alerts_tenant_dedup").returning(col(Alert.id))
                ).scalar_one_or_none()
                if alert_id is not None:
                    created.append(alert_id)
    for alert_id in created:  # after the commit: a worker must find the row
        enqueue(alert_id)
    return created
