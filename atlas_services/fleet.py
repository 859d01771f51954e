"""The fleet view: a suite tenant's connections, a page at a time, filtered and sorted in PostgreSQL.

An MSP tenant holds up to about 1,000 connections (DESIGN §12), so the connections page never reads them all:
``fleet_page`` is one statement for the page of rows (with how many match, ``count(*) OVER ()``), and
``fleet_counts`` one statement for every count at the top (``count(*) FILTER (WHERE …)``). Both read only the
tenant's live connections (``ix_provider_connections_fleet``) and its active credentials
(``ix_provider_credentials_tenant_active``); nothing is read per row.

Filters: health (or "never checked"), cloud, credential expiring within N days (an expired one counts: it needs
the same action), last inventory older than N days (never inventoried counts), and a capability a health check
found blocked (readiness stored in ``health_details``). Every filter value is checked here; a bad one is
InvalidInput naming the field.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, bindparam
from sqlmodel import Session, SQLModel

from atlas_services.authz import Actor, Capability, requires
from atlas_services.change_stamps import reading
from atlas_services.connections import ConnectionView
from atlas_services.credential_expiry import EXPIRY_WARNING_DAYS, expiry_warning
from atlas_services.errors import InvalidInput
from atlas_services.models import Cloud, HealthStatus, ProviderConnection, ProviderCredential, utcnow
from atlas_services.runs.types import GRAPH_CAPABILITIES

NEVER_CHECKED = "never_checked"
HEALTH_FILTERS = (*(status.value for status in HealthStatus), NEVER_CHECKED)
CLOUDS = tuple(cloud.value for cloud in Cloud)
ANY_CAPABILITY = "any"
CAPABILITY_FILTERS = (ANY_CAPABILITY, *(str(op) for op in GRAPH_CAPABILITIES))
SORTS = ("name", "health", "last_checked", "expires", "last_inventory", "cloud")
MAX_DAYS = 3650
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_PAGE = 10_000


@dataclass(frozen=True)
class FleetFilter:
    """Which connections to show; None: that filter is off. Hashable: it is part of a live page's position."""

    health: str | None = None  # healthy | unhealthy | unknown | never_checked
    cloud: str | None = None
    expiring_within_days: int | None = None
    inventory_older_than_days: int | None = None
    failing_capability: str | None = None  # a capability a health check found blocked, or "any"

    def checked(self) -> FleetFilter:
        """This filter, every value validated (InvalidInput names the first bad field)."""
        _choice("health", self.health, HEALTH_FILTERS)
        _choice("cloud", self.cloud, CLOUDS)
        _choice("failing_capability", self.failing_capability, CAPABILITY_FILTERS)
        _days("expiring_within_days", self.expiring_within_days)
        _days("inventory_older_than_days", self.inventory_older_than_days)
        return self

    @property
    def is_empty(self) -> bool:
        return self == FleetFilter()


@dataclass(frozen=True)
class FleetQuery:
    """One page of the fleet: its filter, its order and which page (1-based)."""

    filter: FleetFilter = field(default_factory=FleetFilter)
    sort: str = "name"
    descending: bool = False
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE

    def checked(self) -> FleetQuery:
        self.filter.checked()
        _choice("sort", self.sort, SORTS)
        if not isinstance(self.descending, bool):
            raise InvalidInput("descending", "descending must be true or false")
        _int_in("page", self.page, 1, MAX_PAGE)
        _int_in("page_size", self.page_size, 1, MAX_PAGE_SIZE)
        return self


@dataclass(frozen=True)
class FleetEntry:
    connection: ConnectionView
    last_inventory_at: datetime | None
    failing_capabilities: tuple[str, ...]  # what the last health check found blocked


@dataclass(frozen=True)
class FleetPage:
    entries: list[FleetEntry]
    matched: int  # how many connections the filter matches, over all pages
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.matched // self.page_size))


@dataclass(frozen=True)
class FleetCounts:
    total: int
    healthy: int
    unhealthy: int
    expiring: int  # within EXPIRY_WARNING_DAYS, or expired
    never_checked: int
    disabled: int
    expiring_days: int = EXPIRY_WARNING_DAYS


def _choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise InvalidInput(name, f"{name} must be one of: {', '.join(allowed)}")


