"""The huey instance: Redis when ATLAS_REDIS_URL is set, SQLite under the data dir otherwise.

Both keep a priority queue (huey's PriorityRedisHuey, a sorted set, needs Redis >= 5; SqliteHuey orders by
priority natively), so people's runs go ahead of scheduled ones (atlas_services.runs.outbox).
"""

from __future__ import annotations

import logging
from pathlib import Path

from huey import Huey, PriorityRedisHuey, SqliteHuey

from atlas_services.config import get_settings

log = logging.getLogger(__name__)


def make_huey() -> Huey:
    settings = get_settings()
    if settings.redis_url:
        return PriorityRedisHuey(settings.queue_name, url=settings.redis_url)
    path = Path(settings.data_dir)
    path.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(settings.queue_name, filename=str(path / "huey.sqlite3"))


huey = make_huey()


def check_queue() -> None:
    """Raise RuntimeError with one clear line if the queue's storage cannot be reached."""
    settings = get_settings()
    if not settings.redis_url:
        return
    import redis

    try:
        redis.Redis.from_url(settings.redis_url, socket_connect_timeout=3).ping()
    except (redis.RedisError, OSError, ValueError):
        raise RuntimeError(f"cannot connect to Redis at {_redact(settings.redis_url)}") from None
    retire_list_queue(huey)


def retire_list_queue(queue: Huey) -> bool:
    """Drop a queue left as a Redis list by an Atlas before priorities (a sorted set cannot be written over it).

    Its jobs are not lost: their runs are still queued in PostgreSQL, and the reaper's outbox sweep re-enqueues
    them. True when a list was dropped.
    """
    storage = queue.storage
    if not hasattr(storage, "conn") or storage.conn.type(storage.queue_key) != b"list":
        return False
    storage.conn.delete(storage.queue_key)
    log.warning("dropped a queue of an earlier Atlas (no priorities); the outbox sweep re-enqueues its runs")
    return True


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return scheme + sep + rest
