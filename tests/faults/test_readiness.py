"""GET /readyz against a private PostgreSQL and redis-server and a real `atlas worker`: unready while PostgreSQL is
stopped, Redis is gone, the schema is behind the code or no worker beats, and ready again as each comes back, with
no restart of anything in this (web) process. /metrics shows what the worker counted while it synced."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from starlette.testclient import TestClient

from atlas_app.ops_routes import build_ops_api
from atlas_cli.supervisor import stop_process_group
from atlas_jobs.dispatch import start_operation
from atlas_services.config import get_settings
from atlas_services.db import get_engine
from tests.support.factories import create_connection, make_actor
from tests.support.fault_world import APP, SECRET, Backing, paged_scenario, run_row, tenant_id
from tests.support.private_servers import CuttableLink, wait_for


def readyz() -> tuple[int, dict[str, Any]]:
    with TestClient(build_ops_api()) as http:
        response = http.get("/readyz")
    return response.status_code, response.json()


def failing(body: dict[str, Any]) -> set[str]:
    return {name for name, check in body["checks"].items() if not check["ok"]}


def ready_again(backing: Backing, what: str) -> None:
    wait_for(what, lambda: readyz()[0] == 200, timeout=60, interval=0.2)


def test_readyz_follows_postgresql_redis_migrations_and_workers_without_a_restart(backing: Backing) -> None:
    status, body = readyz()
    assert (status, body["status"], failing(body)) == (503, "unready", {"workers"}), body
    assert body["checks"]["workers"]["alive"] == 0

    worker = backing.start_worker("worker")
    ready_again(backing, "ready once the worker beats")
    status, body = readyz()
    assert body["status"] == "ready" and body["checks"]["workers"]["alive"] == 1
    assert body["checks"]["migrations"]["current"] == body["checks"]["migrations"]["head"]

    backing.postgres.stop("fast")
    status, body = readyz()
    assert status == 503 and {"database", "migrations", "workers"} <= failing(body), body
    assert "queue" not in failing(body)
    # Plain JSON without a host, port, user or password of the database.
    raw = json.dumps(body)
    assert str(backing.postgres.port) not in raw and "postgres@" not in raw

    backing.postgres.start()
    try:
        ready_again(backing, "ready after PostgreSQL restarted (the worker beats again)")
    except AssertionError:
        raise AssertionError(f"{readyz()}\n{backing.logs()}") from None

    backing.redis.stop()
    status, body = readyz()
    assert status == 503 and failing(body) == {"queue"}, body
    assert str(backing.redis.port) not in json.dumps(body)
    backing.redis.start()
    ready_again(backing, "ready after Redis came back")

    with get_engine().begin() as conn:  # the code is ahead of the schema (an upgrade not yet run)
        conn.execute(text("UPDATE alembic_version SET version_num = '0015'"))
    status, body = readyz()
    assert status == 503 and failing(body) == {"migrations"} and body["checks"]["migrations"]["current"] == ["0015"]
    with get_engine().begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :head"),
                     {"head": body["checks"]["migrations"]["head"][0]})
    assert readyz()[0] == 200

    stop_process_group(worker, grace=10)  # a clean stop marks the worker's row stopped at once
    status, body = readyz()
    assert status == 503 and failing(body) == {"workers"}, body


def test_metrics_shows_what_a_worker_process_counted(backing: Backing, simulator_process: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Graph requests, 429s and retries happen in the worker, token failures too; the web process reads them from
    ops_counters, which the worker adds to with its liveness beat."""
    monkeypatch.setenv("ATLAS_METRICS_CACHE_SECONDS", "0")
    get_settings.cache_clear()
    scenario = paged_scenario(devices=300, page_size=100, slow_seconds=0, tenants=2)
    scenario["tenants"][0]["faults"] = [{"kind": "throttle", "retry_after": 1, "count": 2,
                                         "paths": ["/deviceManagement/managedDevices"]}]
    simulator_process(scenario)
    owner = make_actor("owner")
    connection = create_connection(owner, name="Metrics", entra_tenant_id=tenant_id(0), client_id=APP, secret=SECRET)
    wrong = create_connection(owner, name="Wrong secret", entra_tenant_id=tenant_id(1), client_id=APP,
                              secret="not-the-secret")
    backing.start_worker("worker")
    synced = start_operation(owner, "inventory_sync", connection.id).run_id
    refused = start_operation(owner, "health_check", wrong.id).run_id
    for run_id in (synced, refused):
        wait_for("the run to finish", lambda r=run_id: run_row(r).finished_at is not None, timeout=60, interval=0.2)
    assert run_row(synced).status == "succeeded", backing.logs()
    refused_code = run_row(refused).reason_code
    assert refused_code and refused_code.startswith("auth."), backing.logs()

    def scraped() -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
        with TestClient(build_ops_api(), client=("127.0.0.1", 40000)) as http:
            body = http.get("/metrics").text
        found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
        for family in text_string_to_metric_families(body):
            for sample in family.samples:
                found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
        return found

    # The worker's beat (every second here) carries its counts over.
    wait_for("the worker's counts", lambda: scraped().get("atlas_token_failures_total"), timeout=20, interval=0.2)
    got = scraped()
    assert got["atlas_token_failures_total"] == {(("reason_code", refused_code),): 1}
    assert sum(got["atlas_graph_throttled_total"].values()) == 2
    assert sum(got["atlas_graph_retries_total"].values()) >= 2
    assert sum(got["atlas_graph_requests_total"].values()) >= 3 + 2  # three pages of devices, two of them twice
    assert got["atlas_runs"][(("operation", "inventory_sync"), ("status", "succeeded"))] == 1
    assert got["atlas_run_duration_seconds_count"][(("operation", "inventory_sync"),)] == 1
    assert got["atlas_workers_alive"][()] == 1


def test_readyz_and_metrics_give_up_on_a_silent_database_in_seconds(backing: Backing,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A partition (packets unanswered, nothing refused): the probes answer "unready" / database_up 0 within their
    own time bound instead of hanging as long as TCP lets a connection wait."""
    link = CuttableLink(backing.postgres.port)
    try:
        monkeypatch.setenv("ATLAS_DATABASE_URL", f"postgresql://postgres@127.0.0.1:{link.port}/atlas")
        monkeypatch.setenv("ATLAS_METRICS_CACHE_SECONDS", "0")
        get_settings.cache_clear()
        backing.start_worker("worker")  # straight to PostgreSQL: it stays alive, only this process is cut off
        ready_again(backing, "ready through the link")
        link.cut()
        started = time.monotonic()
        status, body = readyz()
        took = time.monotonic() - started
        assert status == 503 and "database" in failing(body) and took < 10, (took, body)
        started = time.monotonic()
        with TestClient(build_ops_api(), client=("127.0.0.1", 40000)) as http:
            scraped = http.get("/metrics")
        took = time.monotonic() - started
        assert scraped.status_code == 200 and "atlas_metrics_database_up 0.0" in scraped.text and took < 10, took
        link.heal()
        ready_again(backing, "ready once the link heals")
    finally:
        link.heal()
        link.close()
