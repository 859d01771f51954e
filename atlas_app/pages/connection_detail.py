"""/connections/[connection_id]: one connection: health per capability, granted vs required permissions, its
credential, recent runs (live), inventory per kind with a small paged item table, and the compliance trend.

The id comes from the URL (the browser's: it is checked like any argument). Another tenant's connection and one
that does not exist look the same. Everything shown is read from PostgreSQL through the read models (which
check the capability and the tenant themselves); while one of the connection's runs is active the page polls.
Operations are started here the same way as on /connections: a run row is written and its id enqueued.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import reflex as rx

from atlas_app.components.badges import BadgeCatalog
from atlas_app.components.layout import page_frame
from atlas_app.components.tables import (
    detail_list,
    live_badge,
    muted,
    over_privilege_callout,
    permissions_table,
    readiness_table,
    run_table,
    sections_table,
    warnings_callout,
)
from atlas_app.state.guard import (
    INVALID,
    PAGE_DENIED,
    BadArgument,
    choice_arg,
    flag_arg,
    form_arg,
    ignored_arg,
    requires_capability,
    text_field,
    uuid_arg,
)
from atlas_app.state.messages import user_message, when
from atlas_app.state.polling import claim_poll, release_poll
from atlas_app.state.rows import (
    CREDENTIAL_KINDS,
    DetailItem,
    OverPrivilegeRow,
    PermissionRow,
    ReadinessRow,
    RunRow,
    SectionRow,
    detail_items,
    op_label,
    over_privilege_rows,
    permission_rows,
    permission_source_label,
    readiness_rows,
    run_row,
    section_rows,
)
from atlas_app.state.session import SessionState
from atlas_jobs.dispatch import start_operation
from atlas_services.authz import Actor, Capability
from atlas_services.connection_health import ConnectionHealthView, connection_health
from atlas_services.connections import ConnectionView, get_connection
from atlas_services.errors import NotFound
from atlas_services.inventory import (
    KIND_LABELS,
    ComplianceSnapshotView,
    InventoryItemView,
    InventoryOverview,
    InventoryPage,
    compliance_history,
    inventory_overview,
    list_inventory_items,
)
from atlas_services.runs.queries import list_runs
from atlas_services.runs.types import AVAILABLE

ROUTE = "/connections/[connection_id]"
POLL_MILLISECONDS = 2000
RUN_LIMIT = 10
ITEM_PAGE_SIZE = 10
TREND_LIMIT = 30
# The operations a connection page can start (each is provider.run, and each one's worker exists).
STARTABLE = AVAILABLE
KINDS = tuple(str(kind) for kind in KIND_LABELS)
DEFAULT_KIND = KINDS[0]
# The search form names the kind it searches (a hidden input) next to the text.
SEARCH_FORM = form_arg(kind=text_field("Kind", 40), search=text_field("Search", 100))
# The lines of the compliance chart: a snapshot's compliance count → (label, Radix colour).
TREND_SERIES = {
    "compliant": ("Compliant", "green"),
    "noncompliant": ("Not compliant", "red"),
    "in_grace_period": ("In grace period", "amber"),
    "error": ("Error", "crimson"),
    "conflict": ("Conflict", "purple"),
    "unknown": ("Unknown", "gray"),
}


@dataclasses.dataclass
class KindRow:
    kind: str = ""
    label: str = ""
    active: int = 0
    removed: int = 0
    last_observed: str = ""


@dataclasses.dataclass
class ItemRow:
    id: str = ""
    name: str = ""
    item_type: str = ""
    state: str = ""
    last_observed: str = ""
    removed: str = ""


@dataclasses.dataclass
class TrendPoint:
    at: str = ""
    compliant: int = 0
    noncompliant: int = 0
    in_grace_period: int = 0
    error: int = 0
    conflict: int = 0
    unknown: int = 0


@dataclasses.dataclass(frozen=True)
class ItemQuery:
    kind: str = DEFAULT_KIND
    search: str = ""
    include_removed: bool = False
    cursor: str = ""


@dataclasses.dataclass(frozen=True)
class _Detail:
    connection: ConnectionView
    health: ConnectionHealthView
    overview: InventoryOverview
    history: list[ComplianceSnapshotView]
    runs: list[RunRow]
    items: InventoryPage


def _connection_id_from_path(path: str) -> str | None:
    """The id in /connections/<id>, checked like any argument from the browser."""
    parts = [part for part in path.split("/") if part]
    if len(parts) != 2 or parts[0] != "connections":
        return None
    try:
        return uuid_arg(parts[1])
    except BadArgument:
        return None


def _read_items(actor: Actor, connection_id: str, query: ItemQuery) -> InventoryPage:
    return list_inventory_items(actor, connection_id, query.kind, cursor=query.cursor or None, limit=ITEM_PAGE_SIZE,
                                include_removed=query.include_removed, search=query.search or None)


def _read_detail(actor: Actor, connection_id: str, query: ItemQuery) -> _Detail | None:
    """Everything the page shows, from PostgreSQL only (blocking: call in a thread); None when not visible."""
    try:
        connection = get_connection(actor, connection_id)
        return _Detail(
            connection=connection,
            health=connection_health(actor, connection_id),
            overview=inventory_overview(actor, connection_id),
            history=compliance_history(actor, connection_id, limit=TREND_LIMIT),
            runs=[run_row(v) for v in list_runs(actor, RUN_LIMIT, connection_id=connection_id)],
            items=_read_items(actor, connection_id, query),
        )
    except NotFound:
        return None


def _trend_point(snapshot: ComplianceSnapshotView) -> TrendPoint:
    compliance = snapshot.counts.get("compliance") if isinstance(snapshot.counts, dict) else None
    compliance = compliance if isinstance(compliance, dict) else {}

    def count(key: str) -> int:
        value = compliance.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    return TrendPoint(at=snapshot.observed_at.strftime("%m-%d %H:%M:%S"),
                      **{key: count(key) for key in TREND_SERIES})


def _to_item_row(item: InventoryItemView) -> ItemRow:
    return ItemRow(id=str(item.id), name=item.display_name, item_type=item.item_type or "", state=item.state or "",
                   last_observed=when(item.last_observed_at), removed=when(item.removed_at))


class ConnectionDetailState(SessionState):
    loaded: bool = False
    found: bool = False
    detail_id: str = ""
    name: str = ""
    cloud: str = ""
    entra_tenant_id: str = ""
    client_id: str = ""
    enabled: bool = True
    is_default: bool = False

    # Health: the last health check's findings.
    health_status: str = "unknown"
    health_reason_code: str = ""
    health_message: str = ""
    health_remediation: str = ""
    last_checked: str = ""
    organization: list[DetailItem] = rx.field(default_factory=list)
    readiness: list[ReadinessRow] = rx.field(default_factory=list)
    permissions_known: bool = False  # a health check recorded which permissions are granted
    permission_source: str = ""
    permission_note: str = ""
    granted: list[str] = rx.field(default_factory=list)
    required_permissions: list[PermissionRow] = rx.field(default_factory=list)
    over_privileged: list[OverPrivilegeRow] = rx.field(default_factory=list)
    health_warnings: list[str] = rx.field(default_factory=list)

    # The active credential (hints only).
    credential_kind: str = ""
    secret_hint: str = ""
    credential_expires: str = ""
    credential_warning: str = ""

    runs: list[RunRow] = rx.field(default_factory=list)
    has_active: bool = False

    # Inventory: counts per kind, the last sync, one page of one kind's items.
    kinds: list[KindRow] = rx.field(default_factory=list)
    last_sync_status: str = ""
    last_sync_run_id: str = ""
    last_sync_finished: str = ""
    last_sync_sections: list[SectionRow] = rx.field(default_factory=list)
    items_kind: str = DEFAULT_KIND
    items_search: str = ""
    items_removed: bool = False
    items: list[ItemRow] = rx.field(default_factory=list)
    items_page: int = 1
    items_has_next: bool = False
    items_error: str = ""

    # Compliance: one point per snapshot, oldest first.
    trend: list[dict[str, Any]] = rx.field(default_factory=list)  # TrendPoint fields (recharts takes dicts)
    latest_snapshot: str = ""

    # What the last start button did: started | deduplicated | scope_busy (with the run it is about).
    start_outcome: str = ""
    start_label: str = ""
    start_run_id: str = ""

    # Backend only: the cursors of the item pages before the one shown (and of the next one).
    _item_cursors: list[str] = []
    _next_cursor: str = ""
    _poll_started_at: float = 0.0

    # ---- private helpers ----

    def _clear_page(self) -> None:
        self._show(None)
        self.loaded = False
        self._reset_items()
        self._clear_start()

    def _clear_start(self) -> None:
        self.start_outcome = self.start_label = self.start_run_id = ""

    def _reset_items(self, kind: str = DEFAULT_KIND) -> None:
        self.items_kind, self.items_search, self.items_removed = kind, "", False
        self.items, self.items_page, self.items_has_next, self.items_error = [], 1, False, ""
        self._item_cursors, self._next_cursor = [], ""

    def _query(self) -> ItemQuery:
        cursor = self._item_cursors[-1] if self._item_cursors else ""
        return ItemQuery(self.items_kind, self.items_search, self.items_removed, cursor)

    def _show_items(self, page: InventoryPage | None) -> None:
        self.items = [_to_item_row(item) for item in page.items] if page else []
        self._next_cursor = (page.next_cursor or "") if page else ""
        self.items_has_next = bool(self._next_cursor)

    def _show(self, detail: _Detail | None, *, with_items: bool = True) -> None:
        """Everything from one read (or nothing: not found, or signed out)."""
        self.found = detail is not None
        self.loaded = True
        view = detail.connection if detail else None
        self.detail_id = str(view.id) if view else ""
        self.name = view.name if view else ""
        self.cloud = str(view.cloud) if view else ""
        self.entra_tenant_id = str(view.entra_tenant_id) if view else ""
        self.client_id = str(view.client_id) if view else ""
        self.enabled = view.enabled if view else True
        self.is_default = view.is_default if view else False
        self.secret_hint = view.secret_hint if view else ""
        self._show_health(detail.health if detail else None)
        self.runs = detail.runs if detail else []
        self.has_active = any(row.active for row in self.runs)
        self._show_inventory(detail.overview if detail else None)
        if with_items or detail is None:
            self._show_items(detail.items if detail else None)
        history = detail.history if detail else []
        self.trend = [dataclasses.asdict(_trend_point(snapshot)) for snapshot in history]
        self.latest_snapshot = when(history[-1].observed_at) if history else ""

    def _show_health(self, health: ConnectionHealthView | None) -> None:
        self.health_status = str(health.health_status) if health else "unknown"
        self.health_reason_code = (health.reason_code or "") if health else ""
        self.health_message = (health.reason_message or "") if health else ""
        self.health_remediation = (health.remediation or "") if health else ""
        self.last_checked = when(health.last_checked_at) if health else ""
        self.organization = detail_items([
            ("Organization", health.organization_name), ("Organization id", health.organization_id),
            ("Default domain", health.default_domain)]) if health else []
        self.readiness = readiness_rows(health.readiness) if health else []
        granted = health.granted_permissions if health else None
        self.permissions_known = bool(health and health.permission_source)
        self.permission_source = permission_source_label(health.permission_source) if health else ""
        self.permission_note = (health.permission_note or "") if health else ""
        self.granted = list(granted or ())
        self.required_permissions = permission_rows(health.readiness, granted) if health else []
        self.over_privileged = over_privilege_rows(health.over_privileged) if health else []
        self.health_warnings = list(health.warnings) if health else []
        kind = (health.credential_kind or "") if health else ""
        self.credential_kind = CREDENTIAL_KINDS.get(kind, kind)
        expires = health.credential_expires_at if health else None
        self.credential_expires = expires.strftime("%Y-%m-%d") if expires else ""
        self.credential_warning = (health.credential_warning or "") if health else ""

    def _show_inventory(self, overview: InventoryOverview | None) -> None:
        self.kinds = [KindRow(kind=str(k.kind), label=k.label, active=k.active, removed=k.removed,
                              last_observed=when(k.last_observed_at)) for k in overview.kinds] if overview else []
        sync = overview.last_sync if overview else None
        self.last_sync_status = str(sync.status) if sync else ""
        self.last_sync_run_id = str(sync.run_id) if sync else ""
        self.last_sync_finished = when(sync.finished_at) if sync else ""
        self.last_sync_sections = section_rows({s.name: {"status": s.status, "items": s.items,
                                                         "reason_code": s.reason_code, "message": s.message}
                                                for s in sync.sections}) if sync else []

    async def _refresh(self, actor: Actor, connection_id: str | None) -> None:
        """Re-read the whole page for ``connection_id`` (nothing found for None)."""
        detail = None
        if connection_id is not None:
            try:
                detail = await asyncio.to_thread(_read_detail, actor, connection_id, self._query())
            except Exception as exc:  # noqa: BLE001 - translated for the user
                self._say(user_message(exc), "error")
                self.has_active = False
                return
        self._show(detail)

    async def _reload_items(self, actor: Actor) -> bool:
        """Re-read the item table alone (after a change of kind, search, filter or page).

        False when the connection is not visible (any more): the page then shows "not found".
        """
        self.items_error = ""
        if not self.detail_id:
            self._show_items(None)
            return True
        try:
            page = await asyncio.to_thread(_read_items, actor, self.detail_id, self._query())
        except NotFound:
            self._show(None)
            self._reset_items()
            return False
        except Exception as exc:  # noqa: BLE001 - translated for the user
            self.items_error = user_message(exc)
            self._show_items(None)
            return True
        self._show_items(page)
        return True

    # ---- events: reading ----

    @requires_capability(Capability.PROVIDER_VIEW, denied=PAGE_DENIED)
    async def on_page_load(self, actor: Actor):
        self.notice = ""
        self._reset_items()
        self._clear_start()
        await self._refresh(actor, _connection_id_from_path(self.router.url.path))
        return None

    @requires_capability(Capability.PROVIDER_VIEW, background=True, temporal=True, tick=ignored_arg)
    async def poll(self, actor: Actor, tick: Any):
        """Timer tick while one of the connection's runs is active: re-read the page from PostgreSQL."""
        async with self:
            if not self.has_active or not self.detail_id or not claim_poll(self):
                return None
            connection_id, query = self.detail_id, self._query()
        try:
            detail: _Detail | None = await asyncio.to_thread(_read_detail, actor, connection_id, query)
            failure = ""
        except Exception as exc:  # noqa: BLE001 - translated for the user (a stale cursor included)
            detail, failure = None, user_message(exc)
        async with self:
            release_poll(self)
            if failure:
                self._say(failure, "error")
                self.has_active = False
            elif self.detail_id == connection_id:
                # When the item table changed while this tick read, keep the one the user asked for.
                self._show(detail, with_items=self._query() == query)
        return None

    # ---- events: the item table ----

    @requires_capability(Capability.PROVIDER_VIEW, kind=choice_arg(*KINDS))
    async def choose_kind(self, actor: Actor, kind: Any):
        self._reset_items(kind)
        await self._reload_items(actor)
        return None

    @requires_capability(Capability.PROVIDER_VIEW, form_data=SEARCH_FORM)
    async def search_items(self, actor: Actor, form_data: Any):
        if form_data["kind"] not in KINDS:
            self.items_error = INVALID
            return None
        self.items_kind = form_data["kind"]
        self.items_search = form_data["search"].strip()
        self.items_page, self._item_cursors = 1, []
        await self._reload_items(actor)
        return None

    @requires_capability(Capability.PROVIDER_VIEW, include=flag_arg)
    async def show_removed(self, actor: Actor, include: Any):
        self.items_removed = include
        self.items_page, self._item_cursors = 1, []
        await self._reload_items(actor)
        return None

    @requires_capability(Capability.PROVIDER_VIEW)
    async def next_items(self, actor: Actor):
        if not self._next_cursor:
            return None
        self._item_cursors = [*self._item_cursors, self._next_cursor]
        self.items_page += 1
        await self._reload_items(actor)
        return None

    @requires_capability(Capability.PROVIDER_VIEW)
    async def previous_items(self, actor: Actor):
        if not self._item_cursors:
            return None
        self._item_cursors = self._item_cursors[:-1]
        self.items_page = max(1, self.items_page - 1)
        await self._reload_items(actor)
        return None

    # ---- events: starting an operation ----

    @requires_capability(Capability.PROVIDER_RUN, connection_id=uuid_arg, op_type=choice_arg(*STARTABLE))
    async def start_operation(self, actor: Actor, connection_id: Any, op_type: Any):
        """Start an operation on the connection: writes a run row and enqueues its id, nothing more."""
        self._clear_start()
        try:
            result = await asyncio.to_thread(start_operation, actor, op_type, connection_id)
        except Exception as exc:  # noqa: BLE001 - translated for the user
            self._say(user_message(exc), "error")
        else:
            self.notice = ""
            self.start_outcome = result.outcome
            self.start_label = op_label(op_type)
            # For scope_busy the run is the other operation's (the one holding the scope).
            self.start_run_id = str(result.active_run_id or result.run_id)
        if self.detail_id:  # a run that could not be enqueued shows as failed
            await self._refresh(actor, self.detail_id)
        return None


