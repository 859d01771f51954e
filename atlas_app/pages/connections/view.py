"""/connections, the view: the connections table with each row's actions, the forms, and recent runs (live)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from atlas_app.components.badges import BadgeCatalog
from atlas_app.components.layout import page_frame
from atlas_app.components.tables import live_badge, muted, run_table
from atlas_app.pages.connections.forms import create_form, rotate_dialog
from atlas_app.pages.connections.reads import ConnectionRow
from atlas_app.pages.connections.state import ConnectionsState

ROUTE = "/connections"
POLL_MILLISECONDS = 2000

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
        rx.cond(ConnectionsState.can_manage, create_form()),
        rx.cond(ConnectionsState.can_manage, rotate_dialog()),
        _runs_table(),
        # Hidden hooks: the run the last button press started, and the poll timer.
        rx.el.span(ConnectionsState.last_run_id, display="none", custom_attrs={"data-testid": "last-run-id"}),
        rx.moment(interval=rx.cond(ConnectionsState.has_active, POLL_MILLISECONDS, 0),
                  on_change=ConnectionsState.poll, display="none"),
    )
