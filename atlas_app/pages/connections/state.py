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
from atlas_app.state.messages import NOT_FOUND
from atlas_app.state.rows import RunRow
from atlas_app.state.session import FAILED, SessionState
from atlas_jobs.dispatch import rotate_credential, start_operation
from atlas_services.authz import Actor, Capability
from atlas_services.config import get_settings
from atlas_services.connections import create_connection, delete_connection, get_connection, set_default, set_enabled
from atlas_services.errors import InvalidInput

# What "Check connection" tells the user, per outcome of the start gate.
CHECK_OUTCOMES = {
    "started": ("Health check queued.", "success"),
    "deduplicated": ("A health check of this connection is already in progress.", "info"),
    "scope_busy": ("Another operation is running on this Microsoft tenant; try again when it ends.", "error"),
}


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

    # ---- the live page ----

    _read_snapshot = staticmethod(read_page)

    def _apply(self, snapshot: Snapshot, position: Any) -> None:
        self.connections = snapshot.connections
        self.runs = snapshot.runs

    def _has_active(self, snapshot: Snapshot) -> bool:
        return snapshot.has_active

    def _clear_page(self) -> None:
        self.connections, self.runs = [], []
        self.has_active = self.loaded = self.rotate_open = False

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