# ---------------------------------------------------------------- view

S = ConnectionDetailState


def _section(title: str, *children: rx.Component, test_id: str, extra: rx.Component | None = None) -> rx.Component:
    heading = rx.hstack(rx.heading(title, size="4"), *([extra] if extra is not None else []), align="center")
    return rx.vstack(heading, *children, spacing="3", width="100%", custom_attrs={"data-testid": test_id})


def _start_button(op_type: str, icon: str) -> rx.Component:
    blocked = ~SessionState.can_run | ~S.enabled

    def button(disabled: bool) -> rx.Component:
        return rx.button(rx.icon(icon, size=14), op_label(op_type), variant="soft", disabled=disabled,
                         on_click=S.start_operation(S.detail_id, op_type),
                         custom_attrs={"data-testid": f"start-{op_type}"})

    return rx.cond(
        blocked,
        rx.tooltip(
            rx.box(button(True), display="inline-block", custom_attrs={"data-testid": f"start-{op_type}-why"}),
            content=rx.cond(~SessionState.can_run, "You do not have permission to start operations.",
                            "This connection is disabled: enable it on the Connections page first."),
        ),
        button(False),
    )


def _start_result() -> rx.Component:
    run_link = rx.link("run", href="/runs/" + S.start_run_id, custom_attrs={"data-testid": "start-run-link"})
    return rx.cond(
        S.start_outcome != "",
        rx.callout(
            rx.match(
                S.start_outcome,
                ("started", rx.text(S.start_label, " queued (", run_link, ").", size="2")),
                ("deduplicated", rx.text(S.start_label, " of this connection is already in progress (", run_link,
                                         "): no second one was started.", size="2")),
                rx.text("Scope busy: another operation (", run_link, ") is active on this Microsoft tenant. Try "
                        "again when it ends.", size="2"),
            ),
            icon=rx.match(S.start_outcome, ("started", "circle_check"), ("deduplicated", "info"), "octagon_alert"),
            color_scheme=rx.match(S.start_outcome, ("started", "green"), ("deduplicated", "blue"), "amber"),
            width="100%",
            custom_attrs={"data-testid": "start-result", "data-outcome": S.start_outcome,
                          "data-run-id": S.start_run_id},
        ),
    )


