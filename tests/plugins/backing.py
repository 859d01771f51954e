"""Real PostgreSQL and Redis for the test run.

ATLAS_TEST_DATABASE_URL / ATLAS_TEST_REDIS_URL name servers to use; without them an embedded PostgreSQL
(pgserver) and a private redis-server are started. Each test run (and each xdist worker) gets its own
database, migrated with Alembic, and its own queue name. Nothing here skips: a missing service fails.

The database is made by the session fixture ``database``, on first use, so tests that need none (tests/unit)
start no PostgreSQL. Redis stays configured at start-up: atlas_jobs builds its queue from ATLAS_REDIS_URL when
a test module imports it, which is before any fixture runs.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.support.database import empty_tables

_state: dict[str, object] = {}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _admin_url() -> str:
    url = os.environ.get("ATLAS_TEST_DATABASE_URL")
    if url:
        return url
    import pgserver

    data = Path(tempfile.mkdtemp(prefix="atlas-test-pg-"))
    server = pgserver.get_server(data, cleanup_mode="delete")
    _state["pgserver"] = server
    return str(server.get_uri())


def _redis_url() -> str:
    url = os.environ.get("ATLAS_TEST_REDIS_URL")
    if url:
        return url
    binary = shutil.which("redis-server")
    if binary is None:
        raise pytest.UsageError("no Redis: set ATLAS_TEST_REDIS_URL or install redis-server")
    port = _free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _state["redis_proc"] = proc
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return f"redis://127.0.0.1:{port}/0"


def _psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def pytest_configure(config: pytest.Config) -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    if not hasattr(config, "workerinput") and getattr(config.option, "numprocesses", None):
        return  # the xdist controller runs no tests
    name = f"atlas_test_{worker}_{uuid.uuid4().hex[:8]}"
    os.environ.pop("ATLAS_DATABASE_URL", None)  # set by ``database``: no test may reach a database before it
    os.environ["ATLAS_REDIS_URL"] = _redis_url()
    os.environ["ATLAS_QUEUE_NAME"] = f"atlas-test-{name}"
    os.environ["ATLAS_ENV"] = "test"
    # Outside development the worker and web tier refuse the development key: each run seals under its own.
    os.environ["ATLAS_ENCRYPTION_KEYS"] = "test1:" + base64.b64encode(os.urandom(32)).decode()
    os.environ["ATLAS_ALERT_HOSTS"] = "hooks.example.test"  # alert webhooks in tests (never resolved unless sent)
    os.environ["ATLAS_DEFAULT_CLOUD"] = "simulator"  # no test may aim a connection at Microsoft's cloud
    os.environ["ATLAS_DATA_DIR"] = tempfile.mkdtemp(prefix="atlas-test-data-")
    # A worker's scheduler loop would start the schedules every test connection inherits, in the middle of tests
    # that count runs; the scheduler's own tests run its passes themselves (or turn the loop on for their worker).
    os.environ["ATLAS_SCHEDULER_INTERVAL_SECONDS"] = "0"
    _state.update(name=name)


@pytest.fixture(scope="session")
def database() -> None:
    """This run's own database, created and migrated on first use; ATLAS_DATABASE_URL names it afterwards."""
    from atlas_services.config import get_settings
    from atlas_services.db import reset_engines
    from atlas_services.migrations import upgrade

    admin = _admin_url()
    name = str(_state["name"])
    with psycopg.connect(_psycopg_url(admin), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    _state["admin"] = admin
    test_url = make_url(admin.replace("postgresql://", "postgresql+psycopg://", 1)).set(database=name)
    os.environ["ATLAS_DATABASE_URL"] = test_url.render_as_string(hide_password=False)
    get_settings.cache_clear()
    reset_engines()
    upgrade()


def pytest_unconfigure(config: pytest.Config) -> None:
    try:
        if "admin" in _state:
            from atlas_services.db import get_engine

            get_engine().dispose()
            with psycopg.connect(_psycopg_url(str(_state["admin"])), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{_state["name"]}" WITH (FORCE)')
    finally:
        proc = _state.get("redis_proc")
        if isinstance(proc, subprocess.Popen):
            proc.terminate()
            proc.wait(timeout=10)
        server = _state.get("pgserver")
        if server is not None:
            server.cleanup()  # type: ignore[attr-defined]


@pytest.fixture
def db(database: None) -> Iterator[None]:
    """A clean database for the test (rows from earlier tests are removed first)."""
    empty_tables()
    yield


@pytest.fixture
def huey_queue() -> Iterator[object]:
    """The real huey instance (Redis-backed in tests), emptied before the test."""
    import atlas_jobs.tasks  # noqa: F401  (pending() reads tasks back through huey's registry)
    from atlas_jobs.huey_app import huey

    huey.flush()
    yield huey
    huey.flush()
