"""GET /metrics: Prometheus text that prometheus_client's own parser reads, built from real PostgreSQL rows and
from the counters worker processes add to; refused to remote clients without ATLAS_METRICS_TOKEN."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlmodel import select
from starlette.testclient import TestClient

from atlas_app.ops_routes import build_ops_api
from atlas_services import metrics, ops_counts, workers
from atlas_services.config import get_settings
from atlas_services.db import session_scope
from atlas_services.metrics_runs import FinishedRuns
from atlas_services.models import OperationRun, ProviderCredential, utcnow
from atlas_services.probe_db import probe_session
from tests.support.factories import create_connection, make_actor

LOOPBACK = ("127.0.0.1", 40000)
REMOTE = ("203.0.113.7", 40000)
TOKEN = "metrics-token-" + uuid.uuid4().hex


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Set ATLAS_* variables for the test; the settings are read afresh and restored afterwards."""
    def apply(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"ATLAS_{name.upper()}", value)
        get_settings.cache_clear()

    apply(metrics_cache_seconds="0")
    monkeypatch.setattr(metrics, "_registry", None)  # a new collector: no tally of finished runs from earlier tests
    yield apply
    monkeypatch.undo()
    get_settings.cache_clear()


def scrape(client: tuple[str, int] = LOOPBACK, headers: dict[str, str] | None = None) -> Any:
    with TestClient(build_ops_api(), client=client) as http:
        return http.get("/metrics", headers=headers or {})


def samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def add_run(tenant_id: uuid.UUID, connection_id: uuid.UUID, op_type: str, status: str,
            seconds: float | None = None, queued_for: timedelta | None = None, ago: timedelta | None = None) -> None:
    now = utcnow() - (ago or timedelta(0))
    run = OperationRun(tenant_id=tenant_id, connection_id=connection_id, scope_key=f"test:{uuid.uuid4()}",
                       op_type=op_type, status=status, created_at=now - (queued_for or timedelta(0)))
    if seconds is not None:
        run.started_at, run.finished_at = now - timedelta(seconds=seconds), now
    with session_scope() as session:
        session.add(run)


def test_metrics_parse_and_count_runs_credentials_workers_and_worker_counters(db: None, settings_env: Any) -> None:
    actor = make_actor()
    connection = create_connection(actor)
    add_run(actor.tenant_id, connection.id, "health_check", "succeeded", seconds=3)
    add_run(actor.tenant_id, connection.id, "health_check", "succeeded", seconds=45)
    add_run(actor.tenant_id, connection.id, "inventory_sync", "failed", seconds=700)
    add_run(actor.tenant_id, connection.id, "inventory_sync", "queued", queued_for=timedelta(minutes=5))
    with session_scope() as session:
        credential = session.exec(select(ProviderCredential)
                                  .where(ProviderCredential.connection_id == connection.id)).one()
        credential.expires_at = utcnow() + timedelta(days=10)
    worker_id = workers.register()
    # Earlier tests in this process made Graph calls and counted them: write those, then start from nothing.
    ops_counts.flush()
    with session_scope() as session:
        session.execute(text("DELETE FROM ops_counters"))
    # What a worker process counts: its liveness beat adds it to ops_counters, which the web process reads.
    ops_counts.count(ops_counts.GRAPH_REQUESTS, "intune", 7)
    ops_counts.count(ops_counts.GRAPH_THROTTLED, "intune", 2)
    ops_counts.count(ops_counts.GRAPH_RETRIES, "directory")
    ops_counts.count(ops_counts.TOKEN_FAILURES, "auth.invalid_client_secret")
    ops_counts.flush()
    ops_counts.count(ops_counts.GRAPH_REQUESTS, "intune", 3)  # a second flush adds, it does not replace
    ops_counts.flush()

    response = scrape()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    got = samples(response.text)

    assert got[("atlas_metrics_database_up", ())] == 1
    assert got[("atlas_runs", (("operation", "health_check"), ("status", "succeeded")))] == 2
    assert got[("atlas_runs", (("operation", "inventory_sync"), ("status", "failed")))] == 1
    assert got[("atlas_runs", (("operation", "inventory_sync"), ("status", "queued")))] == 1
    assert 290 <= got[("atlas_oldest_queued_run_age_seconds", ())] <= 400
    hc = (("operation", "health_check"),)
    assert got[("atlas_run_duration_seconds_bucket", (("le", "5.0"), *hc))] == 1
    assert got[("atlas_run_duration_seconds_bucket", (("le", "60.0"), *hc))] == 2
    assert got[("atlas_run_duration_seconds_count", hc)] == 2
    assert got[("atlas_run_duration_seconds_sum", hc)] == pytest.approx(48, abs=1)
    assert got[("atlas_run_duration_seconds_bucket", (("le", "600.0"), ("operation", "inventory_sync")))] == 0
    assert got[("atlas_run_duration_seconds_bucket", (("le", "+Inf"), ("operation", "inventory_sync")))] == 1
    assert got[("atlas_graph_requests_total", (("throttle_class", "intune"),))] == 10
    assert got[("atlas_graph_throttled_total", (("throttle_class", "intune"),))] == 2
    assert got[("atlas_graph_retries_total", (("throttle_class", "directory"),))] == 1
    assert got[("atlas_token_failures_total", (("reason_code", "auth.invalid_client_secret"),))] == 1
    assert got[("atlas_credentials_expiring", ())] == 1
    assert got[("atlas_credentials_expired", ())] == 0
    assert got[("atlas_workers_alive", ())] == 1

    workers.stopped(worker_id)
    assert samples(scrape().text)[("atlas_workers_alive", ())] == 0
    # Nothing names a tenant or a connection.
    assert str(actor.tenant_id) not in response.text and str(connection.id) not in response.text