def _header() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading(S.name, size="6", custom_attrs={"data-testid": "connection-title"}),
            BadgeCatalog.badge(BadgeCatalog.HEALTH_STATUS, S.health_status, test_id="connection-health"),
            rx.cond(S.is_default, rx.badge("Default", variant="outline", color_scheme="blue")),
            rx.cond(~S.enabled, rx.badge("Disabled", variant="outline", color_scheme="gray",
                                         custom_attrs={"data-testid": "disabled-badge"})),
            align="center",
            spacing="3",
            wrap="wrap",
        ),
        rx.text("Cloud ", rx.code(S.cloud, size="1"), " · Tenant ", rx.code(S.entra_tenant_id, size="1"),
                " · Client ", rx.code(S.client_id, size="1"), size="1", color_scheme="gray"),
        rx.hstack(
            _start_button("health_check", "activity"),
            _start_button("inventory_sync", "boxes"),
            _start_button("compliance_snapshot", "shield_check"),
            spacing="2",
            wrap="wrap",
        ),
        _start_result(),
        spacing="2",
        width="100%",
    )


def _credential() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text("Credential", weight="medium", size="2"),
            rx.hstack(rx.text(S.credential_kind, size="2"), rx.code(S.secret_hint, size="1"), spacing="2",
                      align="center"),
            rx.cond(S.credential_expires != "",
                    rx.text("Expires ", S.credential_expires, size="1", color_scheme="gray",
                            custom_attrs={"data-testid": "credential-expires"}),
                    rx.text("No expiry recorded", size="1", color_scheme="gray")),
            rx.cond(S.credential_warning != "",
                    rx.text(S.credential_warning, size="1", color_scheme="amber",
                            custom_attrs={"data-testid": "credential-warning"})),
            spacing="1",
        ),
        custom_attrs={"data-testid": "credential-card"},
    )


