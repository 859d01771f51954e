"""An embedded PostgreSQL (pgserver) for `atlas run` when no ATLAS_DATABASE_URL is given."""

from __future__ import annotations

import atexit
import contextlib
import subprocess
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from atlas_cli.watchdog import remove_stale_postmaster_pid, stop_postgres


def pg_ctl_path() -> str:
    """pgserver's pg_ctl (raises ImportError without pgserver)."""
    with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR on import
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / "pg_ctl")


@contextmanager
def embedded_database(configured_url: str | None, data_dir: Path,
                      on_start: Callable[[str, Path], None] | None = None) -> Iterator[str]:
    """Yield the configured URL, or start a private PostgreSQL under ``data_dir`` and stop it afterwards.

    ``on_start(pg_ctl, data_dir)`` is called before the server starts (the watchdog records it, so a supervisor
    killed while it starts still leaves no server). Stopping is a fast shutdown through pg_ctl, so no
    postmaster.pid is left behind; a postmaster.pid left by a server that is gone is removed before starting.
    The caller holds the run lock for this data directory.
    """
    if configured_url:
        yield configured_url
        return
    # Lazy: only needed without a configured database. platformdirs warns about XDG_RUNTIME_DIR on import.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

    pg_ctl = pg_ctl_path()
    data_dir = data_dir.resolve()
    print(f"starting the embedded PostgreSQL in {data_dir} ...", flush=True)
    if data_dir.exists():
        if remove_stale_postmaster_pid(data_dir):
            print("  (removed a postmaster.pid left by a server that is gone)", flush=True)
        # pgserver stops the server only when its last "handle" ends, counting handles in this file by pid; a
        # supervisor that was SIGKILLed left its pid there, and then no later run would stop the server.
        with contextlib.suppress(FileNotFoundError):
            (data_dir / ".handle_pids.json").unlink()
    if on_start is not None:
        on_start(pg_ctl, data_dir)
    try:
        server = _start(pgserver, data_dir)
        atexit.unregister(server._cleanup)  # stopped below, in the order the supervisor chooses
        yield str(server.get_uri())
    finally:
        stop_postgres(pg_ctl, data_dir)


def _start(pgserver: Any, data_dir: Path) -> Any:
    """pgserver's server for ``data_dir``, tried twice: pgserver gives pg_ctl 10 s to start PostgreSQL, which a
    busy machine can exceed (the server may then come up anyway, and the second try adopts it)."""
    try:
        return pgserver.get_server(data_dir, cleanup_mode=None)
    except (subprocess.SubprocessError, OSError, AssertionError) as exc:
        print(f"  the embedded PostgreSQL did not start ({type(exc).__name__}); trying once more ...", flush=True)
        pgserver.PostgresServer._instances.pop(data_dir, None)  # pgserver caches the failed instance
        return pgserver.get_server(data_dir, cleanup_mode=None)