def test_a_scrape_within_the_cache_period_reads_postgresql_once(db: None, settings_env: Any) -> None:
    settings_env(metrics_cache_seconds="60")
    first = samples(scrape().text)[("atlas_workers_alive", ())]
    workers.register()
    assert samples(scrape().text)[("atlas_workers_alive", ())] == first  # cached
    settings_env(metrics_cache_seconds="0")
    assert samples(scrape().text)[("atlas_workers_alive", ())] == first + 1


def test_without_a_token_only_loopback_clients_may_scrape(db: None, settings_env: Any) -> None:
    assert scrape(REMOTE).status_code == 401
    # A client's own X-Forwarded-For is not believed: no proxy is trusted.
    assert scrape(REMOTE, {"X-Forwarded-For": "127.0.0.1"}).status_code == 401
    # A remote client behind a trusted proxy on loopback is still remote.
    settings_env(trusted_proxies="127.0.0.1")
    assert scrape(LOOPBACK, {"X-Forwarded-For": "203.0.113.9"}).status_code == 401
    assert scrape(LOOPBACK).status_code == 200


def test_with_a_token_every_client_needs_it(db: None, settings_env: Any) -> None:
    settings_env(metrics_token=TOKEN)
    assert scrape(LOOPBACK).status_code == 401
    assert scrape(REMOTE, {"Authorization": f"Bearer {TOKEN}x"}).status_code == 401
    assert scrape(REMOTE, {"Authorization": f"Basic {TOKEN}"}).status_code == 401
    refused = scrape(REMOTE, {"Authorization": "Bearer wrong"})
    assert refused.status_code == 401 and TOKEN not in refused.text
    ok = scrape(REMOTE, {"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and TOKEN not in ok.text
    assert samples(ok.text)[("atlas_metrics_database_up", ())] == 1


def test_healthz_answers_without_asking_anything(settings_env: Any) -> None:
    with TestClient(build_ops_api(), client=REMOTE) as http:
        response = http.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "alive"}
    assert response.headers["cache-control"] == "no-store"


def test_counts_a_flush_could_not_write_are_kept_for_the_next(db: None, settings_env: Any) -> None:
    ops_counts.flush()  # whatever this process counted before (earlier tests' Graph calls): written, then set aside
    before = ops_counts.totals().get(ops_counts.GRAPH_RETRIES, {}).get("intune", 0)
    database_url = get_settings().database_url
    assert database_url is not None
    settings_env(database_url="postgresql://postgres@127.0.0.1:9/nowhere")  # nothing listens on port 9
    ops_counts.count(ops_counts.GRAPH_RETRIES, "intune", 4)
    with pytest.raises(OperationalError):
        ops_counts.flush()
    assert ops_counts.pending() == {(ops_counts.GRAPH_RETRIES, "intune"): 4}
    settings_env(database_url=database_url)
    assert ops_counts.flush() == 1
    assert ops_counts.totals()[ops_counts.GRAPH_RETRIES]["intune"] - before == 4
    assert ops_counts.pending() == {}


def test_finished_runs_are_read_once_then_only_what_finished_since(db: None) -> None:
    """The tally settles runs older than SETTLE and re-reads only newer ones: no run is counted twice."""
    actor = make_actor()
    connection = create_connection(actor)
    add_run(actor.tenant_id, connection.id, "health_check", "succeeded", seconds=2, ago=timedelta(minutes=5))
    add_run(actor.tenant_id, connection.id, "health_check", "succeeded", seconds=20)
    tally = FinishedRuns()

    def counted() -> tuple[int, int, list[int]]:
        with probe_session() as session:
            found = tally.read(session, utcnow())[("succeeded", "health_check")]
        return found.runs, found.timed, found.buckets[:3]

    assert counted() == (2, 2, [0, 1, 1])  # the 2 s run in le=5, the 20 s one above le=15
    assert counted() == (2, 2, [0, 1, 1])  # read again: the settled run is not added twice
    add_run(actor.tenant_id, connection.id, "health_check", "succeeded", seconds=0.5)
    assert counted() == (3, 3, [1, 2, 2])
