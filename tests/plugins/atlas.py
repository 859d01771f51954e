"""Factories and process fixtures: tenants, users, connections, a real worker, the seeded demo."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from atlas_services.authz import Actor

ROOT = Path(__file__).resolve().parents[2]
ATLAS = str(Path(sys.executable).with_name("atlas"))


def random_suffix() -> str:
    return uuid.uuid4().hex[:8]


def make_actor(role: str = "owner", tenant_name: str | None = None) -> Actor:
    """A tenant (created when new) and a user with ``role`` in it."""
    from sqlmodel import select

    from atlas_services.db import session_scope
    from atlas_services.directory import actor_for, create_tenant, create_user
    from atlas_services.models import Tenant

    tenant_name = tenant_name or f"tenant-{random_suffix()}"
    email = f"{role}-{random_suffix()}@example.test"
    with session_scope() as session:
        if session.exec(select(Tenant).where(Tenant.name == tenant_name)).first() is None:
            create_tenant(session, tenant_name)
        create_user(session, email=email, password="correct horse battery", tenant_name=tenant_name, role=role)
    with session_scope() as session:
        return actor_for(session, email=email, tenant_name=tenant_name)


def run_cli(*args: str, stdin: str | None = None, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the real `atlas` console script against the test database."""
    return subprocess.run([ATLAS, *args], input=stdin, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=ROOT)


@contextmanager
def running_worker() -> Iterator[subprocess.Popen[str]]:
    """A real `atlas worker` process consuming the test queue, for as long as the block runs.

    Start the simulator first (its URL reaches the worker through os.environ).
    """
    from atlas_cli.supervisor import stop_process_group

    proc = subprocess.Popen([ATLAS, "worker", "--workers", "2"], cwd=ROOT, env=dict(os.environ),
                            start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        yield proc
    finally:
        stop_process_group(proc, grace=5)  # type: ignore[arg-type]


@pytest.fixture
def worker(db: None, simulator: Any) -> Iterator[subprocess.Popen[str]]:
    """A real `atlas worker` process consuming the test queue."""
    with running_worker() as proc:
        yield proc


def reset_and_seed_demo() -> dict[str, Any]:
    """Empty the database and seed the demo (for module-scoped fixtures, which cannot use ``db``)."""
    from sqlalchemy import text

    from atlas_cli.demo import seed_demo as seed
    from atlas_services.db import get_engine
    from tests.plugins.backing import TABLES

    with get_engine().begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)}, login_attempts CASCADE"))
    return seed()


@pytest.fixture
def seed_demo(db: None, simulator: Any) -> dict[str, Any]:
    """The demo tenant, users and simulator connections, as `atlas demo --json` reports them."""
    from atlas_cli.demo import seed_demo as seed

    return seed()
