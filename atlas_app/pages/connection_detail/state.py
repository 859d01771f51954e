"""/connections/[connection_id]: one connection: health per capability, granted vs required permissions, its
credential, recent runs (live), inventory per kind with a small paged item table, and the compliance trend.

The id comes from the URL (the browser's: it is checked like any argument). Another tenant's connection and one
that does not exist look the same. While one of the connection's runs is active the page polls. Operations are
started here the same way as on /connections: a run row is written and its id enqueued.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any, ClassVar

import reflex as rx

from atlas_app.pages.connection_detail.onboarding import (
    AppCredentialRow,
    MissingRow,
    NeedRow,
    app_credential_rows,
    listed_at,
    missing_rows,
    need_rows,
)
from atlas_app.pages.connection_detail.reads import (
    DEFAULT_KIND,
    KINDS,
    Detail,
    ItemQuery,
    ItemRow,
    KindRow,
    Position,
    connection_id_from_path,
    item_row,
    read_detail,
    read_items,
    trend_point,
)
from atlas_app.pages.connection_detail.schedule import (
    SCHEDULABLE_OPS,
    SCHEDULE_FORM,
    ScheduleRow,
    schedule_arguments,
    schedule_rows,
)
from atlas_app.state.guard import (
    INVALID,
    PAGE_DENIED,
    choice_arg,
    flag_arg,
    form_arg,
    requires_capability,
    text_field,
    uuid_arg,
)
from atlas_app.state.live import LivePageState
from atlas_app.state.messages import user_message, when
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
    section_rows,
)
from atlas_app.state.session import FAILED, SessionState
from atlas_jobs.dispatch import start_operation
from atlas_services.authz import Actor, Capability
from atlas_services.connection_health import ConnectionHealthView
from atlas_services.errors import InvalidInput, NotFound
from atlas_services.inventory import InventoryOverview, InventoryPage
from atlas_services.runs.types import AVAILABLE
from atlas_services.schedules.manage import clear_schedule, set_schedule

# The operations a connection page can start (each is provider.run, and each one's worker exists).
STARTABLE = AVAILABLE
# The search form names the kind it searches (a hidden input) next to the text.
SEARCH_FORM = form_arg(kind=text_field("Kind", 40), search=text_field("Search", 100))


class ConnectionDetailState(LivePageState, SessionState):
    watched_with: ClassVar[Capability] = Capability.PROVIDER_VIEW

    found: rx.Field[bool] = rx.field(False)
    detail_id: rx.Field[str] = rx.field("")
    name: rx.Field[str] = rx.field("")
    cloud: rx.Field[str] = rx.field("")
    entra_tenant_id: rx.Field[str] = rx.field("")
    client_id: rx.Field[str] = rx.field("")
    enabled: rx.Field[bool] = rx.field(True)
    is_default: rx.Field[bool] = rx.field(False)

    # Health: the last health check's findings.
    health_status: rx.Field[str] = rx.field("unknown")
    health_reason_code: rx.Field[str] = rx.field("")
    health_message: rx.Field[str] = rx.field("")
    health_remediation: rx.Field[str] = rx.field("")
    last_checked: rx.Field[str] = rx.field("")
    organization: rx.Field[list[DetailItem]] = rx.field(default_factory=list)
    readiness: rx.Field[list[ReadinessRow]] = rx.field(default_factory=list)
    permissions_known: rx.Field[bool] = rx.field(False)  # a health check recorded which permissions are granted
    permission_source: rx.Field[str] = rx.field("")
    permission_note: rx.Field[str] = rx.field("")
    granted: rx.Field[list[str]] = rx.field(default_factory=list)
    required_permissions: rx.Field[list[PermissionRow]] = rx.field(default_factory=list)
    over_privileged: rx.Field[list[OverPrivilegeRow]] = rx.field(default_factory=list)
    health_warnings: rx.Field[list[str]] = rx.field(default_factory=list)

    # The active credential (hints only).
    credential_kind: rx.Field[str] = rx.field("")
    secret_hint: rx.Field[str] = rx.field("")
    credential_expires: rx.Field[str] = rx.field("")
    credential_warning: rx.Field[str] = rx.field("")
    credential_expiry_note: rx.Field[str] = rx.field("")  # where the date came from
    app_credentials: rx.Field[list[AppCredentialRow]] = rx.field(default_factory=list)
    app_credentials_at: rx.Field[str] = rx.field("")

    # Onboarding: consent URL, manifest, what is still missing after consent (nothing secret).
    consent_url: rx.Field[str] = rx.field("")
    manifest: rx.Field[str] = rx.field("")
    permission_needs: rx.Field[list[NeedRow]] = rx.field(default_factory=list)
    missing_permissions: rx.Field[list[MissingRow]] = rx.field(default_factory=list)

    runs: rx.Field[list[RunRow]] = rx.field(default_factory=list)
    schedules: rx.Field[list[ScheduleRow]] = rx.field(default_factory=list)
    schedule_error: rx.Field[str] = rx.field("")

    # Inventory: counts per kind, the last sync, one page of one kind's items.
    kinds: rx.Field[list[KindRow]] = rx.field(default_factory=list)
    last_sync_status: rx.Field[str] = rx.field("")
    last_sync_run_id: rx.Field[str] = rx.field("")
    last_sync_finished: rx.Field[str] = rx.field("")
    last_sync_sections: rx.Field[list[SectionRow]] = rx.field(default_factory=list)
    items_kind: rx.Field[str] = rx.field(DEFAULT_KIND)
    items_search: rx.Field[str] = rx.field("")
    items_removed: rx.Field[bool] = rx.field(False)
    items: rx.Field[list[ItemRow]] = rx.field(default_factory=list)
    items_page: rx.Field[int] = rx.field(1)
    items_has_next: rx.Field[bool] = rx.field(False)
    items_error: rx.Field[str] = rx.field("")

    # Compliance: one point per snapshot, oldest first.
    trend: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)  # TrendPoint fields (recharts: dicts)
    latest_snapshot: rx.Field[str] = rx.field("")

    # What the last start button did: started | deduplicated | scope_busy (with the run it is about).
    start_outcome: rx.Field[str] = rx.field("")
    start_label: rx.Field[str] = rx.field("")
    start_run_id: rx.Field[str] = rx.field("")

    # Backend only: the cursors of the item pages before the one shown (and of the next one).
    _item_cursors: list[str] = []
    _next_cursor: str = ""

    # ---- the live page ----

    _read_snapshot = staticmethod(read_detail)

    def _position(self) -> Position:
        return (self.detail_id or None, self._query())

    def _poll_position(self) -> Position | None:
        return self._position() if self.has_active and self.detail_id else None

    def _still_showing(self, position: Position) -> bool:
        return position[0] == self.detail_id

    def _apply(self, snapshot: Detail | None, position: Position) -> None:
        # When the item table changed while a poll read, keep the one the user asked for.
        self._show_detail(snapshot, with_items=position[1] == self._query())

    def _has_active(self, snapshot: Detail | None) -> bool:
        return snapshot is not None and any(row.active for row in snapshot.runs)

    async def _reload(self, actor: Actor, connection_id: str | None) -> None:
        """Re-read the whole page for ``connection_id`` (nothing found for None)."""
        await self._load(actor, (connection_id, self._query()))

    def _clear_page(self) -> None:
        self._show_detail(None)
        self.has_active = self.loaded = False
        self._reset_items()
        self._clear_start()

    # ---- private helpers ----

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
        self.items = [item_row(item) for item in page.items] if page else []
        self._next_cursor = (page.next_cursor or "") if page else ""
        self.items_has_next = bool(self._next_cursor)

    def _show_detail(self, detail: Detail | None, *, with_items: bool = True) -> None:
        """Everything from one read (or nothing: not found, or signed out)."""
        self.found = detail is not None
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
        self.schedules = schedule_rows(detail.schedules) if detail else []
        self._show_inventory(detail.overview if detail else None)
        if with_items or detail is None:
            self._show_items(detail.items if detail else None)
        history = detail.history if detail else []
        self.trend = [dataclasses.asdict(trend_point(snapshot)) for snapshot in history]
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
        self.credential_expiry_note = (health.credential_expiry_note or "") if health else ""
        self.app_credentials, self.app_credentials_at = app_credential_rows(health), listed_at(health)
        self.consent_url = health.onboarding.consent_url if health else ""
        self.manifest = health.onboarding.manifest if health else ""
        self.permission_needs, self.missing_permissions = need_rows(health), missing_rows(health)

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

    async def _reload_items(self, actor: Actor) -> bool:
        """Re-read the item table alone (after a change of kind, search, filter or page).

        False when the connection is not visible (any more): the page then shows "not found". Other failures
        are shown above the table, not as the page's notice.
        """
        self.items_error = ""
        if not self.detail_id:
            self._show_items(None)
            return True
        try:
            page = await asyncio.to_thread(read_items, actor, self.detail_id, self._query())
        except NotFound:
            self._show(None, (None, self._query()))
            self._reset_items()
            return False
        except Exception as exc:  # noqa: BLE001 - translated for the user
            self.items_error = user_message(exc)
            page = None
        self._show_items(page)
        return True

    # ---- events: reading ----

    @requires_capability(Capability.PROVIDER_VIEW, denied=PAGE_DENIED)
    async def on_page_load(self, actor: Actor) -> None:
        self.notice = ""
        self._reset_items()
        self._clear_start()
        await self._reload(actor, connection_id_from_path(self.router.url.path))

    # ---- events: the item table ----

    @requires_capability(Capability.PROVIDER_VIEW, kind=choice_arg(*KINDS))
    async def choose_kind(self, actor: Actor, kind: Any) -> None:
        self._reset_items(kind)
        await self._reload_items(actor)

    @requires_capability(Capability.PROVIDER_VIEW, form_data=SEARCH_FORM)
    async def search_items(self, actor: Actor, form_data: Any) -> None:
        if form_data["kind"] not in KINDS:
            self.items_error = INVALID
            return
        self.items_kind = form_data["kind"]
        self.items_search = form_data["search"].strip()
        self.items_page, self._item_cursors = 1, []
        await self._reload_items(actor)

    @requires_capability(Capability.PROVIDER_VIEW, include=flag_arg)
    async def show_removed(self, actor: Actor, include: Any) -> None:
        self.items_removed = include
        self.items_page, self._item_cursors = 1, []
        await self._reload_items(actor)

    @requires_capability(Capability.PROVIDER_VIEW)
    async def next_items(self, actor: Actor) -> None:
        if not self._next_cursor:
            return
        self._item_cursors = [*self._item_cursors, self._next_cursor]
        self.items_page += 1
        await self._reload_items(actor)

    @requires_capability(Capability.PROVIDER_VIEW)
    async def previous_items(self, actor: Actor) -> None:
        if not self._item_cursors:
            return
        self._item_cursors = self._item_cursors[:-1]
        self.items_page = max(1, self.items_page - 1)
        await self._reload_items(actor)

    # ---- events: starting an operation ----

    @requires_capability(Capability.PROVIDER_RUN, connection_id=uuid_arg, op_type=choice_arg(*STARTABLE))
    async def start_operation(self, actor: Actor, connection_id: Any, op_type: Any) -> None:
        """Start an operation on the connection: writes a run row and enqueues its id, nothing more."""
        self._clear_start()
        result = await self._call(start_operation, actor, op_type, connection_id)
        if result is not FAILED:
            self.notice = ""
            self.start_outcome, self.start_label = result.outcome, op_label(op_type)
            # For scope_busy the run is the other operation's (the one holding the scope).
            self.start_run_id = str(result.active_run_id or result.run_id)
        if self.detail_id:  # a run that could not be enqueued shows as failed
            await self._reload(actor, self.detail_id)

    # ---- events: schedules ----

    @requires_capability(Capability.PROVIDER_MANAGE, form_data=SCHEDULE_FORM)
    async def save_schedule(self, actor: Actor, form_data: Any) -> None:
        """Schedule an operation of the connection shown (the service checks every value and the connection)."""
        self.schedule_error = ""
        if form_data["op_type"] not in SCHEDULABLE_OPS or form_data["kind"] not in ("every", "daily"):
            self.schedule_error = INVALID
            return
        try:
            await asyncio.to_thread(set_schedule, actor, self.detail_id, form_data["op_type"],
                                    **schedule_arguments(form_data))
        except InvalidInput as exc:  # shown beside the form: which value is wrong, and why
            self.schedule_error = str(exc)
        except Exception as exc:  # noqa: BLE001 - translated for the user
            self.schedule_error = user_message(exc)
        await self._reload(actor, self.detail_id or None)

    @requires_capability(Capability.PROVIDER_MANAGE, op_type=choice_arg(*SCHEDULABLE_OPS))
    async def clear_schedule(self, actor: Actor, op_type: Any) -> None:
        self.schedule_error = ""
        if await self._call(clear_schedule, actor, self.detail_id, op_type) is not FAILED:
            self.notice = ""
        await self._reload(actor, self.detail_id or None)