def _health() -> rx.Component:
    return _section(
        "Health",
        rx.hstack(
            rx.vstack(
                rx.cond(S.last_checked != "",
                        rx.text("Last checked ", S.last_checked, size="2",
                                custom_attrs={"data-testid": "last-checked"}),
                        muted("Not checked yet: start a health check to see what this connection may do.",
                              "health-never-checked")),
                rx.cond(S.health_reason_code != "",
                        rx.callout(
                            rx.vstack(rx.code(S.health_reason_code, size="1"), rx.text(S.health_message, size="2"),
                                      rx.cond(S.health_remediation != "",
                                              rx.text(S.health_remediation, size="2", color_scheme="gray")),
                                      spacing="1"),
                            icon="circle_alert", color_scheme="red", width="100%",
                            custom_attrs={"data-testid": "health-reason"})),
                rx.cond(S.organization.length() > 0, detail_list(S.organization, "organization")),
                spacing="2",
                flex="1",
            ),
            _credential(),
            width="100%",
            align="start",
            spacing="4",
            wrap="wrap",
        ),
        warnings_callout(S.health_warnings),
        over_privilege_callout(S.over_privileged),
        rx.cond(S.readiness.length() > 0, readiness_table(S.readiness),
                rx.cond(S.last_checked != "",
                        muted("Readiness per capability is not known: the last health check did not get that far.",
                              "readiness-unknown"))),
        rx.cond(
            S.required_permissions.length() > 0,
            rx.vstack(
                rx.text("Granted vs required permissions", weight="medium", size="2"),
                permissions_table(S.required_permissions),
                spacing="2",
                width="100%",
            ),
        ),
        rx.cond(
            S.permissions_known,
            rx.vstack(
                rx.text("Granted permissions, read from ", S.permission_source, ":", size="2",
                        custom_attrs={"data-testid": "permission-source"}),
                rx.cond(S.granted.length() > 0,
                        rx.flex(rx.foreach(S.granted, lambda p: rx.code(p, size="1", custom_attrs={
                            "data-testid": "granted-permission"})), gap="2", wrap="wrap"),
                        muted("None could be read.", "granted-none")),
                rx.cond(S.permission_note != "", rx.text(S.permission_note, size="1", color_scheme="gray")),
                spacing="2",
                width="100%",
            ),
        ),
        test_id="health-section",
    )


