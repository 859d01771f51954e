"""huey keeps its queue in Redis when ATLAS_REDIS_URL is set, in SQLite under the data dir otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from huey import RedisHuey, SqliteHuey

from atlas_jobs.huey_app import make_huey
from atlas_services.config import get_settings


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


def test_sqlite_without_a_redis_url(settings_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings_env.delenv("ATLAS_REDIS_URL", raising=False)
    settings_env.setenv("ATLAS_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    queue = make_huey()
    assert isinstance(queue, SqliteHuey)
    assert (tmp_path / "data").is_dir()


def test_redis_with_a_redis_url(settings_env: pytest.MonkeyPatch) -> None:
    settings_env.setenv("ATLAS_REDIS_URL", "redis://127.0.0.1:6379/0")
    get_settings.cache_clear()
    assert isinstance(make_huey(), RedisHuey)
