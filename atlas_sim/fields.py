"""The validators scenario files are read with (shared by scenario.py and the option modules beside it): each
takes the raw YAML value and where it sits, and raises ScenarioError naming that place."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from typing import Any


class ScenarioError(ValueError):
    """The scenario file is malformed; the message names the offending field."""


def mapping(data: object, where: str, *, required: set[str], optional: set[str]) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ScenarioError(f"{where}: expected a mapping")
    unknown = sorted(set(map(str, data)) - required - optional)
    if unknown:
        raise ScenarioError(f"{where}: unknown field(s) {', '.join(unknown)}")
    missing = sorted(required - set(data))
    if missing:
        raise ScenarioError(f"{where}: missing field(s) {', '.join(missing)}")
    return data


def items(data: object, where: str) -> list[object]:
    if not isinstance(data, list):
        raise ScenarioError(f"{where}: expected a list")
    return data


def text(data: object, where: str, *, allow_empty: bool = False) -> str:
    if not isinstance(data, str) or (not allow_empty and not data.strip()):
        raise ScenarioError(f"{where}: expected a non-empty string")
    return data


def boolean(data: object, where: str) -> bool:
    if not isinstance(data, bool):
        raise ScenarioError(f"{where}: expected true or false")
    return data


def whole(data: object, where: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    if not isinstance(data, int) or isinstance(data, bool):
        raise ScenarioError(f"{where}: expected a whole number")
    if (minimum is not None and data < minimum) or (maximum is not None and data > maximum):
        raise ScenarioError(f"{where}: expected a number between {minimum} and {maximum}")
    return data


def number(data: object, where: str, *, minimum: float | None = None, maximum: float | None = None) -> float:
    if not isinstance(data, int | float) or isinstance(data, bool) or not math.isfinite(data):
        raise ScenarioError(f"{where}: expected a number")
    if (minimum is not None and data < minimum) or (maximum is not None and data > maximum):
        raise ScenarioError(f"{where}: expected a number between {minimum} and {maximum}")
    return float(data)


def guid(data: object, where: str) -> str:
    try:
        return str(uuid.UUID(str(data)))
    except ValueError:
        raise ScenarioError(f"{where}: expected a GUID") from None


def unique(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ScenarioError(f"{what} '{value}' appears more than once")
        seen.add(value)


def choice(data: object, where: str, allowed: tuple[str, ...]) -> str:
    if data not in allowed:
        raise ScenarioError(f"{where}: expected one of {', '.join(allowed)}")
    return str(data)
