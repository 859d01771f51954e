"""Tables shared by the connection, connection detail, operations and run pages (rows from atlas_app.state.rows)."""

from __future__ import annotations

from collections.abc import Sequence

import reflex as rx
from reflex.vars import ArrayVar

from atlas_app.components.badges import BadgeCatalog
from atlas_app.state.rows import CountRow, DetailItem, OverPrivilegeRow, PermissionRow, ReadinessRow, RunRow, SectionRow

# Narrow screens (phones: under Reflex's "sm" breakpoint, 48em) show a table's rows as cards: one DOM, restyled, so
# every control keeps its one test id and nothing is rendered twice. Each cell then shows its own label.
NARROW = "@media (max-width: 47.99em)"
WIDE_ONLY = ["none", "none", "table-header-group"]  # a thead: hidden on narrow screens
NARROW_ONLY = ["block", "block", "none"]


def cards_on_narrow_screens() -> dict[str, object]:
    """The style that turns a Radix table's rows into stacked cards on narrow screens (pass as ``style``)."""
    return {NARROW: {
        "border": "none", "background": "transparent", "box_shadow": "none",
        # Radix gives the <table> height 0 (a table grows to its rows anyway; a block does not).
        "& table, & tbody": {"display": "block", "width": "100%", "height": "auto"},
        "& thead": {"display": "none"},
        "& tr": {"display": "block", "border": "1px solid var(--gray-a6)", "border_radius": "var(--radius-3)",
                 "margin_bottom": "0.75em", "padding": "0.5em", "background": "var(--color-panel-solid)"},
        # Radix cells have a fixed height (a minimum in a table row, a clip in a block).
        "& td": {"display": "block", "height": "auto", "box_shadow": "none", "padding": "0.25em 0.5em",
                 "min_width": "0", "overflow_wrap": "anywhere"},
    }}


def card_label(text: str) -> rx.Component:
    """A cell's column title, shown inside the cell on narrow screens only (where the header row is hidden)."""
    return rx.text(text, size="1", color_scheme="gray", weight="medium", display=NARROW_ONLY,
                   class_name="card-label")


def labelled_cell(label: str, *children: rx.Component, **props: object) -> rx.Component:
    return rx.table.cell(card_label(label), *children, **props)


def live_badge(active: rx.Var[bool]) -> rx.Component:
    return rx.cond(active, rx.badge(rx.icon("refresh_cw", size=12), "Live", color_scheme="blue", variant="outline",
                                    custom_attrs={"data-testid": "live-indicator"}))


def muted(text: str, test_id: str) -> rx.Component:
    return rx.text(text, color_scheme="gray", size="2", custom_attrs={"data-testid": test_id})


def _result_cell(row: RunRow) -> rx.Component:
    return rx.cond(
        row.active,
        rx.text(row.progress, size="1", custom_attrs={"data-testid": "run-progress"}),
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
    )


def _run_row(row: RunRow, show_connection: bool) -> rx.Component:
    cells = [
        labelled_cell("Status", BadgeCatalog.badge(BadgeCatalog.RUN_STATUS, row.status,
                                                   test_id=f"run-status-{row.id}")),
        labelled_cell("Operation", rx.link(row.op_label, href="/runs/" + row.id,
                                           custom_attrs={"data-testid": "run-link"})),
    ]
    if show_connection:
        cells.append(labelled_cell("Connection", rx.link(
            row.connection_name, href="/connections/" + row.connection_id, color_scheme="gray",
            custom_attrs={"data-testid": "run-connection"})))
    cells += [
        labelled_cell("Result", _result_cell(row)),
        labelled_cell("Started by", rx.text(row.starter, size="1", custom_attrs={"data-testid": "run-row-starter"})),
        labelled_cell("Queued", rx.text(row.created, size="1")),
        labelled_cell("Finished", rx.text(row.finished, size="1")),
    ]
    return rx.table.row(*cells, custom_attrs={"data-testid": "run-row", "data-run-id": row.id,
                                              "data-status": row.status, "data-op-type": row.op_type})


def run_table(rows: ArrayVar[Sequence[RunRow]], empty: rx.Component, *, show_connection: bool = True,
              test_id: str = "runs-table") -> rx.Component:
    titles = ["Status", "Operation", *(["Connection"] if show_connection else []), "Result", "Started by", "Queued",
              "Finished"]
    return rx.cond(
        rows.length() > 0,
        rx.table.root(
            rx.table.header(rx.table.row(*(rx.table.column_header_cell(title) for title in titles))),
            rx.table.body(rx.foreach(rows, lambda row: _run_row(row, show_connection))),
            width="100%",
            variant="surface",
            style=cards_on_narrow_screens(),
            custom_attrs={"data-testid": test_id},
        ),
        empty,
    )


def _reason(row: SectionRow) -> rx.Component:
    return rx.vstack(
        rx.cond(row.reason_code != "", rx.code(row.reason_code, size="1")),
        rx.cond(row.message != "", rx.text(row.message, size="1")),
        rx.cond(row.remediation != "", rx.text(row.remediation, size="1", color_scheme="gray")),
        spacing="1",
    )


