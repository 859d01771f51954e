"""Settings: safe development defaults that production refuses."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from atlas_services.config import Settings

REAL_KEYS = "k1:" + base64.b64encode(b"k" * 32).decode()


def test_production_refuses_the_default_encryption_key_and_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ATLAS_ENCRYPTION_KEYS", raising=False)  # the test run's own key (tests/plugins/backing.py)
    with pytest.raises(ValidationError) as caught:
        Settings(env="production", _env_file=None)  # type: ignore[call-arg]
    assert "ATLAS_ENCRYPTION_KEYS" in str(caught.value) and "ATLAS_SECRET_KEY" in str(caught.value)


def test_production_refuses_a_default_secret_even_with_real_keys() -> None:
    with pytest.raises(ValidationError, match="ATLAS_SECRET_KEY"):
        Settings(env="production", encryption_keys=REAL_KEYS, _env_file=None)  # type: ignore[call-arg]


def test_production_starts_with_real_values_and_development_with_defaults() -> None:
    production = Settings(env="production", encryption_keys=REAL_KEYS, secret_key="x" * 40,
                          _env_file=None)  # type: ignore[call-arg]
    assert production.env == "production"
    assert Settings(env="development", _env_file=None).encryption_keys  # type: ignore[call-arg]


def test_database_url_gets_the_psycopg_driver() -> None:
    settings = Settings(database_url="postgresql://u@h:5432/d", _env_file=None)  # type: ignore[call-arg]
    assert settings.sqlalchemy_url == "postgresql+psycopg://u@h:5432/d"