def _kind_card(row: KindRow) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(row.label, size="2", color_scheme="gray"),
            rx.heading(row.active, size="6", custom_attrs={"data-testid": "kind-count"}),
            rx.cond(row.removed > 0, rx.text(row.removed, " removed", size="1", color_scheme="gray")),
            rx.cond(row.last_observed != "", rx.text("Seen ", row.last_observed, size="1", color_scheme="gray")),
            spacing="1",
        ),
        custom_attrs={"data-testid": f"kind-{row.kind}", "data-kind": row.kind, "data-count": row.active},
    )


def _item_row_view(row: ItemRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row.name, size="2")),
        rx.table.cell(rx.text(row.item_type, size="1")),
        rx.table.cell(rx.text(row.state, size="1")),
        rx.table.cell(rx.text(row.last_observed, size="1")),
        rx.table.cell(rx.cond(row.removed != "", rx.text(row.removed, size="1", color_scheme="amber"),
                              rx.text("—", size="1", color_scheme="gray"))),
        custom_attrs={"data-testid": "item-row"},
    )


def _items() -> rx.Component:
    return rx.vstack(
        rx.tabs.root(
            rx.tabs.list(*(rx.tabs.trigger(label, value=str(kind), custom_attrs={"data-testid": f"items-tab-{kind}"})
                           for kind, label in KIND_LABELS.items())),
            value=S.items_kind,
            on_change=S.choose_kind,
            width="100%",
        ),
        rx.hstack(
            rx.form(
                rx.hstack(
                    rx.el.input(type="hidden", name="kind", value=S.items_kind),
                    rx.input(id="items_search", name="search", placeholder="Search by name", max_length=100,
                             size="1", custom_attrs={"data-testid": "items-search"}),
                    rx.button(rx.icon("search", size=12), "Search", size="1", variant="soft", type="submit",
                              custom_attrs={"data-testid": "items-search-submit"}),
                    spacing="2",
                ),
                on_submit=S.search_items,
                reset_on_submit=False,
            ),
            rx.hstack(
                rx.checkbox(checked=S.items_removed, on_change=S.show_removed,
                            custom_attrs={"data-testid": "items-show-removed"}),
                rx.text("Show removed", size="1"),
                align="center",
                spacing="1",
            ),
            align="center",
            spacing="4",
            wrap="wrap",
        ),
        rx.cond(S.items_error != "", rx.text(S.items_error, size="2", color_scheme="red",
                                             custom_attrs={"data-testid": "items-error"})),
        rx.cond(
            S.items.length() > 0,
            rx.table.root(
                rx.table.header(rx.table.row(*(rx.table.column_header_cell(t) for t in
                                               ("Name", "Type", "State", "Last observed", "Removed")))),
                rx.table.body(rx.foreach(S.items, _item_row_view)),
                width="100%",
                size="1",
                variant="surface",
                custom_attrs={"data-testid": "items-table", "data-kind": S.items_kind},
            ),
            muted("Nothing here. Run an inventory sync, or change the search.", "items-empty"),
        ),
        rx.hstack(
            rx.button("Previous", size="1", variant="soft", disabled=S.items_page <= 1, on_click=S.previous_items,
                      custom_attrs={"data-testid": "items-previous"}),
            rx.text("Page ", S.items_page, size="1", color_scheme="gray", custom_attrs={"data-testid": "items-page"}),
            rx.button("Next", size="1", variant="soft", disabled=~S.items_has_next, on_click=S.next_items,
                      custom_attrs={"data-testid": "items-next"}),
            align="center",
            spacing="3",
        ),
        spacing="3",
        width="100%",
    )


