"""/connections: the tenant's Microsoft connections, creating one, checking one, and recent runs (live)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import reflex as rx

from atlas_app.components.badges import BadgeCatalog
from atlas_app.components.layout import page_frame
from atlas_app.state.session import LOGIN_ROUTE, SessionState
from atlas_jobs.dispatch import start_operation
from atlas_services.authz import Actor
from atlas_services.connections import (
    ConnectionView,
    create_connection,
    list_connections,
)
from atlas_services.errors import (
    AtlasError,
    Forbidden,
    InvalidInput,
    NotFound,
    ProviderError,
)
from atlas_services.operations import RunView, has_active_runs, list_runs
from atlas_services.secrets import SecretValue

log = logging.getLogger(__name__)

ROUTE = "/connections"
POLL_MILLISECONDS = 2000
RUN_LIMIT = 20
# A poll older than this is taken as lost (its worker died), so polling can resume.
POLL_STALE_SECONDS = 15.0

CLOUDS = ["simulator", "global", "usgov", "usgov_dod", "china"]
FORM_FIELDS = ("name", "entra_tenant_id", "client_id", "client_secret", "cloud")
MAX_FIELD_LENGTH = 1024
OP_LABELS = {
    "health_check": "Health check",
    "inventory_sync": "Inventory sync",
    "compliance_snapshot": "Compliance snapshot",
}


@dataclasses.dataclass
class ConnectionRow:
    id: str = ""
    name: str = ""
    cloud: str = ""
    entra_tenant_id: str = ""
    client_id: str = ""
    is_default: bool = False
    enabled: bool = True
    health_status: str = "unknown"
    health_reason_code: str = ""
    last_checked: str = ""
    secret_hint: str = ""


@dataclasses.dataclass
class RunRow:
    id: str = ""
    op_label: str = ""
    status: str = ""
    connection_name: str = ""
    reason_code: str = ""
    message: str = ""
    remediation: str = ""
    created: str = ""
    finished: str = ""


def _when(moment: datetime | None) -> str:
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _connection_row(view: ConnectionView) -> ConnectionRow:
    return ConnectionRow(
        id=str(view.id), name=view.name, cloud=str(view.cloud), entra_tenant_id=str(view.entra_tenant_id),
        client_id=str(view.client_id), is_default=view.is_default, enabled=view.enabled,
        health_status=str(view.health_status), health_reason_code=view.health_reason_code or "",
        last_checked=_when(view.last_checked_at),
        secret_hint=view.secret_hint)


def _run_row(view: RunView) -> RunRow:
    return RunRow(
        id=str(view.id), op_label=OP_LABELS.get(view.op_type, view.op_type), status=str(view.status),
        connection_name=view.connection_name, reason_code=view.reason_code or "", message=view.message or "",
        remediation=view.remediation or "", created=_when(view.created_at), finished=_when(view.finished_at))


@dataclasses.dataclass(frozen=True)
class _Snapshot:
    connections: list[ConnectionRow]
    runs: list[RunRow]
    has_active: bool


def _read_page(actor: Actor) -> _Snapshot:
    """Everything the page shows, from PostgreSQL only (blocking: call in a thread)."""
    return _Snapshot(
        connections=[_connection_row(v) for v in list_connections(actor)],
        runs=[_run_row(v) for v in list_runs(actor, limit=RUN_LIMIT)],
        has_active=has_active_runs(actor),
    )


def _user_message(exc: Exception) -> str:
    """A user-safe sentence for an error; raw exception text of unexpected errors is never shown."""
    if isinstance(exc, ProviderError):
        return f"{exc.detail} {exc.remediation}".strip() if exc.remediation else exc.detail
    if isinstance(exc, Forbidden):
        return "You do not have permission to do that."
    if isinstance(exc, NotFound):
        return "That item was not found. It may have been removed."
    if isinstance(exc, AtlasError):
        return str(exc)
    log.error("unexpected error in the connections page: %s", type(exc).__name__)
    return "Something went wrong. Try again in a moment."


def _parse_uuid(value: Any) -> str | None:
    """The canonical form of a UUID given as a string, or None for anything else."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


