"""/connections: the tenant's Microsoft connections and what can be done with them, plus recent runs (live).

Create (client secret with an optional expiry, or a certificate as a PEM paste or a PFX upload), check,
make default, disable/enable, delete (confirmed), and rotate the credential (the old one stays active until
the verification run succeeds). Secrets, private keys, PFX bytes and passphrases are read from the submitted
form or upload, handed to the service and dropped: they are never kept in state (not even backend-only
vars, which are pickled into the state store), and every secret input is cleared after each submit.

Both credential forms submit through ``rx.upload`` (the form's fields travel with the upload), so a PFX file
and its passphrase arrive together in one request, with or without a file.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import date
from typing import Any

import reflex as rx

from atlas_app.components.badges import BadgeCatalog
from atlas_app.components.layout import page_frame
from atlas_app.components.tables import live_badge, muted, run_table
from atlas_app.state.guard import (
    PAGE_DENIED,
    BadArgument,
    checkbox_field,
    choice_arg,
    files_arg,
    flag_arg,
    form_arg,
    ignored_arg,
    requires_capability,
    secret_field,
    text_field,
    uuid_arg,
)
from atlas_app.state.messages import NOT_FOUND, user_message, when
from atlas_app.state.polling import claim_poll, release_poll
from atlas_app.state.rows import RunRow, run_row
from atlas_app.state.session import SessionState
from atlas_jobs.dispatch import rotate_credential, start_operation
from atlas_services.authz import Actor, Capability
from atlas_services.config import get_settings
from atlas_services.connections import (
    ConnectionView,
    create_connection,
    delete_connection,
    get_connection,
    list_connections,
    set_default,
    set_enabled,
)
from atlas_services.credential_input import CertificateInput, ClientSecretInput, CredentialInput
from atlas_services.errors import InvalidInput
from atlas_services.runs.queries import has_active_runs, list_runs
from atlas_services.secrets import SecretValue
from atlas_services.validation import GUID

log = logging.getLogger(__name__)

ROUTE = "/connections"
POLL_MILLISECONDS = 2000
RUN_LIMIT = 20
# A poll older than this is taken as lost (its worker died), so polling can resume.

CLOUDS = ["global", "usgov", "usgov_dod", "china", "simulator"]
# How a credential is given: a client secret, a PEM bundle (certificate + private key), or a PFX file.
CREDENTIAL_KINDS = ("secret", "pem", "pfx")
KIND_LABELS = {"client_secret": "Client secret", "certificate": "Certificate"}
# Read at most this much of an uploaded PFX (the service refuses anything over its own, smaller limit).
MAX_PFX_READ = 256 * 1024
CREATE_PFX_UPLOAD = "create_pfx"
ROTATE_PFX_UPLOAD = "rotate_pfx"
# Field names double as the inputs' ids (the secret ones are cleared by id after every submit).
CREATE_FORM = form_arg(
    name=text_field("Name"),
    cloud=text_field("Cloud", 32),
    entra_tenant_id=text_field("Entra tenant id", 64),
    client_id=text_field("Client id", 64),
    credential_kind=text_field("Credential", 16),
    client_secret=secret_field("The client secret", 8 * 1024),
    expires_on=text_field("Expiry date", 32),
    allow_guid_shaped=checkbox_field("I'm sure"),
    certificate_pem=secret_field("The PEM bundle", 256 * 1024),
    pfx_passphrase=secret_field("The passphrase", 1024),
    make_default=checkbox_field("Make default"),
)
ROTATE_FORM = form_arg(
    connection_id=text_field("Connection", 64),
    credential_kind=text_field("Credential", 16),
    rotate_client_secret=secret_field("The client secret", 8 * 1024),
    rotate_expires_on=text_field("Expiry date", 32),
    rotate_allow_guid_shaped=checkbox_field("I'm sure"),
    rotate_certificate_pem=secret_field("The PEM bundle", 256 * 1024),
    rotate_pfx_passphrase=secret_field("The passphrase", 1024),
)
CREATE_TEXT_INPUTS = ("name", "entra_tenant_id", "client_id", "expires_on")


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
    credential_kind: str = ""
    secret_hint: str = ""
    expires: str = ""
    expiry_warning: str = ""


def _connection_row(view: ConnectionView) -> ConnectionRow:
    return ConnectionRow(
        id=str(view.id), name=view.name, cloud=str(view.cloud), entra_tenant_id=str(view.entra_tenant_id),
        client_id=str(view.client_id), is_default=view.is_default, enabled=view.enabled,
        health_status=str(view.health_status), health_reason_code=view.health_reason_code or "",
        last_checked=when(view.last_checked_at),
        credential_kind=KIND_LABELS.get(str(view.credential_kind or ""), ""), secret_hint=view.secret_hint,
        expires=view.credential_expires_at.strftime("%Y-%m-%d") if view.credential_expires_at else "",
        expiry_warning=view.expiry_warning or "")


@dataclasses.dataclass(frozen=True)
class _Snapshot:
    connections: list[ConnectionRow]
    runs: list[RunRow]
    has_active: bool


def _read_page(actor: Actor) -> _Snapshot:
    """Everything the page shows, from PostgreSQL only (blocking: call in a thread)."""
    return _Snapshot(
        connections=[_connection_row(v) for v in list_connections(actor)],
        runs=[run_row(v) for v in list_runs(actor, limit=RUN_LIMIT)],
        has_active=has_active_runs(actor),
    )


def _expiry(value: str, field: str) -> date | None:
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(field, "Enter the expiry as a date (YYYY-MM-DD)") from None


def _looks_like_guid(secret: SecretValue | None) -> bool:
    return secret is not None and bool(GUID.match(secret.reveal().strip()))


async def _credential(kind: str, files: list[Any], *, secret: SecretValue | None, expires_on: str,
                      expires_field: str, allow_guid: bool, pem: SecretValue | None,
                      passphrase: SecretValue | None) -> CredentialInput:
    """The credential the form describes. PFX bytes are read here and live only in the returned object."""
    if kind == "pem":
        return CertificateInput(pem=pem)
    if kind == "pfx":
        if not files:
            raise InvalidInput("certificate", "Choose the PFX file to upload")
        content = await files[0].read(MAX_PFX_READ + 1)
        if len(content) > MAX_PFX_READ:
            raise InvalidInput("certificate", "The PFX file is too large")
        return CertificateInput(pfx=bytes(content), passphrase=passphrase)
    return ClientSecretInput(secret or SecretValue(""), expires_on=_expiry(expires_on, expires_field),
                             allow_guid_shaped=allow_guid)


class ConnectionsState(SessionState):
    connections: list[ConnectionRow] = rx.field(default_factory=list)
    runs: list[RunRow] = rx.field(default_factory=list)
    has_active: bool = False
    loaded: bool = False
    last_run_id: str = ""

    # The create form: which credential kind it shows, and its field error.
    create_kind: str = "secret"
    form_field: str = ""
    form_error: str = ""
    create_guid_warning: bool = False

    # The rotate dialog.
    rotate_open: bool = False
    rotate_id: str = ""
    rotate_name: str = ""
    rotate_kind: str = "secret"
    rotate_field: str = ""
    rotate_error: str = ""
    rotate_guid_warning: bool = False
    rotation_run_id: str = ""

    _poll_started_at: float = 0.0

    # ---- private helpers (not callable from the browser) ----

    def _apply(self, snapshot: _Snapshot) -> None:
        self.connections = snapshot.connections
        self.runs = snapshot.runs
        self.has_active = snapshot.has_active
        self.loaded = True

    def _clear_page(self) -> None:
        self.connections = []
        self.runs = []
        self.has_active = False
        self.loaded = False
        self.rotate_open = False

    async def _refresh(self, actor: Actor) -> None:
        try:
            snapshot = await asyncio.to_thread(_read_page, actor)
        except Exception as exc:  # noqa: BLE001 - translated for the user
            self._say(user_message(exc), "error")
            self.has_active = False
            return
        self._apply(snapshot)

    async def _act(self, actor: Actor, success: str, call: Any, *args: Any) -> bool:
        """Run one service call in a thread, tell the user how it went, and re-read the page."""
        try:
            await asyncio.to_thread(call, actor, *args)
        except Exception as exc:  # noqa: BLE001 - translated for the user
            self._say(user_message(exc), "error")
            await self._refresh(actor)
            return False
        self._say(success, "success")
        await self._refresh(actor)
        return True

    def _name_of(self, connection_id: str) -> str:
        return next((row.name for row in self.connections if row.id == connection_id), "the connection")

    # ---- events: reading ----

    @requires_capability(Capability.PROVIDER_VIEW, denied=PAGE_DENIED)
    async def on_page_load(self, actor: Actor):
        self.notice = ""
        await self._refresh(actor)
        return None

    @requires_capability(Capability.PROVIDER_VIEW, background=True, temporal=True, tick=ignored_arg)
    async def poll(self, actor: Actor, tick: Any):
        """Timer tick from the browser while runs are active: re-read the page's rows (never Microsoft)."""
        async with self:
            if not claim_poll(self):
                return None
        try:
            snapshot: _Snapshot | None = await asyncio.to_thread(_read_page, actor)
            failure = ""
        except Exception as exc:  # noqa: BLE001 - translated for the user
            snapshot, failure = None, user_message(exc)
        async with self:
            release_poll(self)
            if snapshot is not None:
                self._apply(snapshot)
            else:
                self._say(failure, "error")
                self.has_active = False
        return None

    # ---- events: acting on a connection ----

    @requires_capability(Capability.PROVIDER_RUN, connection_id=uuid_arg)
    async def check_connection(self, actor: Actor, connection_id: Any):
        """Start a health check on one connection: writes a run row and enqueues it, nothing more."""
        try:
            result = await asyncio.to_thread(start_operation, actor, "health_check", connection_id)
        except Exception as exc:  # noqa: BLE001 - translated for the user
            self._say(user_message(exc), "error")
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

    @requires_capability(Capability.PROVIDER_MANAGE, connection_id=uuid_arg)
    async def make_default(self, actor: Actor, connection_id: Any):
        name = self._name_of(connection_id)
        await self._act(actor, f"'{name}' is now the default connection.", set_default, connection_id)
        return None

    @requires_capability(Capability.PROVIDER_MANAGE, connection_id=uuid_arg, enabled=flag_arg)
    async def change_enabled(self, actor: Actor, connection_id: Any, enabled: Any):
        name = self._name_of(connection_id)
        done = (f"'{name}' is enabled." if enabled
                else f"'{name}' is disabled: no new runs start on it until it is enabled again.")
        await self._act(actor, done, set_enabled, connection_id, enabled)
        return None

    @requires_capability(Capability.PROVIDER_MANAGE, connection_id=uuid_arg)
    async def delete_connection(self, actor: Actor, connection_id: Any):
        name = self._name_of(connection_id)
        await self._act(actor, f"'{name}' was deleted; its credentials are destroyed, its run history stays.",
                        delete_connection, connection_id)
        return None

    # ---- events: the create form ----

    @requires_capability(Capability.PROVIDER_MANAGE, kind=choice_arg(*CREDENTIAL_KINDS))
    async def choose_create_kind(self, actor: Actor, kind: Any):
        self.create_kind = kind
        self.form_field, self.form_error = "", ""
        return None

    @requires_capability(Capability.PROVIDER_MANAGE, files=files_arg(1), form_data=CREATE_FORM)
    async def create_connection(self, actor: Actor, files: list[rx.UploadFile], form_data: Any):
        """Create a connection. The credential goes straight to the service and is not kept."""
        kind = form_data["credential_kind"] if form_data["credential_kind"] in CREDENTIAL_KINDS else "secret"
        self.form_field, self.form_error = "", ""
        try:
            credential = await _credential(
                kind, files, secret=form_data["client_secret"], expires_on=form_data["expires_on"],
                expires_field="expires_on", allow_guid=form_data["allow_guid_shaped"],
                pem=form_data["certificate_pem"], passphrase=form_data["pfx_passphrase"])
            view = await asyncio.to_thread(
                create_connection, actor, name=form_data["name"], entra_tenant_id=form_data["entra_tenant_id"],
                client_id=form_data["client_id"], credential=credential,
                cloud=form_data["cloud"] or get_settings().default_cloud,
                make_default=True if form_data["make_default"] else None)
        except InvalidInput as exc:
            self.form_field, self.form_error = exc.field, str(exc)
            if exc.field == "client_secret" and kind == "secret" and _looks_like_guid(form_data["client_secret"]):
                self.create_guid_warning = True
            return None
        except Exception as exc:  # noqa: BLE001 - translated for the user
            self.form_error = user_message(exc)
            return None
        self.create_guid_warning = False
        self._say(" ".join((f"Connection '{view.name}' created.", *view.notices)), "success")
        await self._refresh(actor)
        events: list[Any] = [rx.set_value(key, "") for key in CREATE_TEXT_INPUTS]
        if files:
            events.append(rx.clear_selected_files(CREATE_PFX_UPLOAD))
        return events

    # ---- events: the rotate dialog ----

    @requires_capability(Capability.PROVIDER_MANAGE, connection_id=uuid_arg)
    async def open_rotation(self, actor: Actor, connection_id: Any):
        try:
            view = await asyncio.to_thread(get_connection, actor, connection_id)
        except Exception as exc:  # noqa: BLE001 - translated for the user
            self._say(user_message(exc), "error")
            return None
        self.rotate_id, self.rotate_name = str(view.id), view.name
        self.rotate_kind, self.rotate_field, self.rotate_error = "secret", "", ""
        self.rotate_guid_warning = False
        self.rotate_open = True
        return None

    @requires_capability(Capability.PROVIDER_MANAGE, is_open=flag_arg)
    async def rotation_dialog(self, actor: Actor, is_open: Any):
        """The dialog asks to open or close itself (Escape, the close button): only closing is honoured here."""
        if not is_open:
            self.rotate_open = False
        return None

    @requires_capability(Capability.PROVIDER_MANAGE, kind=choice_arg(*CREDENTIAL_KINDS))
    async def choose_rotate_kind(self, actor: Actor, kind: Any):
        self.rotate_kind = kind
        self.rotate_field, self.rotate_error = "", ""
        return None

    @requires_capability(Capability.PROVIDER_MANAGE, files=files_arg(1), form_data=ROTATE_FORM)
    async def rotate_credential(self, actor: Actor, files: list[rx.UploadFile], form_data: Any):
        """Add a new credential and start the health check that decides whether it replaces the current one."""
        kind = form_data["credential_kind"] if form_data["credential_kind"] in CREDENTIAL_KINDS else "secret"
        self.rotate_field, self.rotate_error = "", ""
        try:
            connection_id = uuid_arg(form_data["connection_id"])
        except BadArgument:  # a forged or stale form: the same answer as for an unknown connection
            self.rotate_error = NOT_FOUND
            return None
        try:
            credential = await _credential(
                kind, files, secret=form_data["rotate_client_secret"], expires_on=form_data["rotate_expires_on"],
                expires_field="expires_on", allow_guid=form_data["rotate_allow_guid_shaped"],
                pem=form_data["rotate_certificate_pem"], passphrase=form_data["rotate_pfx_passphrase"])
            started = await asyncio.to_thread(rotate_credential, actor, connection_id, credential)
        except InvalidInput as exc:
            self.rotate_field, self.rotate_error = exc.field, str(exc)
            if (exc.field == "client_secret" and kind == "secret"
                    and _looks_like_guid(form_data["rotate_client_secret"])):
                self.rotate_guid_warning = True
            return None
        except Exception as exc:  # noqa: BLE001 - translated for the user
            self.rotate_error = user_message(exc)
            await self._refresh(actor)
            return None
        self.rotate_open = False
        self.rotate_guid_warning = False
        self.rotation_run_id = self.last_run_id = str(started.run_id)
        self._say(" ".join((f"New credential for '{self.rotate_name}' added. It is being verified by a health "
                            "check; the current credential stays active until that check succeeds.",
                            *started.notices)), "success")
        await self._refresh(actor)
        return [rx.clear_selected_files(ROTATE_PFX_UPLOAD)] if files else None


