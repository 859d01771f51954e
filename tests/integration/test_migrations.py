"""The schema comes from Alembic and round-trips on an empty database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from atlas_services.migrations import alembic_config
from atlas_services.models import ACTIVE_RUN_STATUSES, RunStatus


@pytest.fixture
def empty_database() -> Iterator[str]:
    url = make_url(os.environ["ATLAS_DATABASE_URL"])
    name = f"atlas_mig_{uuid.uuid4().hex[:8]}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield url.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_on_an_empty_database(empty_database: str) -> None:
    config = alembic_config(empty_database)
    command.upgrade(config, "head")
    assert _tables(empty_database) == set(SQLModel.metadata.tables)
    command.downgrade(config, "base")
    assert _tables(empty_database) == set()
    command.upgrade(config, "head")
    assert _tables(empty_database) == set(SQLModel.metadata.tables)


def test_models_and_migrations_agree(empty_database: str) -> None:
    command.upgrade(alembic_config(empty_database), "head")
    engine = create_engine(empty_database)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    engine.dispose()
    assert diff == [], f"models differ from the migrations; write a migration: {diff}"


def test_active_scope_index_predicate_covers_exactly_the_non_terminal_statuses(db: None) -> None:
    from atlas_services.db import get_engine

    with get_engine().connect() as conn:
        definition = conn.execute(text(
            "SELECT pg_get_indexdef(indexrelid) FROM pg_index JOIN pg_class c ON c.oid = indexrelid "
            "WHERE c.relname = 'uq_operation_runs_active_scope'")).scalar_one()
    indexed = {status for status in RunStatus if f"'{status.value}'" in definition}
    assert "UNIQUE" in definition and "(tenant_id, scope_key)" in definition
    assert indexed == set(ACTIVE_RUN_STATUSES)


def test_one_default_connection_per_tenant_is_enforced_by_the_database(db: None) -> None:
    from atlas_services.db import get_engine

    with get_engine().connect() as conn:
        definition = conn.execute(text(
            "SELECT pg_get_indexdef(indexrelid) FROM pg_index JOIN pg_class c ON c.oid = indexrelid "
            "WHERE c.relname = 'uq_provider_connections_one_default'")).scalar_one()
    assert "UNIQUE" in definition and "WHERE is_default" in definition