class ConnectionsState(SessionState):
    connections: list[ConnectionRow] = rx.field(default_factory=list)
    runs: list[RunRow] = rx.field(default_factory=list)
    has_active: bool = False
    loaded: bool = False

    notice: str = ""
    notice_kind: str = "info"  # info | success | error
    last_run_id: str = ""

    form_field: str = ""
    form_error: str = ""

    _poll_started_at: float = 0.0

    # ---- private helpers (not callable from the browser) ----

    def _apply(self, snapshot: _Snapshot) -> None:
        self.connections = snapshot.connections
        self.runs = snapshot.runs
        self.has_active = snapshot.has_active
        self.loaded = True

    def _say(self, message: str, kind: str = "info") -> None:
        self.notice = message
        self.notice_kind = kind

    def _signed_out(self) -> Any:
        self._forget_actor()
        self.connections = []
        self.runs = []
        self.has_active = False
        return rx.redirect(LOGIN_ROUTE)

    async def _refresh(self, actor: Actor) -> None:
        try:
            snapshot = await asyncio.to_thread(_read_page, actor)
        except Exception as exc:  # noqa: BLE001 - translated for the user
            self._say(_user_message(exc), "error")
            self.has_active = False
            return
        self._apply(snapshot)

    # ---- events ----

    @rx.event
    async def on_page_load(self):
        actor = await self._actor()
        if actor is None:
            return self._signed_out()
        await self._refresh(actor)
        return None

    @rx.event(background=True, temporal=True)
    async def poll(self, _tick: Any = None):
        """Timer tick from the browser while runs are active: re-read the page's rows (never Microsoft)."""
        async with self:
            now = time.time()
            if 0 <= now - self._poll_started_at < POLL_STALE_SECONDS:
                return None  # the previous tick is still reading
            actor = await self._actor()
            if actor is None:
                return self._signed_out()
            self._poll_started_at = now
        try:
            snapshot: _Snapshot | None = await asyncio.to_thread(_read_page, actor)
            failure = ""
        except Exception as exc:  # noqa: BLE001 - translated for the user
            snapshot, failure = None, _user_message(exc)
        async with self:
            self._poll_started_at = 0.0
            if snapshot is not None:
                self._apply(snapshot)
            else:
                self._say(failure, "error")
                self.has_active = False
        return None

    @rx.event
    async def check_connection(self, connection_id: Any):
        """Start a health check on one connection: writes a run row and enqueues it, nothing more."""
        actor = await self._actor()
        if actor is None:
            return self._signed_out()
        clean_id = _parse_uuid(connection_id)
        if clean_id is None:
            self._say("That connection was not found.", "error")
            return None
        try:
            result = await asyncio.to_thread(start_operation, actor, "health_check", clean_id)
        except Exception as exc:  # noqa: BLE001 - translated for the user
            self._say(_user_message(exc), "error")
            await self._refresh(actor)  # a run that could not be enqueued is shown as failed
            return None
        if result.outcome == "started":
            self.last_run_id = str(result.run_id)
            self._say("Health check queued.", "success")
        elif result.outcome == "deduplicated":
            self.last_run_id = str(result.run_id)
            self._say("A health check of this connection is already in progress.", "info")
        else:
            self.last_run_id = str(result.active_run_id or result.run_id)
            self._say("Another operation is running on this Microsoft tenant; try again when it ends.", "error")
        await self._refresh(actor)
        return None

    @rx.event
    async def create_connection(self, form_data: dict[str, Any]):
        """Create a connection from the form. The secret goes straight to the service and is not kept."""
        # Take the secret out first, whatever else is wrong, so it is never stored or echoed.
        raw_secret = form_data.pop("client_secret", None) if isinstance(form_data, dict) else None
        secret = SecretValue(raw_secret) if isinstance(raw_secret, str) else None
        clear_secret = rx.set_value("client_secret", "")
        actor = await self._actor()
        if actor is None:
            return [clear_secret, self._signed_out()]
        fields: dict[str, str] = {}
        if isinstance(form_data, Mapping):
            for key in FORM_FIELDS:
                value = form_data.get(key, "")
                if isinstance(value, str) and len(value) <= MAX_FIELD_LENGTH:
                    fields[key] = value
        self.form_field, self.form_error = "", ""
        if secret is None:
            self.form_field, self.form_error = "client_secret", "The client secret is required"
            return clear_secret
        try:
            view = await asyncio.to_thread(
                create_connection, actor, name=fields.get("name", ""),
                entra_tenant_id=fields.get("entra_tenant_id", ""), client_id=fields.get("client_id", ""),
                client_secret=secret, cloud=fields.get("cloud") or "simulator")
        except InvalidInput as exc:
            self.form_field = exc.field if exc.field in FORM_FIELDS else ""
            self.form_error = str(exc)
            return clear_secret
        except Exception as exc:  # noqa: BLE001 - translated for the user
            self.form_error = _user_message(exc)
            return clear_secret
        self._say(f"Connection '{view.name}' created.", "success")
        await self._refresh(actor)
        return [clear_secret, *(rx.set_value(key, "") for key in ("name", "entra_tenant_id", "client_id"))]

    @rx.event
    async def dismiss_notice(self):
        if await self._actor() is None:
            return self._signed_out()
        self.notice = ""
        return None


