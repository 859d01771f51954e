"""Migration 0011 gives every live connection that existed before it the built-in default schedules."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from atlas_services.migrations import alembic_config


@pytest.fixture
def empty_database(database: None) -> Iterator[str]:
    url = make_url(os.environ["ATLAS_DATABASE_URL"])
    name = f"atlas_mig_{uuid.uuid4().hex[:8]}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield url.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_existing_live_connections_get_the_default_schedules_due_within_their_jitter(empty_database: str) -> None:
    config = alembic_config(empty_database)
    command.upgrade(config, "0010")
    engine = create_engine(empty_database)
    tenant, live, deleted = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO tenants (id, name, created_at) VALUES (:id, 'T', now())"), {"id": tenant})
        for connection, name, deleted_at in ((live, "Live", None), (deleted, "Gone", "now()")):
            conn.execute(text(
                "INSERT INTO provider_connections (id, tenant_id, provider, display_name, cloud, entra_tenant_id, "
                "client_id, is_default, enabled, health_status, health_details, created_at, updated_at, deleted_at) "
                f"VALUES (:id, :tenant, 'microsoft', :name, 'simulator', :guid, :guid, false, true, 'unknown', '{{}}', "
                f"now(), now(), {deleted_at or 'NULL'})"),
                {"id": connection, "tenant": tenant, "name": name, "guid": uuid.uuid4()})

    command.upgrade(config, "head")

    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT connection_id, op_type, every_seconds, daily_at, time_zone, jitter_seconds, "
            "due_at BETWEEN slot_at AND slot_at + jitter_seconds * interval '1 second' AS within "
            "FROM schedules ORDER BY op_type")).all()
    engine.dispose()
    assert [tuple(row) for row in rows] == [
        (live, "compliance_snapshot", None, "04:00", "UTC", 7200, True),
        (live, "health_check", 21600, None, "UTC", 1800, True),
        (live, "inventory_sync", None, "01:00", "UTC", 7200, True),
    ]
    command.downgrade(config, "0010")
