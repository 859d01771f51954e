"""Integration tests run against this run's own database (tests/unit start none)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _database(database: None) -> None:
    """Every integration test may reach the database, also through fixtures that do not ask for ``db``."""
