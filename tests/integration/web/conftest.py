"""The world the web handler tests act in, built once per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.web_world import World, build_world, empty_world


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    empty_world()
    yield build_world()
    empty_world()
