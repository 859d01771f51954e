"""Process and data fixtures: a real worker, the seeded demo."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from atlas_cli.demo import seed_demo as seed
from tests.support.processes import running_worker


@pytest.fixture
def worker(db: None, simulator: Any) -> Iterator[subprocess.Popen[str]]:
    """A real `atlas worker` process consuming the test queue."""
    with running_worker() as proc:
        yield proc


@pytest.fixture
def seed_demo(db: None, simulator: Any) -> dict[str, Any]:
    """The demo tenant, users and simulator connections, as `atlas demo --json` reports them."""
    return seed()