# ---------------------------------------------------------------- view


def _action_button(label: str, icon: str, test_id: str, row: ConnectionRow, **props: Any) -> rx.Component:
    return rx.button(rx.icon(icon, size=14), label, size="1", variant="soft", white_space="nowrap",
                     custom_attrs={"data-testid": test_id, "data-connection-id": row.id,
                                   "data-connection-name": row.name}, **props)


def _delete_button(row: ConnectionRow) -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(_action_button("Delete", "trash_2", "delete-connection", row, color_scheme="red")),
        rx.alert_dialog.content(
            rx.alert_dialog.title("Delete connection"),
            rx.alert_dialog.description(
                rx.text("Delete ", rx.text.strong(row.name),
                        "? Its credentials are destroyed; its run history stays."),
            ),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(rx.button(
                    "Delete", color_scheme="red", on_click=ConnectionsState.delete_connection(row.id),
                    custom_attrs={"data-testid": "confirm-delete"})),
                justify="end",
                spacing="3",
                margin_top="1em",
            ),
        ),
    )


def _credential_cell(row: ConnectionRow) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.text(row.credential_kind, size="1", white_space="nowrap"),
            rx.code(row.secret_hint, size="1", white_space="nowrap"),
            spacing="2",
            align="center",
        ),
        rx.cond(row.expires != "", rx.text("Expires ", row.expires, size="1", color_scheme="gray")),
        rx.cond(row.expiry_warning != "",
                rx.text(row.expiry_warning, size="1", color_scheme="amber",
                        custom_attrs={"data-testid": "expiry-warning", "data-connection-id": row.id})),
        spacing="1",
        custom_attrs={"data-testid": "credential-cell", "data-connection-id": row.id},
    )


