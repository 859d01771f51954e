"""Real PostgreSQL and Redis for a benchmark, never the user's own data.

``scratch_database()`` creates a fresh database, migrates it, points Atlas at it (``ATLAS_DATABASE_URL``) and
drops it afterwards. The server is ``ATLAS_BENCH_DATABASE_URL`` (an admin URL, e.g. the machine's PostgreSQL),
else an embedded PostgreSQL (pgserver) under ``$ATLAS_DATA_DIR/bench-postgres``. ``scratch_redis()`` yields
``ATLAS_BENCH_REDIS_URL``, else a private ``redis-server`` on a free loopback port, stopped afterwards.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from atlas_cli.embedded import embedded_database


def _data_dir() -> Path:
    return Path(os.environ.get("ATLAS_DATA_DIR", ".atlas"))


@contextmanager
def scratch_database() -> Iterator[str]:
    """A migrated database of its own for one benchmark; yields its SQLAlchemy URL."""
    from atlas_services.config import get_settings
    from atlas_services.db import reset_engines
    from atlas_services.migrations import upgrade

    with embedded_database(os.environ.get("ATLAS_BENCH_DATABASE_URL"), _data_dir() / "bench-postgres") as admin:
        admin_url = make_url(admin.replace("postgresql+psycopg://", "postgresql://", 1))
        name = f"atlas_bench_{uuid.uuid4().hex[:8]}"
        plain = admin_url.render_as_string(hide_password=False)
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = admin_url.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
        previous = os.environ.get("ATLAS_DATABASE_URL")
        os.environ["ATLAS_DATABASE_URL"] = url
        get_settings.cache_clear()
        reset_engines()
        try:
            upgrade()
            yield url
        finally:
            reset_engines()
            if previous is None:
                os.environ.pop("ATLAS_DATABASE_URL", None)
            else:
                os.environ["ATLAS_DATABASE_URL"] = previous
            get_settings.cache_clear()
            with psycopg.connect(plain, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def scratch_redis() -> Iterator[str]:
    """A Redis URL for one benchmark: the configured one, or a private server stopped afterwards."""
    configured = os.environ.get("ATLAS_BENCH_REDIS_URL")
    if configured:
        yield configured
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("no Redis: set ATLAS_BENCH_REDIS_URL or install redis-server")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the private redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