def _inventory() -> rx.Component:
    return _section(
        "Inventory",
        rx.grid(rx.foreach(S.kinds, _kind_card), columns=rx.breakpoints(initial="2", md="4"), spacing="3",
                width="100%"),
        rx.cond(
            S.last_sync_run_id != "",
            rx.vstack(
                rx.hstack(
                    rx.text("Last sync", size="2", weight="medium"),
                    BadgeCatalog.badge(BadgeCatalog.RUN_STATUS, S.last_sync_status, test_id="last-sync-status"),
                    rx.link(S.last_sync_finished, href="/runs/" + S.last_sync_run_id, size="1"),
                    align="center",
                    spacing="2",
                ),
                rx.cond(S.last_sync_sections.length() > 0,
                        sections_table(S.last_sync_sections, counts=False, test_id="last-sync-sections")),
                spacing="2",
                width="100%",
            ),
            muted("No inventory sync has finished yet.", "inventory-never-synced"),
        ),
        _items(),
        test_id="inventory-section",
    )


def _chart() -> rx.Component:
    return rx.box(
        rx.recharts.line_chart(
            rx.recharts.cartesian_grid(stroke_dasharray="3 3"),
            rx.recharts.x_axis(data_key="at"),
            rx.recharts.y_axis(allow_decimals=False),
            rx.recharts.graphing_tooltip(),
            rx.recharts.legend(),
            *(rx.recharts.line(data_key=key, name=label, stroke=rx.color(colour, 9), type_="monotone",
                               is_animation_active=False)
              for key, (label, colour) in TREND_SERIES.items()),
            data=S.trend,
            width="100%",
            height=280,
        ),
        width="100%",
        custom_attrs={"data-testid": "compliance-chart", "data-points": S.trend.length()},
    )


