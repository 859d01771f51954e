"""The development encryption key opens every credential of every install that kept it: the web tier and the
worker refuse to start with it outside ATLAS_ENV=development, or when the web tier listens beyond loopback."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from atlas_cli import supervisor
from atlas_cli.main import app
from atlas_services.config import DEV_ENCRYPTION_KEYS, DevelopmentKeyRefused, get_settings

DEV_KEY = DEV_ENCRYPTION_KEYS.partition(":")[2]
REAL_KEYS = "k1:" + base64.b64encode(b"k" * 32).decode()


class WouldStart(Exception):
    """Raised where the process would go on to start: the refusal did not come first."""


def _would_start(*args: object, **kwargs: object) -> None:
    raise WouldStart


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.delenv("ATLAS_ENCRYPTION_KEYS", raising=False)
    monkeypatch.delenv("ATLAS_WEB_HOST", raising=False)
    monkeypatch.setattr(supervisor, "_check_backing_services", _would_start)
    monkeypatch.setattr(supervisor, "embedded_database", _would_start)
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


def _use(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()


STARTS = {"worker": lambda: supervisor.run_worker(1), "web": supervisor.run_web, "run": supervisor.run_all}


@pytest.mark.parametrize("process", sorted(STARTS))
@pytest.mark.parametrize("env", [{"ATLAS_ENV": "test"},
                                 {"ATLAS_ENV": "development", "ATLAS_WEB_HOST": "0.0.0.0"},
                                 {"ATLAS_ENV": "development", "ATLAS_WEB_HOST": "192.0.2.10"},
                                 {"ATLAS_ENV": "test", "ATLAS_ENCRYPTION_KEYS": f"renamed:{DEV_KEY},{REAL_KEYS}"}])
def test_nothing_starts_with_the_development_key_outside_development_on_loopback(
        environment: pytest.MonkeyPatch, process: str, env: dict[str, str]) -> None:
    _use(environment, **env)
    with pytest.raises(DevelopmentKeyRefused, match="set ATLAS_ENCRYPTION_KEYS"):
        STARTS[process]()


@pytest.mark.parametrize("process", sorted(STARTS))
@pytest.mark.parametrize("env", [{"ATLAS_ENV": "development"},
                                 {"ATLAS_ENV": "development", "ATLAS_WEB_HOST": "localhost"},
                                 {"ATLAS_ENV": "development", "ATLAS_WEB_HOST": "::1"},
                                 {"ATLAS_ENV": "test", "ATLAS_ENCRYPTION_KEYS": REAL_KEYS},
                                 {"ATLAS_ENV": "test", "ATLAS_ENCRYPTION_KEYS": f"{REAL_KEYS},{DEV_ENCRYPTION_KEYS}"},
                                 {"ATLAS_ENV": "development", "ATLAS_WEB_HOST": "0.0.0.0",
                                  "ATLAS_ENCRYPTION_KEYS": REAL_KEYS}])
def test_development_on_loopback_or_a_real_key_still_starts(
        environment: pytest.MonkeyPatch, process: str, env: dict[str, str]) -> None:
    _use(environment, **env)
    with pytest.raises(WouldStart):
        STARTS[process]()


def test_the_refusal_is_one_line_that_says_what_to_set(environment: pytest.MonkeyPatch) -> None:
    _use(environment, ATLAS_ENV="test")
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "ATLAS_ENCRYPTION_KEYS" in lines[0], result.output