def _connection_row_view(row: ConnectionRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.hstack(
                rx.link(row.name, href="/connections/" + row.id, weight="medium",
                        custom_attrs={"data-testid": "connection-name"}),
                rx.cond(row.is_default, rx.badge("Default", variant="outline", color_scheme="blue",
                                                 custom_attrs={"data-testid": "default-badge"})),
                rx.cond(~row.enabled, rx.badge("Disabled", variant="outline", color_scheme="gray",
                                               custom_attrs={"data-testid": "disabled-badge"})),
                align="center",
                wrap="wrap",
            ),
        ),
        rx.table.cell(rx.code(row.cloud)),
        rx.table.cell(
            rx.vstack(
                rx.text("Tenant ", row.entra_tenant_id, size="1", font_family="monospace"),
                rx.text("Client ", row.client_id, size="1", font_family="monospace"),
                spacing="1",
            ),
        ),
        rx.table.cell(_credential_cell(row)),
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
            rx.flex(
                _action_button("Check connection", "activity", "check-connection", row,
                               disabled=~ConnectionsState.can_run | ~row.enabled,
                               on_click=ConnectionsState.check_connection(row.id)),
                rx.cond(
                    ConnectionsState.can_manage,
                    rx.fragment(
                        rx.cond(~row.is_default,
                                _action_button("Make default", "star", "make-default", row,
                                               on_click=ConnectionsState.make_default(row.id))),
                        rx.cond(row.enabled,
                                _action_button("Disable", "pause", "disable-connection", row,
                                               on_click=ConnectionsState.change_enabled(row.id, False)),
                                _action_button("Enable", "play", "enable-connection", row,
                                               on_click=ConnectionsState.change_enabled(row.id, True))),
                        _action_button("Rotate credential", "key_round", "rotate-credential", row,
                                       disabled=~row.enabled, on_click=ConnectionsState.open_rotation(row.id)),
                        _delete_button(row),
                    ),
                ),
                gap="2",
                wrap="wrap",
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
                      ("Name", "Cloud", "Microsoft ids", "Credential", "Health", "")),
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
                    rx.cond(ConnectionsState.can_manage,
                            rx.text("Connect a customer tenant with its app registration below.",
                                    size="2", color_scheme="gray"),
                            rx.text("Someone who manages connections in this tenant can add one.",
                                    size="2", color_scheme="gray")),
                    align="center",
                    spacing="2",
                ),
                width="100%",
                custom_attrs={"data-testid": "connections-empty"},
            ),
            rx.text("Loading…", color_scheme="gray"),
        ),
    )


