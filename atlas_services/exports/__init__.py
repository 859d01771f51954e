"""Exports for auditors: the audit log, the run history and a connection's inventory as CSV or NDJSON.

``open_export`` authorizes and validates everything and reads the first page before it returns, so a refusal
(NotFound, Forbidden, InvalidInput) comes before a single byte is written; the rest is read page by page while
the caller writes, so an export of any size holds one page in memory. The web routes and the CLI both use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from atlas_services.authz import Actor, Capability, require
from atlas_services.errors import InvalidInput
from atlas_services.exports.formats import EXTENSIONS, FORMATS, MEDIA_TYPES, parse_format, write
from atlas_services.exports.rows import (
    AUDIT_COLUMNS,
    INVENTORY_COLUMNS,
    PAGE_SIZE,
    RUN_COLUMNS,
    Row,
    audit_pages,
    inventory_pages,
    run_pages,
)
from atlas_services.inventory import KIND_LABELS
from atlas_services.models import RunStatus
from atlas_services.runs.types import OperationType

AUDIT, RUNS, INVENTORY = "audit", "runs", "inventory"
KINDS = (AUDIT, RUNS, INVENTORY)
COLUMNS = {AUDIT: AUDIT_COLUMNS, RUNS: RUN_COLUMNS, INVENTORY: INVENTORY_COLUMNS}
MAX_SEARCH = 100

__all__ = ["AUDIT", "COLUMNS", "FORMATS", "INVENTORY", "KINDS", "RUNS", "Export", "ExportFilters", "open_export"]


@dataclass(frozen=True)
class ExportFilters:
    """The filters of the page an export comes from; None means "all"."""

    connection_id: str | None = None  # runs (optional) and inventory (required)
    status: str | None = None  # runs
    op_type: str | None = None  # runs
    inventory_kind: str | None = None  # inventory
    search: str | None = None  # inventory, by display name
    include_removed: bool = False  # inventory


@dataclass
class Export:
    kind: str
    format: str
    columns: Sequence[str]
    filename: str
    media_type: str
    chunks: Iterator[str]


def open_export(actor: Actor, kind: str, fmt: str, filters: ExportFilters = ExportFilters(), *,
                page_size: int = PAGE_SIZE) -> Export:
    """Authorize, validate and read the first page of an export; its ``chunks`` stream the rest."""
    if kind not in KINDS:
        raise InvalidInput("kind", f"export must be one of: {', '.join(KINDS)}")
    fmt = parse_format(fmt)
    _check(kind, filters)
    pages = _pages(actor, kind, filters, page_size)
    first = next(pages)  # authorization, tenant scoping and argument checks happen here
    columns = COLUMNS[kind]
    return Export(kind=kind, format=fmt, columns=columns, filename=_filename(actor, kind, fmt),
                  media_type=MEDIA_TYPES[fmt], chunks=write(fmt, columns, _rows(first, pages)))


def _pages(actor: Actor, kind: str, filters: ExportFilters, page_size: int) -> Iterator[list[Row]]:
    if kind == AUDIT:
        require(actor, Capability.AUDIT_VIEW)
        return audit_pages(actor, page_size=page_size)
    require(actor, Capability.PROVIDER_VIEW)
    if kind == RUNS:
        return run_pages(actor, connection_id=filters.connection_id, status=filters.status,
                         op_type=filters.op_type, page_size=page_size)
    assert filters.connection_id is not None  # _check
    return inventory_pages(actor, filters.connection_id, kind=filters.inventory_kind, search=filters.search,
                           include_removed=filters.include_removed, page_size=page_size)


def _rows(first: list[Row], rest: Iterator[list[Row]]) -> Iterator[Row]:
    yield from first
    for page in rest:
        yield from page


def _check(kind: str, filters: ExportFilters) -> None:
    """Filters that do not apply to an export are refused rather than silently ignored."""
    if kind == AUDIT and filters != ExportFilters():
        raise InvalidInput("filters", "the audit log export takes no filters")
    if kind == RUNS:
        if filters.inventory_kind or filters.search or filters.include_removed:
            raise InvalidInput("filters", "the run history export filters by connection, status and operation")
        if filters.status is not None and filters.status not in {s.value for s in RunStatus}:
            raise InvalidInput("status", f"status must be one of: {', '.join(s.value for s in RunStatus)}")
        if filters.op_type is not None and filters.op_type not in set(OperationType):
            raise InvalidInput("operation", f"operation must be one of: {', '.join(OperationType)}")
    if kind == INVENTORY:
        if not filters.connection_id:
            raise InvalidInput("connection", "the inventory export needs a connection")
        if filters.status or filters.op_type:
            raise InvalidInput("filters", "the inventory export filters by kind, search and removed items")
        if filters.inventory_kind is not None and filters.inventory_kind not in KIND_LABELS:
            raise InvalidInput("kind", f"kind must be one of: {', '.join(KIND_LABELS)}")
        if filters.search is not None and len(filters.search) > MAX_SEARCH:
            raise InvalidInput("search", f"search is at most {MAX_SEARCH} characters")


def _filename(actor: Actor, kind: str, fmt: str) -> str:
    tenant = re.sub(r"[^A-Za-z0-9_-]+", "-", actor.tenant_name).strip("-")[:40] or "tenant"
    return f"atlas-{tenant}-{kind}-{datetime.now(UTC):%Y%m%d-%H%M%S}.{EXTENSIONS[fmt]}"
