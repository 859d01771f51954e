"""Fault tests: every test gets its own PostgreSQL and redis-server (tests/support/private_servers.py), which it
may stop, restart or flush, plus real `atlas worker` and simulator processes pointed at them.

The machine's shared servers (ATLAS_TEST_DATABASE_URL / ATLAS_TEST_REDIS_URL) are never touched here. The test
process itself uses the private servers too: the settings and the queue's storage are switched for the test.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from atlas_cli.supervisor import stop_process_group
from atlas_services.config import get_settings
from atlas_services.db import get_engine
from tests.support.fault_world import FAST_LIVENESS, Backing
from tests.support.private_servers import PrivatePostgres, PrivateRedis, SimulatorProcess
from tests.support.processes import ATLAS, ROOT


@pytest.fixture(scope="session")
def migrated_postgres() -> Iterator[PrivatePostgres]:
    """A stopped server holding a migrated database "atlas", made once per test process; each test runs a copy."""
    template = PrivatePostgres()
    try:
        template.start()
        with psycopg.connect(template.url(), autocommit=True) as conn:
            conn.execute('CREATE DATABASE "atlas"')
        migrated = subprocess.run([ATLAS, "db", "upgrade"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                                  env={**os.environ, "ATLAS_DATABASE_URL": template.url("atlas")})
        assert migrated.returncode == 0, migrated.stderr
        template.stop("fast")
        yield template
    finally:
        template.close()


@pytest.fixture
def backing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, migrated_postgres: PrivatePostgres
            ) -> Iterator[Backing]:
    """A private PostgreSQL (a migrated database "atlas") and redis-server, used by this process and its workers."""
    from atlas_jobs.huey_app import huey

    postgres = PrivatePostgres(template=migrated_postgres)
    redis = PrivateRedis(tmp_path)
    made = Backing(tmp_path, postgres, redis, {})
    try:
        postgres.start()
        redis.start()
        made.env = {"ATLAS_DATABASE_URL": postgres.url("atlas"), "ATLAS_REDIS_URL": redis.url, **FAST_LIVENESS}
        for name, value in made.env.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()  # engines are cached per URL: this one is new, the shared one stays as it was
        # The queue was built from the shared Redis when atlas_jobs was imported: enqueue into this test's.
        monkeypatch.setattr(huey, "storage", huey.get_storage(url=redis.url))
        yield made
    finally:
        for proc in made.workers:
            stop_process_group(proc, grace=5)
        if made.env:
            get_engine().dispose()  # this test's engine: its connections go before its server does
        monkeypatch.undo()
        get_settings.cache_clear()
        redis.close()
        postgres.close()


@pytest.fixture
def simulator_process(tmp_path: Path, backing: Backing) -> Iterator[Any]:
    """A factory: ``simulator_process(scenario_dict)`` starts `python -m atlas_sim` and points workers at it."""
    started: list[SimulatorProcess] = []

    def start(scenario: dict[str, Any]) -> SimulatorProcess:
        sim = SimulatorProcess(tmp_path, scenario)
        sim.start()
        started.append(sim)
        backing.env["ATLAS_SIMULATOR_URL"] = sim.url
        return sim

    try:
        yield start
    finally:
        for sim in started:
            sim.close()