def _error_line(field_var: rx.Var, error_var: rx.Var, field: str, test_id: str) -> rx.Component:
    return rx.cond(field_var == field, rx.text(error_var, size="1", color_scheme="red",
                                               custom_attrs={"data-testid": test_id}))


def _labelled(label: str, element_id: str, control: rx.Component, error: rx.Component | None = None
              ) -> rx.Component:
    return rx.vstack(
        rx.el.label(rx.text(label, size="2", weight="medium"), html_for=element_id),
        control,
        *([error] if error is not None else []),
        spacing="1",
        width="100%",
    )


def _kind_picker(value: rx.Var, on_change: Any, test_id: str) -> rx.Component:
    """Which kind of credential the form takes; the choice is submitted with the form (hidden input)."""
    return rx.fragment(
        rx.el.input(type="hidden", name="credential_kind", value=value),
        rx.radio_group.root(
            rx.hstack(
                rx.radio_group.item(value="secret", custom_attrs={"data-testid": f"{test_id}-secret"}),
                rx.text("Client secret", size="2"),
                rx.radio_group.item(value="pem", custom_attrs={"data-testid": f"{test_id}-pem"}),
                rx.text("Certificate (PEM)", size="2"),
                rx.radio_group.item(value="pfx", custom_attrs={"data-testid": f"{test_id}-pfx"}),
                rx.text("Certificate (PFX file)", size="2"),
                spacing="2",
                align="center",
            ),
            value=value,
            on_change=on_change,
        ),
    )


