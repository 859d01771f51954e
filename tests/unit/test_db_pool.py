"""The connection pool is sized by settings (ATLAS_DB_POOL_SIZE, ATLAS_DB_MAX_OVERFLOW); building it connects
to nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.pool import QueuePool

from atlas_services.config import Settings, get_settings
from atlas_services.db import get_engine, reset_engines


@pytest.fixture
def fresh_engines() -> Iterator[None]:
    get_settings.cache_clear()
    reset_engines()
    yield
    get_settings.cache_clear()
    reset_engines()


def test_the_pool_takes_its_size_and_overflow_from_the_environment(
        monkeypatch: pytest.MonkeyPatch, fresh_engines: None) -> None:
    monkeypatch.setenv("ATLAS_DATABASE_URL", "postgresql://atlas@db.invalid:5432/atlas")
    monkeypatch.setenv("ATLAS_DB_POOL_SIZE", "7")
    monkeypatch.setenv("ATLAS_DB_MAX_OVERFLOW", "3")
    pool = get_engine().pool
    assert isinstance(pool, QueuePool)
    assert (pool.size(), pool._max_overflow) == (7, 3)  # QueuePool has no public getter for it
    assert pool._pre_ping  # a dropped connection is replaced, not handed out


def test_defaults_and_bounds() -> None:
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (defaults.db_pool_size, defaults.db_max_overflow) == (10, 5)
    with pytest.raises(ValueError, match="db_pool_size"):
        Settings(db_pool_size=0, _env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="db_max_overflow"):
        Settings(db_max_overflow=-1, _env_file=None)  # type: ignore[call-arg]
