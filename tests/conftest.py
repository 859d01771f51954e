"""Shared fixtures: real PostgreSQL/Redis (backing), the outbound guard, the simulator, the web app."""

from __future__ import annotations

pytest_plugins = [
    "tests.plugins.backing",
    "tests.plugins.guard",
    "tests.plugins.simulator",
    "tests.plugins.atlas",
    "tests.plugins.web",
]
