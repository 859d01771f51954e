"""The huey instance: Redis when ATLAS_REDIS_URL is set, SQLite under the data dir otherwise."""

from __future__ import annotations

from pathlib import Path

from huey import Huey, RedisHuey, SqliteHuey

from atlas_services.config import get_settings


def make_huey() -> Huey:
    settings = get_settings()
    if settings.redis_url:
        return RedisHuey(settings.queue_name, url=settings.redis_url)
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


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return scheme + sep + rest
