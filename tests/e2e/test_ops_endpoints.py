"""The operating routes on the real web process (`reflex run`, as `atlas web` starts it): mounted in front of
Reflex, plain JSON for the probes, Prometheus text for /metrics on loopback."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from atlas_services import workers

pytestmark = pytest.mark.e2e


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.headers.get("content-type", ""), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("content-type", ""), error.read().decode()


def test_probes_and_metrics_answer_on_the_web_process(web_app: str, db: None) -> None:
    status, kind, body = _get(f"{web_app}/healthz")
    assert (status, kind, json.loads(body)) == (200, "application/json", {"status": "alive"})

    status, _, body = _get(f"{web_app}/readyz")  # no worker yet
    checks = json.loads(body)["checks"]
    assert status == 503 and (checks["workers"]["ok"], checks["workers"]["alive"]) == (False, 0), body
    worker_id = workers.register()
    try:
        status, _, body = _get(f"{web_app}/readyz")
        assert status == 200, body
        assert {name for name, check in json.loads(body)["checks"].items() if check["ok"]} == \
            {"database", "migrations", "queue", "workers"}
    finally:
        workers.stopped(worker_id)

    status, kind, body = _get(f"{web_app}/metrics")
    assert status == 200 and kind.startswith("text/plain; version="), body[:500]
    names = {family.name for family in text_string_to_metric_families(body)}
    assert {"atlas_metrics_database_up", "atlas_runs", "atlas_run_duration_seconds", "atlas_graph_requests",
            "atlas_token_failures", "atlas_workers_alive", "atlas_credentials_expiring"} <= names
