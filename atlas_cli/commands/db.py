"""`atlas db`: the database schema."""

from __future__ import annotations

import typer

from atlas_cli.commands.base import SYSTEM, Json, declares
from atlas_cli.output import emit, guarded

db_app = typer.Typer(no_args_is_help=True, help="Database schema.")


@db_app.command("upgrade")
@declares(SYSTEM)
def db_upgrade(as_json: Json = False) -> None:
    """Apply every Alembic migration to ATLAS_DATABASE_URL."""
    # Lazy: Alembic adds about 0.2 s to every `atlas` start, `--help` included; only migrating needs it.
    from atlas_services.migrations import upgrade

    with guarded(as_json):
        revision = upgrade()
        emit(as_json, {"revision": revision}, f"database at revision {revision}")
