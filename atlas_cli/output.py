"""How the CLI speaks: one JSON object with --json, short lines otherwise, one line per error."""

from __future__ import annotations

import dataclasses
import json
import sys
import uuid
from datetime import datetime
from enum import Enum
from typing import Any, NoReturn

import typer
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError

from atlas_services.errors import AtlasError, InvalidInput, ProviderError


def _default(value: Any) -> Any:
    if isinstance(value, uuid.UUID | Enum):
        return str(value.value if isinstance(value, Enum) else value)
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, BaseModel):  # a run's typed summary: its stored JSON form
        return value.model_dump(mode="json", exclude_unset=True, by_alias=True)
    raise TypeError(f"cannot encode {type(value).__name__}")


def emit(as_json: bool, payload: dict[str, Any], text: str) -> None:
    if as_json:
        typer.echo(json.dumps(payload, default=_default, sort_keys=True))
    else:
        typer.echo(text)


def fail(as_json: bool, error: BaseException) -> NoReturn:
    payload: dict[str, Any] = {"error": str(error)}
    if isinstance(error, ProviderError):
        payload = {"error": error.detail, "reason_code": error.code, "remediation": error.remediation}
        line = f"error: {error.code}: {error.detail} ({error.remediation})"
    elif isinstance(error, InvalidInput):
        payload["field"] = error.field
        line = f"error: {error}"
    else:
        line = f"error: {error}"
    if as_json:
        typer.echo(json.dumps(payload, sort_keys=True))
    else:
        typer.echo(line, err=True)
    raise typer.Exit(code=1)


def guarded(as_json: bool) -> Any:
    """Context manager translating Atlas and start-up errors to one line and exit code 1."""
    return _Guard(as_json)


class _Guard:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None or isinstance(exc, typer.Exit | KeyboardInterrupt | SystemExit):
            return
        if isinstance(exc, OperationalError):
            from atlas_services.config import get_settings
            from atlas_services.db import redact_url

            fail(self.as_json, RuntimeError(
                f"cannot connect to the database at {redact_url(get_settings().sqlalchemy_url)}"))
        if isinstance(exc, AtlasError | RuntimeError | ValueError):
            fail(self.as_json, exc)


def read_secret(path: str | None, label: str) -> str:
    """A secret from a file or stdin, never from argv (it would show in ps and shell history)."""
    if path:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    if sys.stdin.isatty():
        return str(typer.prompt(label, hide_input=True))
    return sys.stdin.read()
