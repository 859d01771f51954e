"""Logging for every Atlas process: text or one JSON object per line, the run and tenant a line is about, and a
last line of defence that masks any secret value this process has handled.

- ``configure_logging()`` installs one handler on the root logger, from ``ATLAS_LOG_FORMAT`` (``text`` or
  ``json``) and ``ATLAS_LOG_LEVEL``. Every process calls it once at start (``atlas`` itself, the worker, the web
  app); calling it again replaces the handler rather than adding a second one.
- ``log_context(run_id=..., tenant_id=...)`` binds fields to every line logged inside it, in this thread and in
  work it hands on with ``contextvars.copy_context()`` (the run's heartbeat and Graph read-ahead threads do).
- ``register_secret(value)`` is called by ``atlas_services.credentials`` for every secret it seals or opens. A
  formatted line (message, arguments, exception text and traceback) has each registered value, and its common
  encodings, replaced by ``[REDACTED]`` before it is written. Secrets never reach a log call by design
  (``SecretValue`` prints as stars); this catches the day a library puts one in an exception's text.
"""

from __future__ import annotations

import base64
import contextvars
import json
import logging
import sys
import threading
import urllib.parse
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

REDACTED = "[REDACTED]"
MIN_SECRET_LENGTH = 8  # shorter values would mask ordinary words; no secret Atlas keeps is this short
MAX_SECRETS = 2048  # the most recently handled values are kept (a fleet worker handles one per credential)
CONTEXT_FIELDS = ("run_id", "tenant_id", "connection_id")

_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("atlas_log_context", default=None)


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Bind ``fields`` (only CONTEXT_FIELDS; None values are left out) to every line logged inside."""
    unknown = set(fields) - set(CONTEXT_FIELDS)
    if unknown:
        raise ValueError(f"not a log context field: {sorted(unknown)}")
    merged = {**(_context.get() or {}), **{k: str(v) for k, v in fields.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> dict[str, str]:
    return dict(_context.get() or {})


class SecretRegistry:
    """The secret values this process has handled, with the encodings a log line could carry them in."""

    def __init__(self, limit: int = MAX_SECRETS) -> None:
        self._limit = limit
        self._values: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._forms: tuple[str, ...] = ()

    def register(self, value: str) -> None:
        forms = _forms(value)
        if not forms:
            return
        with self._lock:
            for form in forms:
                self._values[form] = None
                self._values.move_to_end(form)
            while len(self._values) > self._limit:
                self._values.popitem(last=False)
            # Longest first, so that a value's longer encoding is masked before a shorter form inside it.
            self._forms = tuple(sorted(self._values, key=len, reverse=True))

    def redact(self, text: str) -> str:
        for form in self._forms:  # the tuple is replaced whole, never changed in place: no lock needed
            if form in text:
                text = text.replace(form, REDACTED)
        return text

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._forms = ()


def _forms(value: str) -> set[str]:
    """The value, the strings inside it when it is a JSON object (a certificate credential's bundle), each long line
    of a multi-line value (a PEM key), and their usual encodings."""
    parts = [value]
    try:
        decoded = json.loads(value)
    except ValueError:
        decoded = None
    if isinstance(decoded, dict):
        parts += [item for item in decoded.values() if isinstance(item, str)]
    pieces = set(parts) | {line.strip() for part in parts for line in part.splitlines()}
    forms: set[str] = set()
    for piece in (p for p in pieces if len(p) >= MIN_SECRET_LENGTH):
        raw = piece.encode()
        forms |= {piece, base64.b64encode(raw).decode().rstrip("="),
                  base64.urlsafe_b64encode(raw).decode().rstrip("="), urllib.parse.quote(piece, safe=""),
                  urllib.parse.quote_plus(piece), json.dumps(piece)[1:-1], raw.hex()}
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


secrets = SecretRegistry()


def register_secret(value: str) -> None:
    """Remember a secret's value so that no log line of this process can carry it."""
    secrets.register(value)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        bound = getattr(record, "atlas_context", None) or {}
        if bound:
            line += " " + " ".join(f"{key}={value}" for key, value in bound.items())
        return secrets.redact(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the bound context, and the exception if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage(),
            "process": record.process, "thread": record.threadName,
        }
        entry.update(getattr(record, "atlas_context", None) or {})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # Redact each value before encoding: JSON escaping would hide a secret holding quotes or backslashes.
        return json.dumps({key: secrets.redact(value) if isinstance(value, str) else value
                           for key, value in entry.items()}, ensure_ascii=False)


class ContextFilter(logging.Filter):
    """Stamp the bound context on the record when it is made (the handler may format it on another thread)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.atlas_context = _context.get() or {}
        return True


_HANDLER_MARK = "_atlas_handler"


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a line is written, not when the handler was made (a test runner
    or a web server may swap it; a handler bound to the old one would write to a closed file)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure_logging(log_format: str | None = None, level: str | None = None,
                      stream: Any = None) -> logging.Handler:
    """Install Atlas's handler on the root logger (replacing an earlier one); the settings give the defaults."""
    if log_format is None or level is None:
        from atlas_services.config import get_settings

        settings = get_settings()
        log_format = log_format or settings.log_format
        level = level or settings.log_level
    root = logging.getLogger()
    # Ours from an earlier call, and a plain stream handler a library's basicConfig left (it would write lines
    # unredacted); a test runner's capture handlers are subclasses and stay.
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False) or type(h) is logging.StreamHandler]:
        root.removeHandler(old)
    handler: logging.Handler = StderrHandler() if stream is None else logging.StreamHandler(stream)
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # a library's warning is a line in the same format, redacted, not raw stderr
    return handler
