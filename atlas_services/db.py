"""The database engine and unit of work. PostgreSQL is the system of record."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, create_engine

from atlas_services.config import get_settings


@lru_cache(maxsize=4)
def _engine_for(url: str, pool_size: int, max_overflow: int) -> Engine:
    return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow)


def get_engine() -> Engine:
    settings = get_settings()
    return _engine_for(settings.sqlalchemy_url, settings.db_pool_size, settings.db_max_overflow)


def reset_engines() -> None:
    """Forget pooled engines (tests and forked workers)."""
    _engine_for.cache_clear()


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
