"""GET /readyz against a private PostgreSQL and redis-server and a real `atlas worker`: unready while PostgreSQL is
stopped, Redis is gone, the schema is behind the code or no worker beats, and ready again as each comes back, with
no restart of anything in this (web) process. /metrics shows what the worker counted while it synced."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from starlette.testclient import TestClient

from atlas_app.ops_routes import build_ops_api
from atlas_cli.supervisor import stop_process_group
from atlas_services.db import get_engine
from tests.support.fault_world import Backing
from tests.support.private_servers import wait_for


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
