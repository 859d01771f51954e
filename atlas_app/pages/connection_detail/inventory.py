"""The connection page's inventory section (counts per kind, the last sync, a paged item table) and its
compliance trend."""

from __future__ import annotations

import reflex as rx

from atlas_app.components.badges import BadgeCatalog
from atlas_app.components.exports import export_links
from atlas_app.components.tables import muted, sections_table
from atlas_app.pages.connection_detail.reads import TREND_SERIES, ItemRow, KindRow
from atlas_app.pages.connection_detail.section import section
from atlas_app.pages.connection_detail.state import ConnectionDetailState as S
from atlas_services.inventory import KIND_LABELS
from atlas_services.runs.summaries import NOT_IN_GRAPH_V1


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
            export_links("inventory", [("connection", S.detail_id), ("kind", S.items_kind),
                                       ("search", S.items_search),
                                       ("removed", rx.cond(S.items_removed, "1", "0"))], test_id="items-export"),
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


def _not_in_graph_v1() -> rx.Component:
    # Said on every inventory, synced or not, so nobody takes the classic profiles for the whole configuration.
    return rx.callout(NOT_IN_GRAPH_V1, icon="info", color_scheme="gray", size="1", width="100%",
                      custom_attrs={"data-testid": "inventory-not-in-graph-v1"})


def inventory() -> rx.Component:
    return section(
        "Inventory",
        rx.grid(rx.foreach(S.kinds, _kind_card), columns=rx.breakpoints(initial="2", md="4"), spacing="3",
                width="100%"),
        _not_in_graph_v1(),
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


def compliance() -> rx.Component:
    return section(
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