# ---------------------------------------------------------------- view


def _notice() -> rx.Component:
    return rx.cond(
        ConnectionsState.notice != "",
        rx.hstack(
            rx.callout(
                ConnectionsState.notice,
                icon=rx.match(ConnectionsState.notice_kind, ("error", "triangle_alert"), ("success", "circle_check"),
                              "info"),
                color_scheme=rx.match(ConnectionsState.notice_kind, ("error", "red"), ("success", "green"), "blue"),
                width="100%",
                custom_attrs={"data-testid": "notice", "data-kind": ConnectionsState.notice_kind},
            ),
            rx.icon_button(rx.icon("x", size=14), variant="ghost", size="2", on_click=ConnectionsState.dismiss_notice,
                           aria_label="Dismiss", custom_attrs={"data-testid": "notice-dismiss"}),
            width="100%",
            align="center",
        ),
    )


def _connection_row_view(row: ConnectionRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.hstack(
                rx.text(row.name, weight="medium"),
                rx.cond(row.is_default, rx.badge("Default", variant="outline", color_scheme="blue")),
                rx.cond(~row.enabled, rx.badge("Disabled", variant="outline", color_scheme="gray")),
                align="center",
            ),
        ),
        rx.table.cell(rx.code(row.cloud)),
        rx.table.cell(rx.text(row.entra_tenant_id, size="1", font_family="monospace")),
        rx.table.cell(rx.text(row.client_id, size="1", font_family="monospace")),
        rx.table.cell(rx.text(row.secret_hint, size="1", font_family="monospace")),
        rx.table.cell(
            rx.vstack(
                BadgeCatalog.badge(BadgeCatalog.HEALTH_STATUS, row.health_status,
                                   test_id=f"connection-health-{row.id}"),
                rx.cond(row.health_reason_code != "", rx.code(row.health_reason_code, size="1")),
                rx.cond(row.last_checked != "", rx.text(row.last_checked, size="1", color_scheme="gray")),
                spacing="1",
            ),
        ),
        rx.table.cell(
            rx.button(
                rx.icon("activity", size=14), "Check connection",
                size="1",
                variant="soft",
                white_space="nowrap",
                disabled=~ConnectionsState.can_run | ~row.enabled,
                on_click=ConnectionsState.check_connection(row.id),
                custom_attrs={"data-testid": "check-connection", "data-connection-id": row.id,
                              "data-connection-name": row.name},
            ),
        ),
        custom_attrs={"data-testid": "connection-row", "data-connection-id": row.id},
    )


def _connections_table() -> rx.Component:
    return rx.cond(
        ConnectionsState.connections.length() > 0,
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *(rx.table.column_header_cell(title) for title in
                      ("Name", "Cloud", "Entra tenant", "Client id", "Secret", "Health", "")),
                ),
            ),
            rx.table.body(rx.foreach(ConnectionsState.connections, _connection_row_view)),
            width="100%",
            variant="surface",
            custom_attrs={"data-testid": "connections-table"},
        ),
        rx.cond(
            ConnectionsState.loaded,
            rx.card(
                rx.vstack(
                    rx.icon("plug", size=28, color="var(--gray-9)"),
                    rx.text("No Microsoft connections yet.", weight="medium"),
                    rx.text("Connect a customer tenant with its app registration to start checking it.",
                            size="2", color_scheme="gray"),
                    align="center",
                    spacing="2",
                ),
                width="100%",
                custom_attrs={"data-testid": "connections-empty"},
            ),
            rx.text("Loading…", color_scheme="gray"),
        ),
    )


def _field_error(field: str) -> rx.Component:
    return rx.cond(
        ConnectionsState.form_field == field,
        rx.text(ConnectionsState.form_error, size="1", color_scheme="red",
                custom_attrs={"data-testid": f"form-error-{field}"}),
    )


