"""/connections: the tenant's Microsoft connections and what can be done with them, plus recent runs (live).

Create (client secret with an optional expiry, or a certificate as a PEM paste or a PFX upload), check,
make default, disable/enable, delete (confirmed), and rotate the credential (the old one stays active until
the verification run succeeds). How the credential forms treat secrets: see ``credentials``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, ClassVar

import reflex as rx

from atlas_app.pages.connections.credentials import (
    CREATE_FORM,
    CREATE_PFX_UPLOAD,
    CREATE_TEXT_INPUTS,
    CREDENTIAL_KINDS,
    ROTATE_FORM,
    ROTATE_PFX_UPLOAD,
    ROTATE_PREFIX,
    chosen_kind,
    form_failure,
    read_credential,
)
from atlas_app.pages.connections.reads import ConnectionRow, Snapshot, read_page
from atlas_app.state.guard import (
    PAGE_DENIED,
    BadArgument,
    choice_arg,
    files_arg,
    flag_arg,
    requires_capability,
    uuid_arg,
)
from atlas_app.state.live import LivePageState
from atlas_app.state.messages import NOT_FOUND, user_message
from atlas_app.state.rows import RunRow
from atlas_app.state.session import FAILED, SessionState
from atlas_jobs.dispatch import rotate_credential, start_for_filter, start_operation
from atlas_services.authz import Actor, Capability
from atlas_services.config import get_settings
from atlas_services.connections import create_connection, delete_connection, get_connection, set_default, set_enabled
from atlas_services.errors import InvalidInput
from atlas_services.fleet import CAPABILITY_FILTERS, CLOUDS, HEALTH_FILTERS, SORTS, FleetFilter, FleetQuery
from atlas_services.runs.bulk import BulkResult

# What "Check connection" tells the user, per outcome of the start gate.
CHECK_OUTCOMES = {
    "started": ("Health check queued.", "success"),
    "deduplicated": ("A health check of this connection is already in progress.", "info"),
    "scope_busy": ("Another operation is running on this Microsoft tenant; try again when it ends.", "error"),
}

ALL = "all"
PAGE_SIZE = 50
EXPIRY_CHOICES = ("7", "30", "90")  # days
INVENTORY_AGE_CHOICES = ("1", "7", "30")  # days
# The count links at the top: each shows the connections it counts (and only that filter).
COUNT_LINKS = ("all", "healthy", "unhealthy", "expiring", "never_checked")


def _days(choice: str) -> int | None:
    return None if choice == ALL else int(choice)


def _chosen(choice: str) -> str | None:
    return None if choice == ALL else choice


def bulk_message(result: BulkResult) -> tuple[str, str]:
    """What "Check all shown" tells the user: how many started, were already running or were busy."""
    parts = [f"{result.started} health check{'s' if result.started != 1 else ''} started",
             f"{result.deduplicated} already in progress", f"{result.busy} busy with another operation"]
    if result.disabled:
        parts.append(f"{result.disabled} disabled (skipped)")
    if result.refused:
        parts.append(f"{result.refused} refused")
    text = f"Checked {result.matched} connection{'s' if result.matched != 1 else ''}: " + " · ".join(parts) + "."
    if result.stopped:
        return (f"{text} The job queue is unavailable, so the other {result.not_tried} were not started; "
                "try again in a moment."), "error"
    return text, "success" if result.started else "info"


class ConnectionsState(LivePageState, SessionState):
    watched_with: ClassVar[Capability] = Capability.PROVIDER_VIEW
    connections: rx.Field[list[ConnectionRow]] = rx.field(default_factory=list)
    runs: rx.Field[list[RunRow]] = rx.field(default_factory=list)
    last_run_id: rx.Field[str] = rx.field("")

    # The create form: which credential kind it shows, and its field error.
    create_kind: rx.Field[str] = rx.field("secret")
    form_field: rx.Field[str] = rx.field("")
    form_error: rx.Field[str] = rx.field("")
    create_guid_warning: rx.Field[bool] = rx.field(False)

    # The rotate dialog.
    rotate_open: rx.Field[bool] = rx.field(False)
    rotate_id: rx.Field[str] = rx.field("")
    rotate_name: rx.Field[str] = rx.field("")
    rotate_kind: rx.Field[str] = rx.field("secret")
    rotate_field: rx.Field[str] = rx.field("")
    rotate_error: rx.Field[str] = rx.field("")
    rotate_guid_warning: rx.Field[bool] = rx.field(False)
    rotation_run_id: rx.Field[str] = rx.field("")

    # The fleet: filters ("all": off), order, page, and what they matched; the counts at the top.
    filter_health: rx.Field[str] = rx.field(ALL)
    filter_cloud: rx.Field[str] = rx.field(ALL)
    filter_expiring: rx.Field[str] = rx.field(ALL)
    filter_inventory: rx.Field[str] = rx.field(ALL)
    filter_failing: rx.Field[str] = rx.field(ALL)
    sort_column: rx.Field[str] = rx.field("name")
    sort_descending: rx.Field[bool] = rx.field(False)
    page_number: rx.Field[int] = rx.field(1)
    page_count: rx.Field[int] = rx.field(1)
    matched: rx.Field[int] = rx.field(0)
    count_total: rx.Field[int] = rx.field(0)
    count_healthy: rx.Field[int] = rx.field(0)
    count_unhealthy: rx.Field[int] = rx.field(0)
    count_expiring: rx.Field[int] = rx.field(0)
    count_never_checked: rx.Field[int] = rx.field(0)
    expiring_days: rx.Field[int] = rx.field(30)
    bulk_running: rx.Field[bool] = rx.field(False)

    # ---- the live page ----

    _read_snapshot = staticmethod(read_page)

    def _position(self) -> FleetQuery:
        """Where the page is: its filters, order and page (the service validates them again)."""
        return FleetQuery(self._filter(), self.sort_column, self.sort_descending, self.page_number, PAGE_SIZE)

    def _filter(self) -> FleetFilter:
        return FleetFilter(health=_chosen(self.filter_health), cloud=_chosen(self.filter_cloud),
                           expiring_within_days=_days(self.filter_expiring),
                           inventory_older_than_days=_days(self.filter_inventory),
                           failing_capability=_chosen(self.filter_failing))

    def _apply(self, snapshot: Snapshot, position: Any) -> None:
        self.connections = snapshot.connections
        self.runs = snapshot.runs
        self.matched, self.page_count = snapshot.matched, snapshot.pages
        counts = snapshot.counts
        self.count_total, self.count_healthy, self.count_unhealthy = counts.total, counts.healthy, counts.unhealthy
        self.count_expiring, self.count_never_checked = counts.expiring, counts.never_checked
        self.expiring_days = counts.expiring_days

    def _has_active(self, snapshot: Snapshot) -> bool:
        return snapshot.has_active

    def _clear_page(self) -> None:
        self.connections, self.runs = [], []
        self.has_active = self.loaded = self.rotate_open = self.bulk_running = False
        self._reset_fleet()

    def _reset_fleet(self) -> None:
        self.filter_health = self.filter_cloud = self.filter_expiring = self.filter_inventory = ALL
        self.filter_failing = ALL
        self.sort_column, self.sort_descending = "name", False
        self.page_number = 1

    async def _first_page(self, actor: Actor) -> None:
        self.page_number = 1
        await self._refresh(actor)

    # ---- private helpers (not callable from the browser) ----

    async def _act(self, actor: Actor, success: str, service: Callable[..., Any], *args: Any) -> None:
        """Run one service call, tell the user how it went, and re-read the page."""
        if await self._call(service, actor, *args) is not FAILED:
            self._say(success, "success")
        await self._refresh(actor)

    def _name_of(self, connection_id: str) -> str:
        return next((row.name for row in self.connections if row.id == connection_id), "the connection")

    # ---- events: reading and acting on a connection ----

    @requires_capability(Capability.PROVIDER_VIEW, denied=PAGE_DENIED)
    async def on_page_load(self, actor: Actor) -> None:
        self.notice = ""
        self._reset_fleet()
        await self._refresh(actor)

    # ---- events: the fleet's filters, order and pages ----

    @requires_capability(Capability.PROVIDER_VIEW, health=choice_arg(ALL, *HEALTH_FILTERS))
    async def filter_by_health(self, actor: Actor, health: Any) -> None:
        self.filter_health = health
        await self._first_page(actor)

    @requires_capability(Capability.PROVIDER_VIEW, cloud=choice_arg(ALL, *CLOUDS))
    async def filter_by_cloud(self, actor: Actor, cloud: Any) -> None:
        self.filter_cloud = cloud
        await self._first_page(actor)

    @requires_capability(Capability.PROVIDER_VIEW, days=choice_arg(ALL, *EXPIRY_CHOICES))
    async def filter_by_expiry(self, actor: Actor, days: Any) -> None:
        self.filter_expiring = days
        await self._first_page(actor)

    @requires_capability(Capability.PROVIDER_VIEW, days=choice_arg(ALL, *INVENTORY_AGE_CHOICES))
    async def filter_by_inventory_age(self, actor: Actor, days: Any) -> None:
        self.filter_inventory = days
        await self._first_page(actor)

    @requires_capability(Capability.PROVIDER_VIEW, failing=choice_arg(ALL, *CAPABILITY_FILTERS))
    async def filter_by_failing(self, actor: Actor, failing: Any) -> None:
        self.filter_failing = failing
        await self._first_page(actor)

    @requires_capability(Capability.PROVIDER_VIEW, count=choice_arg(*COUNT_LINKS))
    async def show_count(self, actor: Actor, count: Any) -> None:
        """A count at the top was clicked: show exactly the connections it counts."""
        self._reset_fleet()
        if count in ("healthy", "unhealthy", "never_checked"):
            self.filter_health = count
        elif count == "expiring":
            self.filter_expiring = str(self.expiring_days) if str(self.expiring_days) in EXPIRY_CHOICES else "30"
        await self._refresh(actor)

    @requires_capability(Capability.PROVIDER_VIEW, column=choice_arg(*SORTS))
    async def sort_by(self, actor: Actor, column: Any) -> None:
        """Order by a column; the same column again reverses the order."""
        self.sort_descending = (not self.sort_descending) if column == self.sort_column else False
        self.sort_column = column
        await self._first_page(actor)

    @requires_capability(Capability.PROVIDER_VIEW)
    async def next_page(self, actor: Actor) -> None:
        if self.page_number < self.page_count:
            self.page_number += 1
            await self._refresh(actor)

    @requires_capability(Capability.PROVIDER_VIEW)
    async def previous_page(self, actor: Actor) -> None:
        if self.page_number > 1:
            self.page_number -= 1
            await self._refresh(actor)

    @requires_capability(Capability.PROVIDER_RUN, background=True)
    async def check_all_shown(self, actor: Actor) -> None:
        """Start a health check on every connection the filters match (read on the server, never ids from the
        browser), each through the start gate; say how many started, were already running or were busy.
        A background event: a large fleet takes a few seconds, and the tab's state is not held meanwhile."""
        async with self:
            if self.bulk_running:
                return
            self.bulk_running = True
            fleet_filter = self._filter()
        try:
            result, failure = await asyncio.to_thread(start_for_filter, actor, "health_check", fleet_filter), None
        except Exception as exc:  # noqa: BLE001 - translated for the user
            result, failure = None, exc
        async with self:
            self.bulk_running = False
            if result is not None:
                self._say(*bulk_message(result))
            elif failure is not None:
                self._say(user_message(failure), "error")
            await self._refresh(actor)

    @requires_capability(Capability.PROVIDER_RUN, connection_id=uuid_arg)
    async def check_connection(self, actor: Actor, connection_id: Any) -> None:
        """Start a health check on one connection: writes a run row and enqueues it, nothing more."""
        result = await self._call(start_operation, actor, "health_check", connection_id)
        if result is not FAILED:
            self.last_run_id = str(result.active_run_id or result.run_id)
            self._say(*CHECK_OUTCOMES.get(result.outcome, CHECK_OUTCOMES["scope_busy"]))
        await self._refresh(actor)  # a run that could not be enqueued is shown as failed

    @requires_capability(Capability.PROVIDER_MANAGE, connection_id=uuid_arg)
    async def make_default(self, actor: Actor, connection_id: Any) -> None:
        name = self._name_of(connection_id)
        await self._act(actor, f"'{name}' is now the default connection.", set_default, connection_id)

    @requires_capability(Capability.PROVIDER_MANAGE, connection_id=uuid_arg, enabled=flag_arg)
    async def change_enabled(self, actor: Actor, connection_id: Any, enabled: Any) -> None:
        name = self._name_of(connection_id)
        done = (f"'{name}' is enabled." if enabled
                else f"'{name}' is disabled: no new runs start on it until it is enabled again.")
        await self._act(actor, done, set_enabled, connection_id, enabled)

    @requires_capability(Capability.PROVIDER_MANAGE, connection_id=uuid_arg)
    async def delete_connection(self, actor: Actor, connection_id: Any) -> None:
        name = self._name_of(connection_id)
        await self._act(actor, f"'{name}' was deleted; its credentials are destroyed, its run history stays.",
                        delete_connection, connection_id)

    # ---- events: the create form ----

    @requires_capability(Capability.PROVIDER_MANAGE, kind=choice_arg(*CREDENTIAL_KINDS))
    async def choose_create_kind(self, actor: Actor, kind: Any) -> None:
        self.create_kind = kind
        self.form_field, self.form_error = "", ""

    @requires_capability(Capability.PROVIDER_MANAGE, files=files_arg(1), form_data=CREATE_FORM)
    async def create_connection(self, actor: Actor, files: list[rx.UploadFile], form_data: Any) -> Any:
        """Create a connection. The credential goes straight to the service and is not kept."""
        kind, form = chosen_kind(form_data["credential_kind"]), form_data
        self.form_field, self.form_error = "", ""
        try:
            credential = await read_credential(kind, files, form)
            view = await asyncio.to_thread(
                create_connection, actor, name=form["name"], entra_tenant_id=form["entra_tenant_id"],
                client_id=form["client_id"], credential=credential, cloud=form["cloud"] or get_settings().default_cloud,
                make_default=True if form["make_default"] else None)
        except Exception as exc:  # noqa: BLE001 - shown on the form, translated for the user
            self.form_field, self.form_error, guid = form_failure(exc, kind, form["client_secret"])
            self.create_guid_warning = self.create_guid_warning or guid
            return None
        self.create_guid_warning = False
        self._say(" ".join((f"Connection '{view.name}' created.", *view.notices)), "success")
        await self._refresh(actor)
        return [*(rx.set_value(key, "") for key in CREATE_TEXT_INPUTS),
                *([rx.clear_selected_files(CREATE_PFX_UPLOAD)] if files else [])]

    # ---- events: the rotate dialog ----

    @requires_capability(Capability.PROVIDER_MANAGE, connection_id=uuid_arg)
    async def open_rotation(self, actor: Actor, connection_id: Any) -> None:
        view = await self._call(get_connection, actor, connection_id)
        if view is FAILED:
            return
        self.rotate_id, self.rotate_name = str(view.id), view.name
        self.rotate_kind, self.rotate_field, self.rotate_error = "secret", "", ""
        self.rotate_guid_warning = False
        self.rotate_open = True

    @requires_capability(Capability.PROVIDER_MANAGE, is_open=flag_arg)
    async def rotation_dialog(self, actor: Actor, is_open: Any) -> None:
        """The dialog asks to open or close itself (Escape, the close button): only closing is honoured here."""
        if not is_open:
            self.rotate_open = False

    @requires_capability(Capability.PROVIDER_MANAGE, kind=choice_arg(*CREDENTIAL_KINDS))
    async def choose_rotate_kind(self, actor: Actor, kind: Any) -> None:
        self.rotate_kind = kind
        self.rotate_field, self.rotate_error = "", ""

    @requires_capability(Capability.PROVIDER_MANAGE, files=files_arg(1), form_data=ROTATE_FORM)
    async def rotate_credential(self, actor: Actor, files: list[rx.UploadFile], form_data: Any) -> Any:
        """Add a new credential and start the health check that decides whether it replaces the current one."""
        kind = chosen_kind(form_data["credential_kind"])
        self.rotate_field, self.rotate_error = "", ""
        try:
            connection_id = uuid_arg(form_data["connection_id"])
            credential = await read_credential(kind, files, form_data, ROTATE_PREFIX)
            started = await asyncio.to_thread(rotate_credential, actor, connection_id, credential)
        except BadArgument:  # a forged or stale form: the same answer as for an unknown connection
            self.rotate_error = NOT_FOUND
            return None
        except Exception as exc:  # noqa: BLE001 - shown on the form, translated for the user
            self.rotate_field, self.rotate_error, guid = form_failure(exc, kind, form_data["rotate_client_secret"])
            self.rotate_guid_warning = self.rotate_guid_warning or guid
            if not isinstance(exc, InvalidInput):
                await self._refresh(actor)
            return None
        self._rotation_started(str(started.run_id), started.notices)
        await self._refresh(actor)
        return [rx.clear_selected_files(ROTATE_PFX_UPLOAD)] if files else None

    def _rotation_started(self, run_id: str, notices: tuple[str, ...]) -> None:
        self.rotate_open = self.rotate_guid_warning = False
        self.rotation_run_id = self.last_run_id = run_id
        self._say(" ".join((f"New credential for '{self.rotate_name}' added. It is being verified by a health "
                            "check; the current credential stays active until that check succeeds.",
                            *notices)), "success")
