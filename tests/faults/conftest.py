"""Fault tests: every test gets its own PostgreSQL and redis-server (tests/support/private_servers.py), which it
may stop, restart or flush, plus real `atlas worker` and simulator processes pointed at them.

The machine's shared servers (ATLAS_TEST_DATABASE_URL / ATLAS_TEST_REDIS_URL) are never touched here. The test
process itself uses the private servers too: the settings and the queue's storage are switched for the test.
"""

from __future__ import annotations

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


@pytest.fixture
def backing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backing]:
    """A private PostgreSQL (a migrated database "atlas") and redis-server, used by this process and its workers."""
    from atlas_jobs.huey_app import huey
    from atlas_services.migrations import upgrade

    postgres = PrivatePostgres()
    redis = PrivateRedis(tmp_path)
    made = Backing(tmp_path, postgres, redis, {})
    try:
        postgres.start()
        redis.start()
        with psycopg.connect(postgres.url(), autocommit=True) as conn:
            conn.execute('CREATE DATABASE "atlas"')
        made.env = {"ATLAS_DATABASE_URL": postgres.url("atlas"), "ATLAS_REDIS_URL": redis.url, **FAST_LIVENESS}
        for name, value in made.env.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()  # engines are cached per URL: this one is new, the shared one stays as it was
        # The queue was built from the shared Redis when atlas_jobs was imported: enqueue into this test's.
        monkeypatch.setattr(huey, "storage", huey.get_storage(url=redis.url))
        upgrade()
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