def _labelled(label: str, field: str, control: rx.Component) -> rx.Component:
    return rx.vstack(
        rx.el.label(rx.text(label, size="2", weight="medium"), html_for=field),
        control,
        _field_error(field),
        spacing="1",
        width="100%",
    )


def _create_form() -> rx.Component:
    return rx.card(
        rx.heading("Connect a Microsoft tenant", size="4", margin_bottom="0.75em"),
        rx.form(
            rx.vstack(
                rx.grid(
                    _labelled("Name", "name", rx.input(id="name", name="name", required=True, max_length=120,
                                                       placeholder="Contoso production", width="100%")),
                    _labelled("Cloud", "cloud", rx.select(CLOUDS, name="cloud", default_value="simulator")),
                    _labelled("Entra tenant id", "entra_tenant_id",
                              rx.input(id="entra_tenant_id", name="entra_tenant_id", required=True,
                                       placeholder="00000000-0000-0000-0000-000000000000", width="100%")),
                    _labelled("Client id", "client_id",
                              rx.input(id="client_id", name="client_id", required=True,
                                       placeholder="00000000-0000-0000-0000-000000000000", width="100%")),
                    _labelled("Client secret", "client_secret",
                              rx.input(id="client_secret", name="client_secret", type="password", required=True,
                                       auto_complete="new-password", width="100%")),
                    columns="2",
                    spacing="3",
                    width="100%",
                ),
                rx.cond(
                    (ConnectionsState.form_error != "") & (ConnectionsState.form_field == ""),
                    rx.text(ConnectionsState.form_error, size="2", color_scheme="red",
                            custom_attrs={"data-testid": "form-error"}),
                ),
                rx.button("Create connection", type="submit",
                          custom_attrs={"data-testid": "create-connection"}),
                spacing="3",
                width="100%",
            ),
            on_submit=ConnectionsState.create_connection,
            reset_on_submit=False,
            id="create-connection-form",
        ),
        width="100%",
    )


def _run_row_view(row: RunRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(BadgeCatalog.badge(BadgeCatalog.RUN_STATUS, row.status, test_id=f"run-status-{row.id}")),
        rx.table.cell(row.op_label),
        rx.table.cell(row.connection_name),
        rx.table.cell(
            rx.cond(
                row.reason_code != "",
                rx.vstack(
                    rx.code(row.reason_code, size="1"),
                    rx.text(row.message, size="1"),
                    rx.cond(row.remediation != "", rx.text(row.remediation, size="1", color_scheme="gray")),
                    spacing="1",
                ),
                rx.text(row.message, size="1"),
            ),
        ),
        rx.table.cell(rx.text(row.created, size="1")),
        rx.table.cell(rx.text(row.finished, size="1")),
        custom_attrs={"data-testid": "run-row", "data-run-id": row.id, "data-status": row.status},
    )


def _runs_table() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading("Recent runs", size="4"),
            rx.cond(ConnectionsState.has_active,
                    rx.badge(rx.icon("refresh_cw", size=12), "Live", color_scheme="blue", variant="outline",
                             custom_attrs={"data-testid": "live-indicator"})),
            align="center",
        ),
        rx.cond(
            ConnectionsState.runs.length() > 0,
            rx.table.root(
                rx.table.header(
                    rx.table.row(*(rx.table.column_header_cell(title) for title in
                                   ("Status", "Operation", "Connection", "Result", "Queued", "Finished"))),
                ),
                rx.table.body(rx.foreach(ConnectionsState.runs, _run_row_view)),
                width="100%",
                variant="surface",
                custom_attrs={"data-testid": "runs-table"},
            ),
            rx.text("No runs yet.", color_scheme="gray", custom_attrs={"data-testid": "runs-empty"}),
        ),
        width="100%",
        spacing="3",
    )


def connections_page() -> rx.Component:
    return page_frame(
        rx.vstack(
            rx.heading("Provider connections", size="6"),
            _notice(),
            _connections_table(),
            rx.cond(ConnectionsState.can_manage, _create_form()),
            _runs_table(),
            # Hidden hooks: the run the last button press started, and the poll timer.
            rx.el.span(ConnectionsState.last_run_id, display="none", custom_attrs={"data-testid": "last-run-id"}),
            rx.moment(interval=rx.cond(ConnectionsState.has_active, POLL_MILLISECONDS, 0),
                      on_change=ConnectionsState.poll, display="none"),
            spacing="5",
            width="100%",
        ),
    )
