"""Which Reflex state manager `atlas web` gets: Redis (shared by every web process) when Atlas has a Redis, else
Reflex's default (disk, one process); an explicit Reflex setting always wins."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from atlas_cli.supervisor import shared_state_environment
from atlas_services.config import get_settings

REDIS = "redis://127.0.0.1:6379/4"


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


def test_with_atlas_redis_the_web_tier_keeps_tab_state_there(settings_env: pytest.MonkeyPatch) -> None:
    settings_env.setenv("ATLAS_REDIS_URL", REDIS)
    assert shared_state_environment({}) == {"REFLEX_REDIS_URL": REDIS}


def test_without_redis_reflex_keeps_its_default(settings_env: pytest.MonkeyPatch) -> None:
    settings_env.delenv("ATLAS_REDIS_URL", raising=False)
    assert shared_state_environment({}) == {}


@pytest.mark.parametrize("explicit", [{"REFLEX_REDIS_URL": "redis://127.0.0.1:6379/9"},
                                      {"REFLEX_STATE_MANAGER_MODE": "memory"}])
def test_an_explicit_reflex_setting_wins(settings_env: pytest.MonkeyPatch, explicit: dict[str, str]) -> None:
    settings_env.setenv("ATLAS_REDIS_URL", REDIS)
    assert shared_state_environment(explicit) == {}
