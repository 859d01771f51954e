"""An embedded PostgreSQL (pgserver) for `atlas run` when no ATLAS_DATABASE_URL is given."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def embedded_database(configured_url: str | None, data_dir: Path) -> Iterator[str]:
    """Yield the configured URL, or start a private PostgreSQL under ``data_dir`` and stop it afterwards."""
    if configured_url:
        yield configured_url
        return
    # Lazy: only needed without a configured database. platformdirs warns about XDG_RUNTIME_DIR on import.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

    print(f"starting the embedded PostgreSQL in {data_dir} ...", flush=True)
    server = pgserver.get_server(  # type: ignore[attr-defined]
        data_dir, cleanup_mode="stop")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()