def _pfx_upload(upload_id: str) -> rx.Component:
    return rx.vstack(
        rx.upload(
            rx.vstack(rx.icon("file_key", size=20), rx.text("Choose or drop a .pfx / .p12 file", size="2"),
                      align="center", spacing="1"),
            id=upload_id,
            max_files=1,
            multiple=False,
            border="1px dashed var(--gray-a7)",
            padding="1em",
            width="100%",
            custom_attrs={"data-testid": upload_id},
        ),
        rx.foreach(rx.selected_files(upload_id), lambda name: rx.text(name, size="1", color_scheme="gray")),
        spacing="1",
        width="100%",
    )


def _credential_inputs(kind: rx.Var, prefix: str, field_var: rx.Var, error_var: rx.Var, guid_warning: rx.Var,
                       upload_id: str, test_prefix: str) -> rx.Component:
    """The inputs of one credential kind. Ids (== names) carry ``prefix`` so two forms can share a page."""
    secret_id, expires_id = f"{prefix}client_secret", f"{prefix}expires_on"
    pem_id, passphrase_id = f"{prefix}certificate_pem", f"{prefix}pfx_passphrase"
    return rx.match(
        kind,
        ("pem", _labelled(
            "Certificate and private key (PEM)", pem_id,
            rx.text_area(id=pem_id, name=pem_id, rows="6", width="100%", font_family="monospace",
                         placeholder="-----BEGIN CERTIFICATE-----\n…\n-----BEGIN PRIVATE KEY-----\n…",
                         custom_attrs={"data-testid": f"{test_prefix}certificate-pem"}),
            _error_line(field_var, error_var, "certificate", f"{test_prefix}error-certificate"))),
        ("pfx", rx.vstack(
            _labelled("PFX file", upload_id, _pfx_upload(upload_id),
                      _error_line(field_var, error_var, "certificate", f"{test_prefix}error-certificate")),
            _labelled("Passphrase", passphrase_id,
                      rx.input(id=passphrase_id, name=passphrase_id, type="password", auto_complete="off",
                               width="100%", custom_attrs={"data-testid": f"{test_prefix}pfx-passphrase"})),
            spacing="3",
            width="100%",
        )),
        rx.vstack(
            rx.grid(
                _labelled("Client secret (its Value)", secret_id,
                          rx.input(id=secret_id, name=secret_id, type="password", auto_complete="new-password",
                                   width="100%", custom_attrs={"data-testid": f"{test_prefix}client-secret"}),
                          _error_line(field_var, error_var, "client_secret", f"{test_prefix}error-client_secret")),
                _labelled("Secret expires on (optional)", expires_id,
                          rx.input(id=expires_id, name=expires_id, type="date", width="100%",
                                   custom_attrs={"data-testid": f"{test_prefix}expires-on"}),
                          _error_line(field_var, error_var, "expires_on", f"{test_prefix}error-expires_on")),
                columns="2",
                spacing="3",
                width="100%",
            ),
            rx.cond(
                guid_warning,
                rx.hstack(
                    rx.checkbox(name=f"{prefix}allow_guid_shaped",
                                custom_attrs={"data-testid": f"{test_prefix}allow-guid"}),
                    rx.text("I'm sure: this GUID-shaped value is the secret's Value.", size="2"),
                    align="center",
                ),
            ),
            spacing="3",
            width="100%",
        ),
    )


