"""/connections, the view: the connections table with each row's actions, the forms, and recent runs (live)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from atlas_app.components.badges import BadgeCatalog
from atlas_app.components.layout import page_frame
from atlas_app.components.tables import cards_on_narrow_screens, labelled_cell, live_badge, muted, run_table
from atlas_app.pages.connections.forms import create_form, rotate_dialog
from atlas_app.pages.connections.reads import ConnectionRow
from atlas_app.pages.connections.state import ALL, EXPIRY_CHOICES, INVENTORY_AGE_CHOICES, ConnectionsState
from atlas_app.state.rows import op_label
from atlas_services.credential_expiry import EXPIRY_WARNING_DAYS
from atlas_services.fleet import ANY_CAPABILITY, CAPABILITY_FILTERS, CLOUDS, HEALTH_FILTERS, NEVER_CHECKED

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


def _health_cell(row: ConnectionRow) -> rx.Component:
    return rx.vstack(
        BadgeCatalog.badge(BadgeCatalog.HEALTH_STATUS, row.health_status, test_id=f"connection-health-{row.id}"),
        rx.cond(row.health_reason_code != "", rx.code(row.health_reason_code, size="1")),
        rx.cond(row.last_checked != "", rx.text(row.last_checked, size="1", color_scheme="gray")),
        rx.cond(row.failing != "", rx.text("Blocked: ", row.failing, size="1", color_scheme="red",
                                           custom_attrs={"data-testid": "failing-capabilities"})),
        spacing="1",
    )


def _actions(row: ConnectionRow) -> rx.Component:
    return rx.flex(
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
        spacing="2",
        wrap="wrap",
        custom_attrs={"data-testid": "connection-actions", "data-connection-id": row.id},
    )


_GUID_BREAK = ["break-all", "break-all", "normal"]  # a GUID may break anywhere on a phone only


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
        labelled_cell("Cloud", rx.code(row.cloud)),
        labelled_cell(
            "Microsoft ids",
            rx.vstack(
                rx.text("Tenant ", row.entra_tenant_id, size="1", font_family="monospace", word_break=_GUID_BREAK),
                rx.text("Client ", row.client_id, size="1", font_family="monospace", word_break=_GUID_BREAK),
                spacing="1",
            ),
        ),
        labelled_cell("Credential", _credential_cell(row)),
        labelled_cell("Health", _health_cell(row)),
        labelled_cell("Last inventory", rx.text(rx.cond(row.last_inventory != "", row.last_inventory, "Never"),
                                                size="1", custom_attrs={"data-testid": "last-inventory"})),
        rx.table.cell(_actions(row)),
        custom_attrs={"data-testid": "connection-row", "data-connection-id": row.id},
    )


# Column titles, and the order each one sorts by ("" : not sortable).
_COLUMNS = (("Name", "name"), ("Cloud", "cloud"), ("Microsoft ids", ""), ("Credential", "expires"),
            ("Health", "health"), ("Last inventory", "last_inventory"), ("", ""))


def _column_header(title: str, sort: str) -> rx.Component:
    if not sort:
        return rx.table.column_header_cell(rx.text(title, size="1", weight="medium", color_scheme="gray",
                                                   white_space="nowrap"))
    arrow = rx.cond(ConnectionsState.sort_column == sort,
                    rx.cond(ConnectionsState.sort_descending, rx.icon("arrow_down", size=12),
                            rx.icon("arrow_up", size=12)),
                    rx.icon("arrow_up_down", size=12, color="var(--gray-8)"))
    return rx.table.column_header_cell(
        rx.button(title, arrow, variant="ghost", size="1", color_scheme="gray", white_space="nowrap",
                  on_click=ConnectionsState.sort_by(sort), custom_attrs={"data-testid": f"sort-{sort}"}),
        aria_sort=rx.cond(ConnectionsState.sort_column == sort,
                          rx.cond(ConnectionsState.sort_descending, "descending", "ascending"), "none"),
    )


def _count_link(count: rx.Var[int], label: str, which: str, colour: str) -> rx.Component:
    # A button that looks like a link: rx.link would render href="#", and following it reloads the page's state.
    return rx.button(rx.text.strong(count), label, variant="ghost", size="2", color_scheme=colour, margin="0",
                     padding_x="0.25em", white_space="nowrap", text_decoration="underline",
                     text_underline_offset="3px",
                     on_click=ConnectionsState.show_count(which),
                     custom_attrs={"data-testid": f"count-{which}", "data-count": count})


def _counts() -> rx.Component:
    """"812 healthy · 23 unhealthy · 41 expiring within 30 days · 5 never checked", each a filter link."""
    dot = rx.text("·", size="2", color_scheme="gray")
    return rx.flex(
        _count_link(ConnectionsState.count_total, "connections", "all", "gray"), dot,
        _count_link(ConnectionsState.count_healthy, "healthy", "healthy", "green"), dot,
        _count_link(ConnectionsState.count_unhealthy, "unhealthy", "unhealthy", "red"), dot,
        _count_link(ConnectionsState.count_expiring, f"expiring within {EXPIRY_WARNING_DAYS} days", "expiring",
                    "amber"), dot,
        _count_link(ConnectionsState.count_never_checked, "never checked", "never_checked", "gray"),
        spacing="2",
        wrap="wrap",
        align="center",
        custom_attrs={"data-testid": "fleet-counts"},
    )


def _select(test_id: str, value: rx.Var[str], on_change: Any, items: list[tuple[str, str]]) -> rx.Component:
    return rx.select.root(
        rx.select.trigger(custom_attrs={"data-testid": test_id}),
        rx.select.content(*(rx.select.item(label, value=choice, custom_attrs={"data-testid": f"{test_id}-{choice}"})
                            for choice, label in items)),
        value=value,
        on_change=on_change,
        size="2",
    )


_HEALTH_LABELS = {"healthy": "Healthy", "unhealthy": "Unhealthy", "unknown": "Health unknown",
                  NEVER_CHECKED: "Never checked"}


def _filters() -> rx.Component:
    s = ConnectionsState
    return rx.flex(
        _select("filter-health", s.filter_health, s.filter_by_health,
                [(ALL, "Any health"), *((h, _HEALTH_LABELS.get(h, h)) for h in HEALTH_FILTERS)]),
        _select("filter-cloud", s.filter_cloud, s.filter_by_cloud, [(ALL, "Any cloud"), *((c, c) for c in CLOUDS)]),
        _select("filter-expiring", s.filter_expiring, s.filter_by_expiry,
                [(ALL, "Any expiry"), *((d, f"Expiring within {d} days") for d in EXPIRY_CHOICES)]),
        _select("filter-inventory", s.filter_inventory, s.filter_by_inventory_age,
                [(ALL, "Any last inventory"),
                 *((d, f"Inventory older than {d} day{'s' if d != '1' else ''}") for d in INVENTORY_AGE_CHOICES)]),
        _select("filter-failing", s.filter_failing, s.filter_by_failing,
                [(ALL, "Any readiness"), (ANY_CAPABILITY, "Any capability blocked"),
                 *((c, f"{op_label(c)} blocked") for c in CAPABILITY_FILTERS if c != ANY_CAPABILITY)]),
        spacing="2",
        wrap="wrap",
        align="center",
        custom_attrs={"data-testid": "fleet-filters"},
    )


def _check_all_button() -> rx.Component:
    s = ConnectionsState
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(rx.button(
            rx.icon("activity", size=14), "Check all shown", size="2", variant="soft", white_space="nowrap",
            disabled=~s.can_run | s.bulk_running | (s.matched == 0), loading=s.bulk_running,
            custom_attrs={"data-testid": "check-all-shown"})),
        rx.alert_dialog.content(
            rx.alert_dialog.title("Check all shown"),
            rx.alert_dialog.description(rx.text(
                "Start a health check on each of the ", rx.text.strong(s.matched),
                " connections these filters match (all pages)? Connections already being checked or busy with "
                "another operation are counted, not started twice.")),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(rx.button("Start checks", on_click=s.check_all_shown,
                                                 custom_attrs={"data-testid": "confirm-check-all"})),
                justify="end",
                spacing="3",
                margin_top="1em",
            ),
        ),
    )


def _pager() -> rx.Component:
    s = ConnectionsState
    return rx.flex(
        rx.text(s.matched, " matching", size="2", color_scheme="gray",
                custom_attrs={"data-testid": "fleet-matched", "data-matched": s.matched}),
        rx.spacer(),
        rx.button("Previous", variant="soft", size="1", disabled=s.page_number <= 1, on_click=s.previous_page,
                  custom_attrs={"data-testid": "fleet-previous"}),
        rx.text("Page ", s.page_number, " of ", s.page_count, size="2", color_scheme="gray",
                custom_attrs={"data-testid": "fleet-page"}),
        rx.button("Next", variant="soft", size="1", disabled=s.page_number >= s.page_count, on_click=s.next_page,
                  custom_attrs={"data-testid": "fleet-next"}),
        spacing="3",
        align="center",
        wrap="wrap",
        width="100%",
    )


def _connections_table() -> rx.Component:
    return rx.cond(
        ConnectionsState.connections.length() > 0,
        rx.table.root(
            rx.table.header(rx.table.row(*(_column_header(title, sort) for title, sort in _COLUMNS))),
            rx.table.body(rx.foreach(ConnectionsState.connections, _connection_row_view)),
            width="100%",
            variant="surface",
            style=cards_on_narrow_screens(),
            custom_attrs={"data-testid": "connections-table"},
        ),
        rx.cond(
            ConnectionsState.loaded,
            rx.cond(
                ConnectionsState.count_total > 0,
                muted("No connections match these filters.", "fleet-empty"),
                _no_connections(),
            ),
            rx.text("Loading…", color_scheme="gray"),
        ),
    )


def _no_connections() -> rx.Component:
    return rx.card(
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
    )


def _fleet() -> rx.Component:
    return rx.vstack(
        _counts(),
        rx.flex(_filters(), rx.spacer(), _check_all_button(), spacing="2", wrap="wrap", align="center", width="100%"),
        _connections_table(),
        rx.cond(ConnectionsState.count_total > 0, _pager()),
        spacing="3",
        width="100%",
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
        _fleet(),
        rx.cond(ConnectionsState.can_manage, create_form()),
        rx.cond(ConnectionsState.can_manage, rotate_dialog()),
        _runs_table(),
        # Hidden hooks: the run the last button press started, and the poll timer.
        rx.el.span(ConnectionsState.last_run_id, display="none", custom_attrs={"data-testid": "last-run-id"}),
        rx.moment(interval=rx.cond(ConnectionsState.has_active, POLL_MILLISECONDS, 0),
                  on_change=ConnectionsState.poll, display="none"),
    )
