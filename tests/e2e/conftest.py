"""Browser tests: this run's own database, and a page signed in as a demo user of a given role."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page


@pytest.fixture(scope="session", autouse=True)
def _database(database: None) -> None:
    """The web app, the worker and module-wide demo fixtures all read the database."""


@pytest.fixture
def signed_in_page(seed_demo: dict[str, Any], sign_in: Callable[[str, str], Page]) -> Callable[[str], Page]:
    """Sign in through the real login form as the seeded demo user with ``role``; returns the page on /connections."""

    def _signed_in(role: str) -> Page:
        user = next(user for user in seed_demo["users"] if user["role"] == role)
        return sign_in(user["email"], user["password"])

    return _signed_in
