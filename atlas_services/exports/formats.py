"""How an export is written: CSV (with spreadsheet formula injection defused) or NDJSON (one JSON object a line).

Both writers take an iterable of rows (dicts keyed by the export's columns) and yield text chunks, one per row,
so nothing holds the whole result.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Any

from atlas_services.errors import InvalidInput

CSV = "csv"
JSON = "json"
FORMATS = (CSV, JSON)
MEDIA_TYPES = {CSV: "text/csv; charset=utf-8", JSON: "application/x-ndjson; charset=utf-8"}
EXTENSIONS = {CSV: "csv", JSON: "ndjson"}

# A spreadsheet reads a cell starting with one of these as a formula (OWASP, "CSV Injection"): =, +, -, @, and
# tab or carriage return, which some spreadsheets strip before looking.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def parse_format(value: object) -> str:
    if value not in FORMATS:
        raise InvalidInput("format", f"format must be one of: {', '.join(FORMATS)}")
    return str(value)


def cell_text(value: Any) -> str:
    """A value as a cell's text: "" for None, ISO 8601 for moments, compact sorted JSON for mappings."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, Mapping | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return str(value)


def csv_cell(value: Any) -> str:
    """A cell that no spreadsheet evaluates: text starting like a formula gets a leading apostrophe."""
    text = cell_text(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, str | int | float | bool | Mapping | list):
        return value
    return str(value)


def csv_lines(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def line(cells: Iterable[str]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(cells)
        return buffer.getvalue()

    yield line(columns)
    for row in rows:
        yield line(csv_cell(row[column]) for column in columns)


def ndjson_lines(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    for row in rows:
        yield json.dumps({column: json_value(row[column]) for column in columns}, ensure_ascii=False,
                         default=str) + "\n"


def write(fmt: str, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    return csv_lines(columns, rows) if fmt == CSV else ndjson_lines(columns, rows)
