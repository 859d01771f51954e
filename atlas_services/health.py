"""Liveness and readiness of the web process, as plain JSON for /healthz and /readyz (atlas_app.ops_routes).

Readiness asks four things, each answered without a tenant's data or a secret: PostgreSQL answers, its schema is
at the migrations' head, the queue's storage answers, and at least one worker beat within the heartbeat timeout.
Each is asked afresh on every call (no cache), so a stopped database makes the process unready at once and a
restarted one ready again with no restart of the web process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlmodel import Session

from atlas_services import workers
from atlas_services.config import get_settings
from atlas_services.migrations import alembic_config
from atlas_services.probe_db import probe_session

log = logging.getLogger(__name__)

# A probe must answer quickly even when a dependency hangs: a load balancer times out in a few seconds.
QUEUE_TIMEOUT_SECONDS = 1.0


@dataclass
class Readiness:
    ready: bool
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"status": "ready" if self.ready else "unready", "checks": self.checks}


def liveness() -> dict[str, Any]:
    """The process is up and serving: nothing else is asked (a database outage must not get it restarted)."""
    return {"status": "alive"}


def readiness() -> Readiness:
    """Ask every dependency; ready only when all answer. Never raises, and gives up on a silent database in a
    few seconds (atlas_services.probe_db)."""
    checks: dict[str, dict[str, Any]] = {}
    try:
        with probe_session() as session:
            if _check(checks, "database", lambda: _database(session)):
                _check(checks, "migrations", lambda: _migrations(session))
                _check(checks, "workers", lambda: _workers(session))
    except Exception as exc:  # noqa: BLE001 - closing a broken connection; the checks already say what failed
        log.debug("readiness: closing the probe connection failed: %s", type(exc).__name__)
    for name in ("migrations", "workers"):  # without the database neither can be known
        checks.setdefault(name, {"ok": False, "detail": "database unreachable"})
    _check(checks, "queue", _queue)
    return Readiness(all(c["ok"] for c in checks.values()), checks)


def _check(checks: dict[str, dict[str, Any]], name: str, probe: Callable[[], dict[str, Any]]) -> bool:
    started = time.monotonic()
    try:
        result = probe()
    except Exception as exc:  # noqa: BLE001 - any failure is "not ready"; only the type is shown (no raw text)
        log.warning("readiness: %s check failed: %s", name, type(exc).__name__)
        result = {"ok": False, "detail": type(exc).__name__}
    result["ms"] = round((time.monotonic() - started) * 1000, 1)
    checks[name] = result
    return bool(result["ok"])


def _database(session: Session) -> dict[str, Any]:
    session.execute(text("SELECT 1"))
    return {"ok": True}


@lru_cache(maxsize=1)
def _head_revisions() -> frozenset[str]:
    """The migrations' head(s), read once from the files shipped with this code."""
    return frozenset(ScriptDirectory.from_config(alembic_config("postgresql://unused")).get_heads())


def _migrations(session: Session) -> dict[str, Any]:
    heads = _head_revisions()
    current = frozenset(MigrationContext.configure(session.connection()).get_current_heads())
    return {"ok": current == heads, "current": sorted(current), "head": sorted(heads)}


def _workers(session: Session) -> dict[str, Any]:
    alive = workers.workers_alive(session=session)
    return {"ok": alive > 0, "alive": alive}


def _queue() -> dict[str, Any]:
    """Ping the configured Redis (the queue's storage); without Redis the queue is SQLite under data_dir.

    The Redis URL is the operator's own configuration, the same one the web tier enqueues into, so pinging it is
    no new outbound reach (the outbound guard is for HTTP to the internet). The answer names no host or password.
    """
    settings = get_settings()
    if not settings.redis_url:
        data_dir = Path(settings.data_dir)
        return {"ok": data_dir.is_dir(), "backend": "sqlite"}
    import redis

    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=QUEUE_TIMEOUT_SECONDS,
                                  socket_timeout=QUEUE_TIMEOUT_SECONDS)
    try:
        return {"ok": bool(client.ping()), "backend": "redis"}
    finally:
        client.close()