def _create_form() -> rx.Component:
    return rx.card(
        rx.heading("Connect a Microsoft tenant", size="4", margin_bottom="0.75em"),
        rx.form(
            rx.vstack(
                rx.grid(
                    _labelled("Name", "name",
                              rx.input(id="name", name="name", required=True, max_length=100,
                                       placeholder="Contoso production", width="100%",
                                       custom_attrs={"data-testid": "create-name"}),
                              _error_line(ConnectionsState.form_field, ConnectionsState.form_error, "name",
                                          "form-error-name")),
                    _labelled("Cloud", "cloud",
                              rx.select(CLOUDS, name="cloud", default_value=get_settings().default_cloud)),
                    _labelled("Entra tenant id", "entra_tenant_id",
                              rx.input(id="entra_tenant_id", name="entra_tenant_id", required=True,
                                       placeholder="00000000-0000-0000-0000-000000000000", width="100%",
                                       custom_attrs={"data-testid": "create-entra-tenant-id"}),
                              _error_line(ConnectionsState.form_field, ConnectionsState.form_error,
                                          "entra_tenant_id", "form-error-entra_tenant_id")),
                    _labelled("Client id", "client_id",
                              rx.input(id="client_id", name="client_id", required=True,
                                       placeholder="00000000-0000-0000-0000-000000000000", width="100%",
                                       custom_attrs={"data-testid": "create-client-id"}),
                              _error_line(ConnectionsState.form_field, ConnectionsState.form_error,
                                          "client_id", "form-error-client_id")),
                    columns="2",
                    spacing="3",
                    width="100%",
                ),
                _kind_picker(ConnectionsState.create_kind, ConnectionsState.choose_create_kind, "create-kind"),
                _credential_inputs(ConnectionsState.create_kind, "", ConnectionsState.form_field,
                                   ConnectionsState.form_error, ConnectionsState.create_guid_warning,
                                   CREATE_PFX_UPLOAD, "create-"),
                rx.hstack(
                    rx.checkbox(name="make_default", custom_attrs={"data-testid": "create-make-default"}),
                    rx.text("Make this the default connection", size="2"),
                    align="center",
                ),
                rx.cond(
                    (ConnectionsState.form_error != "")
                    & ~rx.Var.create(["name", "entra_tenant_id", "client_id", "client_secret", "expires_on",
                                      "certificate"]).contains(ConnectionsState.form_field),
                    rx.text(ConnectionsState.form_error, size="2", color_scheme="red",
                            custom_attrs={"data-testid": "form-error"}),
                ),
                rx.button("Create connection", type="submit", custom_attrs={"data-testid": "create-connection"}),
                spacing="3",
                width="100%",
            ),
            # The fields travel with the (possibly empty) PFX upload: one request, nothing kept in state.
            on_submit=lambda form_data: ConnectionsState.create_connection(
                rx.upload_files(upload_id=CREATE_PFX_UPLOAD), form_data),
            reset_on_submit=False,
            id="create-connection-form",
        ),
        width="100%",
    )