def _compliance() -> rx.Component:
    return _section(
        "Compliance trend",
        rx.cond(
            S.trend.length() > 0,
            rx.vstack(
                _chart(),
                rx.text("Latest snapshot ", S.latest_snapshot, " · ", S.trend.length(), " snapshot(s)", size="1",
                        color_scheme="gray"),
                width="100%",
                spacing="2",
            ),
            muted("No compliance snapshots yet: start one to see the trend.", "compliance-empty"),
        ),
        test_id="compliance-section",
    )


def _runs() -> rx.Component:
    return _section(
        "Recent runs",
        run_table(S.runs, muted("No runs of this connection yet.", "runs-empty"), show_connection=False),
        rx.link("All operations →", href="/operations", size="2"),
        test_id="runs-section",
        extra=live_badge(S.has_active),
    )


def connection_detail_page() -> rx.Component:
    return page_frame(
        rx.link("← Connections", href="/connections", size="2"),
        rx.cond(
            S.found,
            rx.vstack(_header(), _health(), _runs(), _inventory(), _compliance(), spacing="6", width="100%",
                      custom_attrs={"data-testid": "connection-detail", "data-connection-id": S.detail_id}),
            rx.cond(S.loaded,
                    rx.callout("Connection not found. It may have been deleted.", icon="search_x",
                               color_scheme="gray", custom_attrs={"data-testid": "connection-not-found"}),
                    rx.text("Loading…", color_scheme="gray")),
        ),
        rx.moment(interval=rx.cond(S.has_active, POLL_MILLISECONDS, 0), on_change=S.poll, display="none"),
    )

