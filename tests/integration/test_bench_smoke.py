"""Every benchmark in bench/ runs in smoke mode (tiny inputs), so none can rot between `make bench` runs.

A benchmark's figures are not judged here (timings belong in bench/, not in tests); what is judged is that it
runs to the end against real PostgreSQL and Redis and reports finite figures for every case.
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

from bench.__main__ import available


@pytest.fixture
def bench_servers(database: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Benchmarks make their own scratch database on this run's PostgreSQL server, and use this run's Redis."""
    admin = make_url(os.environ["ATLAS_DATABASE_URL"]).set(drivername="postgresql", database="postgres")
    monkeypatch.setenv("ATLAS_BENCH_DATABASE_URL", admin.render_as_string(hide_password=False))
    monkeypatch.setenv("ATLAS_BENCH_REDIS_URL", os.environ["ATLAS_REDIS_URL"])
    yield


def test_benchmarks_are_found() -> None:
    assert "graph_throttling" in available()


@pytest.mark.parametrize("name", available())
def test_benchmark_runs_in_smoke_mode(name: str, bench_servers: None) -> None:
    rows = importlib.import_module(f"bench.{name}").run(smoke=True)
    assert rows, f"{name} reported no cases"
    for row in rows:
        figures = [v for v in row.values() if isinstance(v, float | int) and not isinstance(v, bool)]
        assert figures, f"{name}: a case without figures: {row}"
        assert all(math.isfinite(v) for v in figures), f"{name}: a figure that is not finite: {row}"
