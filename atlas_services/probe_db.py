"""Database sessions for /readyz and /metrics that give up quickly instead of waiting on a missing server.

The web tier's pooled engine waits as long as the operating system lets it when PostgreSQL is cut off (not
refusing, just silent): a probe stuck that long is no probe, and a held metrics lock would stall every scrape. A
probe opens a connection of its own (no pool: a stale pooled connection is exactly what hangs), bounded in
connecting, in unacknowledged sends and in statement time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine
from sqlalchemy.pool import NullPool
from sqlmodel import Session, create_engine

from atlas_services.config import get_settings

PROBE_TIMEOUT_SECONDS = 3


@lru_cache(maxsize=4)
def _probe_engine(url: str) -> Engine:
    return create_engine(url, poolclass=NullPool, connect_args={
        "connect_timeout": PROBE_TIMEOUT_SECONDS,
        "tcp_user_timeout": PROBE_TIMEOUT_SECONDS * 1000,
        "options": f"-c statement_timeout={PROBE_TIMEOUT_SECONDS * 1000}",
        "application_name": "atlas-probe",
    })


@contextmanager
def probe_session() -> Iterator[Session]:
    """A read-only unit of work on a fresh, time-bounded connection (closed when the block ends)."""
    with Session(_probe_engine(get_settings().sqlalchemy_url)) as session:
        yield session
