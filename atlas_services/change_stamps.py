"""What a live page's poll needs from PostgreSQL: has anything changed, and one consistent read when it has.

Every suite tenant has a change stamp (``tenant_change_stamps``) that database triggers move in the same
transaction as every write of a run, connection, credential, inventory item or compliance snapshot (migration
0008). Stamps only grow, in commit order: a page read after seeing stamp S shows every change up to S.

A web process serves many tabs of few tenants, so it keeps each tenant's stamp in memory for
``STAMP_MAX_AGE_SECONDS``: the tabs of a tenant cost one tiny primary-key read per interval between them, however
many there are. A stamp is not authorization: it says only whether the actor's own tenant changed, and the
caller has already checked the actor.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlmodel import Session, select

from atlas_services.db import session_scope
from atlas_services.models import TenantChangeStamp

STAMP_MAX_AGE_SECONDS = 1.0

_lock = threading.Lock()
_known: dict[uuid.UUID, tuple[int, float]] = {}  # tenant → (stamp, when read, monotonic seconds)


def read_stamp(session: Session, tenant_id: uuid.UUID) -> int:
    """The tenant's stamp now (0 before its first change)."""
    stamp = session.exec(select(TenantChangeStamp.stamp).where(TenantChangeStamp.tenant_id == tenant_id)).first()
    return int(stamp or 0)


def recent_stamp(tenant_id: uuid.UUID, max_age: float | None = None) -> int | None:
    """The stamp read less than ``max_age`` (default STAMP_MAX_AGE_SECONDS) seconds ago in this process, or None
    (never blocks)."""
    max_age = STAMP_MAX_AGE_SECONDS if max_age is None else max_age
    with _lock:
        known = _known.get(tenant_id)
    if known is None or not 0 <= time.monotonic() - known[1] < max_age:
        return None
    return known[0]


def current_stamp(tenant_id: uuid.UUID, max_age: float | None = None) -> int:
    """The tenant's stamp, at most ``max_age`` seconds old (blocking: reads PostgreSQL when it is older)."""
    stamp = recent_stamp(tenant_id, max_age)
    if stamp is not None:
        return stamp
    read_at = time.monotonic()  # before the read: the value is at least this fresh
    with session_scope() as session:
        stamp = read_stamp(session, tenant_id)
    with _lock:
        if tenant_id not in _known or _known[tenant_id][1] < read_at:
            _known[tenant_id] = (stamp, read_at)
    return stamp


def forget_stamps() -> None:
    """Drop every remembered stamp (tests)."""
    with _lock:
        _known.clear()


@contextmanager
def read_snapshot() -> Iterator[Session]:
    """One read-only REPEATABLE READ transaction for everything a page shows: its lists agree with each other
    (the runs listed and "is anything active" come from the same moment), in one session instead of one each."""
    with session_scope() as session:
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        yield session


@contextmanager
def reading(session: Session | None) -> Iterator[Session]:
    """The caller's snapshot session when it has one, else a session of its own."""
    if session is not None:
        yield session
        return
    with session_scope() as own:
        yield own