def _rotate_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Rotate credential"),
            rx.dialog.description(
                rx.text("Add a new credential for ", rx.text.strong(ConnectionsState.rotate_name),
                        ". Atlas verifies it with a health check; the current credential stays active until that "
                        "check succeeds.", size="2"),
            ),
            rx.form(
                rx.vstack(
                    rx.el.input(type="hidden", name="connection_id", value=ConnectionsState.rotate_id),
                    _kind_picker(ConnectionsState.rotate_kind, ConnectionsState.choose_rotate_kind, "rotate-kind"),
                    _credential_inputs(ConnectionsState.rotate_kind, "rotate_", ConnectionsState.rotate_field,
                                       ConnectionsState.rotate_error, ConnectionsState.rotate_guid_warning,
                                       ROTATE_PFX_UPLOAD, "rotate-"),
                    rx.cond(
                        (ConnectionsState.rotate_error != "")
                        & ~rx.Var.create(["client_secret", "expires_on", "certificate"]).contains(
                            ConnectionsState.rotate_field),
                        rx.text(ConnectionsState.rotate_error, size="2", color_scheme="red",
                                custom_attrs={"data-testid": "rotate-error"}),
                    ),
                    rx.hstack(
                        rx.dialog.close(rx.button("Cancel", type="button", variant="soft", color_scheme="gray")),
                        rx.button("Add and verify", type="submit", custom_attrs={"data-testid": "rotate-submit"}),
                        justify="end",
                        spacing="3",
                        width="100%",
                    ),
                    spacing="3",
                    width="100%",
                    margin_top="1em",
                ),
                on_submit=lambda form_data: ConnectionsState.rotate_credential(
                    rx.upload_files(upload_id=ROTATE_PFX_UPLOAD), form_data),
                reset_on_submit=False,
                id="rotate-credential-form",
            ),
            custom_attrs={"data-testid": "rotate-dialog"},
        ),
        open=ConnectionsState.rotate_open,
        on_open_change=ConnectionsState.rotation_dialog,
    )