def _int_in(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(name, f"{name} must be a whole number from {low} to {high}")


def _days(name: str, value: object) -> None:
    if value is not None:
        _int_in(name, value, 0, MAX_DAYS)


# ---- the statements (built once; the tenant and the clock are bound per call) ----

_connections = SQLModel.metadata.tables[ProviderConnection.__tablename__]
_credentials = SQLModel.metadata.tables[ProviderCredential.__tablename__]
_active_credential = sa.select(_credentials.c.connection_id, _credentials.c.hint, _credentials.c.kind,
                               _credentials.c.expires_at).where(
    _credentials.c.tenant_id == bindparam("tenant_id"), _credentials.c.active).subquery("credential")
_fleet = _connections.outerjoin(_active_credential, _active_credential.c.connection_id == _connections.c.id)
_LIVE = (_connections.c.tenant_id == bindparam("tenant_id"), _connections.c.deleted_at.is_(None))
_READINESS = _connections.c.health_details["readiness"]
_BLOCKED = sa.literal("blocked")


def _expiring(now: datetime, days: int) -> ColumnElement[bool]:
    return _active_credential.c.expires_at <= now + timedelta(days=days)


def _conditions(flt: FleetFilter, now: datetime) -> list[ColumnElement[bool]]:
    c = _connections.c
    where: list[ColumnElement[bool]] = []
    if flt.health == NEVER_CHECKED:
        where.append(c.last_checked_at.is_(None))
    elif flt.health is not None:
        where.append(c.health_status == flt.health)
    if flt.cloud is not None:
        where.append(c.cloud == flt.cloud)
    if flt.expiring_within_days is not None:
        where.append(_expiring(now, flt.expiring_within_days))
    if flt.inventory_older_than_days is not None:
        where.append(sa.or_(c.last_inventory_at.is_(None),
                            c.last_inventory_at < now - timedelta(days=flt.inventory_older_than_days)))
    if flt.failing_capability == ANY_CAPABILITY:
        where.append(_ANY_FAILING)
    elif flt.failing_capability is not None:
        where.append(_READINESS[flt.failing_capability]["status"].astext == _BLOCKED)
    return where


def _path(expression: str) -> Any:
    return sa.literal_column(f"'{expression}'::jsonpath")  # constants of this module only, never user input


# The capabilities the last health check found blocked: a JSON array computed in the row's own statement.
_FAILING_PATH = _path('$.readiness.keyvalue() ? (@.value.status == "blocked").key')
_ANY_FAILING = sa.func.jsonb_path_exists(_connections.c.health_details,
                                         _path('$.readiness.* ? (@.status == "blocked")'))


_SORT_KEYS: dict[str, Any] = {
    "name": _connections.c.display_name,
    # Worst first: unhealthy, then not known, then healthy.
    "health": sa.case({HealthStatus.UNHEALTHY.value: 0, HealthStatus.UNKNOWN.value: 1},
                      value=_connections.c.health_status, else_=2),
    "last_checked": _connections.c.last_checked_at,
    "expires": _active_credential.c.expires_at,
    "last_inventory": _connections.c.last_inventory_at,
    "cloud": _connections.c.cloud,
}

# "Never checked" and "never inventoried" sort as the oldest.
_NEVER_IS_OLDEST = frozenset({"last_checked", "last_inventory"})

_ROW_COLUMNS = (
    _connections.c.id, _connections.c.display_name, _connections.c.cloud, _connections.c.entra_tenant_id,
    _connections.c.client_id, _connections.c.is_default, _connections.c.enabled, _connections.c.health_status,
    _connections.c.health_reason_code, _connections.c.last_checked_at, _active_credential.c.hint,
    _active_credential.c.kind, _active_credential.c.expires_at, _connections.c.last_inventory_at,
    _connections.c.health_details, sa.func.count().over().label("matched"),
)


def _page_statement(query: FleetQuery, now: datetime) -> Any:
    key = _SORT_KEYS[query.sort]
    if query.sort in _NEVER_IS_OLDEST:
        order = [key.desc().nulls_last() if query.descending else key.asc().nulls_first()]
    else:  # PostgreSQL's own: NULL sorts after every value (no expiry: the least urgent)
        order = [key.desc() if query.descending else key.asc()]
    if query.sort != "name":
        order.append(_connections.c.display_name.asc())
    order.append(_connections.c.id.asc())  # names are unique per tenant; the id makes the order total anyway
    # The page's rows first (the match count needs every matching row); the blocked capabilities are then read
    # from the health details of the page's rows only, not of every match.
    page = (sa.select(*_ROW_COLUMNS, sa.func.row_number().over(order_by=order).label("position"))
            .select_from(_fleet).where(*_LIVE, *_conditions(query.filter, now))
            .order_by(*order).limit(query.page_size).offset((query.page - 1) * query.page_size)).subquery("page")
    shown = [column for column in page.c if column.name not in ("health_details", "position")]
    return (sa.select(*shown, sa.func.jsonb_path_query_array(page.c.health_details, _FAILING_PATH).label("failing"))
            .order_by(page.c.position))


def _entry(row: Any) -> FleetEntry:
    view = ConnectionView(
        id=row.id, name=row.display_name, cloud=row.cloud, entra_tenant_id=row.entra_tenant_id,
        client_id=row.client_id, is_default=row.is_default, enabled=row.enabled, health_status=row.health_status,
        health_reason_code=row.health_reason_code, last_checked_at=row.last_checked_at, secret_hint=row.hint or "",
        credential_kind=row.kind, credential_expires_at=row.expires_at,
        expiry_warning=expiry_warning(row.expires_at) if row.kind is not None else None)
    return FleetEntry(view, row.last_inventory_at, tuple(sorted(str(key) for key in row.failing or ())))


@requires(Capability.PROVIDER_VIEW)
def fleet_page(actor: Actor, query: FleetQuery, *, session: Session | None = None,
               now: datetime | None = None) -> FleetPage:
    """One page of the tenant's connections matching ``query`` (one statement)."""
    query = query.checked()
    with reading(session) as reader:
        rows = reader.execute(_page_statement(query, now or utcnow()), {"tenant_id": actor.tenant_id}).all()
        matched = int(rows[0].matched) if rows else 0
        if not rows and query.page > 1:  # past the end (the fleet shrank): how many match, for the pager
            matched = matching_count(actor, query.filter, session=reader, now=now)
    return FleetPage([_entry(row) for row in rows], matched, query.page, query.page_size)


@requires(Capability.PROVIDER_VIEW)
def matching_count(actor: Actor, flt: FleetFilter, *, session: Session | None = None,
                   now: datetime | None = None) -> int:
    with reading(session) as reader:
        return int(reader.execute(
            sa.select(sa.func.count()).select_from(_fleet).where(*_LIVE, *_conditions(flt.checked(), now or utcnow())),
            {"tenant_id": actor.tenant_id}).scalar_one())


def matching_ids(actor: Actor, flt: FleetFilter, *, limit: int, session: Session | None = None,
                 now: datetime | None = None) -> list[tuple[uuid.UUID, bool]]:
    """(id, enabled) of up to ``limit`` connections matching ``flt``, by name (the caller authorizes)."""
    with reading(session) as reader:
        rows = reader.execute(
            sa.select(_connections.c.id, _connections.c.enabled).select_from(_fleet)
            .where(*_LIVE, *_conditions(flt.checked(), now or utcnow()))
            .order_by(_connections.c.display_name, _connections.c.id).limit(limit),
            {"tenant_id": actor.tenant_id}).all()
    return [(row.id, bool(row.enabled)) for row in rows]


def _counted(condition: ColumnElement[bool]) -> Any:
    return sa.func.count().filter(condition)


def _counts_statement(now: datetime) -> Any:
    c = _connections.c
    return sa.select(
        sa.func.count().label("total"),
        _counted(c.health_status == HealthStatus.HEALTHY.value).label("healthy"),
        _counted(c.health_status == HealthStatus.UNHEALTHY.value).label("unhealthy"),
        _counted(_expiring(now, EXPIRY_WARNING_DAYS)).label("expiring"),
        _counted(c.last_checked_at.is_(None)).label("never_checked"),
        _counted(sa.not_(c.enabled)).label("disabled"),
    ).select_from(_fleet).where(*_LIVE)


@requires(Capability.PROVIDER_VIEW)
def fleet_counts(actor: Actor, *, session: Session | None = None, now: datetime | None = None) -> FleetCounts:
    """Every count at the top of the fleet view, in one statement."""
    with reading(session) as reader:
        row = reader.execute(_counts_statement(now or utcnow()), {"tenant_id": actor.tenant_id}).one()
    return FleetCounts(total=row.total, healthy=row.healthy, unhealthy=row.unhealthy, expiring=row.expiring,
                       never_checked=row.never_checked, disabled=row.disabled)
