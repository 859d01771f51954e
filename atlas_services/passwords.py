"""Password hashing (argon2id). Tests run with argon2's cheapest profile; everything else with its default."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

from atlas_services.config import get_settings


@lru_cache(maxsize=2)
def _hasher(env: str) -> PasswordHasher:
    return PasswordHasher.from_parameters(profiles.CHEAPEST) if env == "test" else PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher(get_settings().env).hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return bool(_hasher(get_settings().env).verify(password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=2)
def dummy_hash(env: str) -> str:
    """Verified against for unknown accounts, so they take as long as a wrong password."""
    return _hasher(env).hash("atlas-dummy-password")