def _rotation_banner() -> rx.Component:
    return rx.cond(
        ConnectionsState.rotation_run_id != "",
        rx.callout(
            rx.hstack(
                rx.text("Credential verification run:", size="2"),
                rx.link(ConnectionsState.rotation_run_id, href="/runs/" + ConnectionsState.rotation_run_id,
                        size="2", custom_attrs={"data-testid": "rotation-run-link"}),
                spacing="2",
            ),
            icon="key_round",
            color_scheme="blue",
            width="100%",
        ),
    )


def _runs_table() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading("Recent runs", size="4"),
            live_badge(ConnectionsState.has_active),
            rx.link("All operations →", href="/operations", size="2"),
            align="center",
        ),
        run_table(ConnectionsState.runs, muted("No runs yet. Check a connection to start one.", "runs-empty")),
        width="100%",
        spacing="3",
    )


def connections_page() -> rx.Component:
    return page_frame(
        rx.heading("Provider connections", size="6"),
        _rotation_banner(),
        _connections_table(),
        rx.cond(ConnectionsState.can_manage, _create_form()),
        rx.cond(ConnectionsState.can_manage, _rotate_dialog()),
        _runs_table(),
        # Hidden hooks: the run the last button press started, and the poll timer.
        rx.el.span(ConnectionsState.last_run_id, display="none", custom_attrs={"data-testid": "last-run-id"}),
        rx.moment(interval=rx.cond(ConnectionsState.has_active, POLL_MILLISECONDS, 0),
                  on_change=ConnectionsState.poll, display="none"),
    )
