"""Schema migrations: Alembic, driven from code so the CLI and tests share one path."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext

from atlas_services.config import get_settings
from atlas_services.db import check_database, get_engine

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(url: str | None = None) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "alembic"))
    config.set_main_option("sqlalchemy.url", (url or get_settings().sqlalchemy_url).replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def upgrade(url: str | None = None) -> str:
    """Upgrade to head and return the current revision."""
    if url is None:
        check_database()
    command.upgrade(alembic_config(url), "head")
    with get_engine().connect() as conn:
        return str(MigrationContext.configure(conn).get_current_revision())


def downgrade(url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)
