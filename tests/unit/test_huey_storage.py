"""huey keeps its queue in Redis when ATLAS_REDIS_URL is set, in SQLite under the data dir otherwise."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from huey import PriorityRedisHuey, RedisHuey, SqliteHuey

from atlas_jobs.huey_app import make_huey, retire_list_queue
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
    assert isinstance(make_huey(), PriorityRedisHuey)  # people's runs go first (atlas_services.runs.outbox)


@pytest.mark.parametrize("storage", ["redis", "sqlite"])
def test_both_storages_hand_out_higher_priorities_first_and_equal_ones_in_order(
        settings_env: pytest.MonkeyPatch, tmp_path: Path, storage: str) -> None:
    # What atlas_services.runs.outbox gives: people 1.0, scheduled runs 0, -1, -2 ... by place in their tenant's line.
    if storage == "sqlite":
        settings_env.delenv("ATLAS_REDIS_URL", raising=False)
        settings_env.setenv("ATLAS_DATA_DIR", str(tmp_path))
    settings_env.setenv("ATLAS_QUEUE_NAME", f"priority-test-{uuid.uuid4().hex[:8]}")
    get_settings.cache_clear()
    queue = make_huey()

    @queue.task()  # type: ignore[untyped-decorator]
    def job(name: str) -> None: ...

    try:
        for name, priority in [("a0", 0), ("a1", -1), ("b0", 0), ("person", 1.0), ("a2", -2), ("b1", -1)]:
            queue.enqueue(job.s(name, priority=priority))
        assert [task.args[0] for task in queue.pending()] == ["person", "a0", "b0", "a1", "b1", "a2"]
        assert queue.dequeue().args[0] == "person"
    finally:
        queue.flush()


def test_a_list_queue_left_by_an_earlier_atlas_is_dropped_for_the_priority_queue(
        settings_env: pytest.MonkeyPatch) -> None:
    settings_env.setenv("ATLAS_QUEUE_NAME", f"retire-test-{uuid.uuid4().hex[:8]}")
    get_settings.cache_clear()
    queue = make_huey()
    conn = queue.storage.conn
    try:
        conn.lpush(queue.storage.queue_key, b"a job of an earlier Atlas")
        assert retire_list_queue(queue)
        assert conn.exists(queue.storage.queue_key) == 0
        assert not retire_list_queue(queue)  # nothing (or already a sorted set): left alone

        @queue.task()  # type: ignore[untyped-decorator]
        def job() -> None: ...

        queue.enqueue(job.s(priority=1.0))
        assert not retire_list_queue(queue) and queue.pending_count() == 1
    finally:
        queue.flush()