def sections_table(rows: ArrayVar[Sequence[SectionRow]], *, counts: bool = True, test_id: str = "sections-table"
                   ) -> rx.Component:
    """Inventory sections (with page and item counts) or compliance sources (``counts=False``)."""
    titles = ["Section", "Status", *(["Pages", "Items", "Removed"] if counts else []), "Reason"]

    def row_view(row: SectionRow) -> rx.Component:
        cells = [rx.table.cell(rx.text(row.label, size="2")),
                 rx.table.cell(BadgeCatalog.badge(BadgeCatalog.SECTION_STATUS, row.status,
                                                  test_id=f"section-status-{row.name}"))]
        if counts:
            cells += [rx.table.cell(rx.text(row.pages, size="2")),
                      rx.table.cell(rx.text(row.item_count, size="2", custom_attrs={"data-testid": f"section-items-"
                                                                                               f"{row.name}"})),
                      rx.table.cell(rx.text(row.removed, size="2"))]
        cells.append(rx.table.cell(_reason(row)))
        return rx.table.row(*cells, custom_attrs={"data-testid": "section-row", "data-section": row.name,
                                                  "data-status": row.status})

    return rx.table.root(
        rx.table.header(rx.table.row(*(rx.table.column_header_cell(title) for title in titles))),
        rx.table.body(rx.foreach(rows, row_view)),
        width="100%",
        size="1",
        variant="surface",
        custom_attrs={"data-testid": test_id},
    )


def readiness_table(rows: ArrayVar[Sequence[ReadinessRow]]) -> rx.Component:
    def row_view(row: ReadinessRow) -> rx.Component:
        return rx.table.row(
            rx.table.cell(rx.text(row.label, size="2", weight="medium")),
            rx.table.cell(BadgeCatalog.badge(BadgeCatalog.READINESS, row.status,
                                             test_id=f"readiness-{row.capability}")),
            rx.table.cell(rx.text(row.detail, size="2", custom_attrs={"data-testid": f"readiness-label-"
                                                                                     f"{row.capability}"})),
            rx.table.cell(rx.text(row.required, size="1", font_family="monospace", word_break="break-word")),
            custom_attrs={"data-testid": "readiness-row", "data-capability": row.capability,
                          "data-status": row.status},
        )

    return rx.table.root(
        rx.table.header(rx.table.row(*(rx.table.column_header_cell(t) for t in
                                       ("Capability", "Readiness", "Detail", "Needs")))),
        rx.table.body(rx.foreach(rows, row_view)),
        width="100%",
        size="1",
        variant="surface",
        custom_attrs={"data-testid": "readiness-table"},
    )


def permissions_table(rows: ArrayVar[Sequence[PermissionRow]]) -> rx.Component:
    def row_view(row: PermissionRow) -> rx.Component:
        return rx.table.row(
            rx.table.cell(rx.code(row.permission, size="1")),
            rx.table.cell(rx.text(row.needed_for, size="1")),
            rx.table.cell(rx.hstack(
                BadgeCatalog.badge(BadgeCatalog.PERMISSION_GRANT, row.grant),
                rx.cond(row.note != "", rx.text(row.note, size="1", color_scheme="gray")),
                spacing="2", align="center", wrap="wrap")),
            custom_attrs={"data-testid": "permission-row", "data-permission": row.permission,
                          "data-grant": row.grant},
        )

    return rx.table.root(
        rx.table.header(rx.table.row(*(rx.table.column_header_cell(t) for t in
                                       ("Required permission", "Needed for", "Granted")))),
        rx.table.body(rx.foreach(rows, row_view)),
        width="100%",
        size="1",
        variant="surface",
        custom_attrs={"data-testid": "permissions-table"},
    )


def over_privilege_callout(rows: ArrayVar[Sequence[OverPrivilegeRow]]) -> rx.Component:
    return rx.cond(
        rows.length() > 0,
        rx.callout(
            rx.vstack(
                rx.text("The app holds more than Atlas needs. Remove these permissions (least privilege):",
                        size="2", weight="medium"),
                rx.foreach(rows, lambda row: rx.hstack(
                    rx.code(row.permission, size="1"), rx.text(row.reason, size="1"), spacing="2", align="center",
                    wrap="wrap", custom_attrs={"data-testid": "over-privileged", "data-permission": row.permission})),
                spacing="1",
            ),
            icon="shield_alert",
            color_scheme="amber",
            width="100%",
            custom_attrs={"data-testid": "over-privileged-warning"},
        ),
    )


def warnings_callout(warnings: ArrayVar[Sequence[str]], test_id: str = "health-warnings") -> rx.Component:
    return rx.cond(
        warnings.length() > 0,
        rx.callout(
            rx.vstack(rx.foreach(warnings, lambda warning: rx.text(warning, size="2")), spacing="1"),
            icon="triangle_alert",
            color_scheme="amber",
            width="100%",
            custom_attrs={"data-testid": test_id},
        ),
    )


def counts_table(rows: ArrayVar[Sequence[CountRow]], test_id: str, *, with_group: bool = False) -> rx.Component:
    def row_view(row: CountRow) -> rx.Component:
        cells = [rx.table.cell(rx.text(row.group, size="1", color_scheme="gray"))] if with_group else []
        cells += [rx.table.cell(rx.text(row.label, size="2")),
                  rx.table.cell(rx.text(row.value, size="2", weight="medium"))]
        return rx.table.row(*cells, custom_attrs={"data-testid": "count-row", "data-key": row.key,
                                                  "data-value": row.value})

    return rx.table.root(
        rx.table.body(rx.foreach(rows, row_view)),
        size="1",
        variant="surface",
        custom_attrs={"data-testid": test_id},
    )


def detail_list(items: ArrayVar[Sequence[DetailItem]], test_id: str) -> rx.Component:
    return rx.data_list.root(
        rx.foreach(items, lambda item: rx.data_list.item(
            rx.data_list.label(item.key),
            rx.data_list.value(rx.text(item.value, size="2", word_break="break-word")),
        )),
        custom_attrs={"data-testid": test_id},
    )
