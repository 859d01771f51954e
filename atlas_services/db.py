"""The database engine and unit of work. PostgreSQL is the system of record."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, create_engine

from atlas_services.config import get_settings

log = logging.getLogger(__name__)

# What the worker asks of its connections (see configure_worker_sessions); the web tier and the CLI keep the
# defaults: fail at once when the database is away, and no server-side limit on an idle transaction.
_connect_wait_seconds = 0.0
_idle_in_transaction_ms = 0
# SQLSTATEs worth waiting out when connecting: none (refused, reset: the server is not there) and 57P03
# cannot_connect_now (starting up, shutting down, in recovery). A wrong password or database fails at once.
_TRANSIENT_CONNECT_STATES = frozenset({None, "57P03"})


@lru_cache(maxsize=4)
def _engine_for(url: str, pool_size: int, max_overflow: int, connect_wait: float, idle_in_transaction_ms: int
                ) -> Engine:
    # pool_pre_ping: a connection the server dropped (a restart) is replaced at checkout, not handed out.
    engine = create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow)
    if connect_wait > 0:
        event.listen(engine, "do_connect", _connect_waiting(connect_wait))
    if idle_in_transaction_ms > 0:
        event.listen(engine, "connect", _limit_idle_transactions(idle_in_transaction_ms))
    return engine


def _limit_idle_transactions(ms: int) -> Any:
    # A SET per new connection rather than a startup option: PgBouncer refuses unknown startup parameters.
    def on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET idle_in_transaction_session_timeout = {int(ms)}")
        dbapi_connection.commit()
    return on_connect


def _connect_waiting(wait: float) -> Any:
    def connect(dialect: Any, conn_rec: Any, cargs: Any, cparams: Any) -> Any:
        started = time.monotonic()
        delay = 0.1
        while True:
            try:
                connection = dialect.connect(*cargs, **cparams)
            except dialect.loaded_dbapi.OperationalError as exc:
                remaining = started + wait - time.monotonic()
                if getattr(exc, "sqlstate", None) not in _TRANSIENT_CONNECT_STATES or remaining <= 0:
                    raise
                if delay == 0.1:  # once per connection attempt, not once per retry
                    log.warning("database unavailable (%s); waiting up to %.0f s for it", type(exc).__name__, wait)
                time.sleep(min(delay, remaining))  # the last try comes at the end of the wait
                delay = min(delay * 2, 1.0)
                continue
            if delay > 0.1:
                log.warning("database reachable again after %.1f s", time.monotonic() - started)
            return connection
    return connect


def get_engine() -> Engine:
    settings = get_settings()
    return _engine_for(settings.sqlalchemy_url, settings.db_pool_size, settings.db_max_overflow,
                       _connect_wait_seconds, _idle_in_transaction_ms)


def reset_engines() -> None:
    """Forget pooled engines (tests and forked workers)."""
    _engine_for.cache_clear()


def configure_worker_sessions(*, connect_wait_seconds: float, idle_in_transaction_seconds: float) -> None:
    """How the worker's connections behave from now on (engines made before keep their ways).

    ``connect_wait_seconds``: opening a connection waits that long for an unreachable PostgreSQL to come back.
    Without it a restart in the middle of a run failed the run's next write, then its final write too, and the
    run stayed "running" until the reaper failed it as run.worker_lost, though its worker never left.

    ``idle_in_transaction_seconds``: PostgreSQL ends a session of this worker that sits inside a transaction
    without a word for that long. A worker cut off from the database mid-transaction otherwise keeps its row
    locks for as long as the server takes to notice the dead peer (TCP keepalive: two hours by default), and
    every reaper's update waits behind them, so no run anywhere is reaped meanwhile. The worker's transactions
    never wait on anything but the database, so this costs nothing while it is connected.
    """
    global _connect_wait_seconds, _idle_in_transaction_ms
    _connect_wait_seconds = float(connect_wait_seconds)
    _idle_in_transaction_ms = int(idle_in_transaction_seconds * 1000)


@contextmanager
def session_scope() -> Iterator[Session]:
    """A unit of work: commits when the block ends cleanly, rolls back otherwise."""
    with Session(get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def connection_scope() -> Iterator[Connection]:
    """A unit of work for Core statements only: commits when the block ends cleanly, rolls back otherwise.

    For a hot path that loads no entity (the start gate), where an ORM Session costs more CPU than the whole
    INSERT it would wrap; everything else uses ``session_scope``.
    """
    with get_engine().begin() as connection:
        yield connection


def redact_url(url: str) -> str:
    """The URL with any password removed, for messages."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "<unparseable URL>"


def check_database() -> None:
    """Raise RuntimeError with one clear line if the database cannot be reached."""
    url = get_settings().sqlalchemy_url
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError:
        raise RuntimeError(f"cannot connect to the database at {redact_url(url)}") from None
