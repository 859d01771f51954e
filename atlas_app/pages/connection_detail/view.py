"""/connections/[connection_id], the view: the header with the start buttons, then each section."""

from __future__ import annotations

import reflex as rx

from atlas_app.components.badges import BadgeCatalog
from atlas_app.components.layout import page_frame
from atlas_app.components.tables import live_badge, muted, run_table
from atlas_app.pages.connection_detail.health import health
from atlas_app.pages.connection_detail.inventory import compliance, inventory
from atlas_app.pages.connection_detail.onboarding import onboarding_section
from atlas_app.pages.connection_detail.schedule import schedule_section
from atlas_app.pages.connection_detail.section import section
from atlas_app.pages.connection_detail.state import ConnectionDetailState as S
from atlas_app.state.rows import op_label
from atlas_app.state.session import SessionState

ROUTE = "/connections/[connection_id]"
POLL_MILLISECONDS = 2000

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


def _runs() -> rx.Component:
    return section(
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
            rx.vstack(_header(), health(), onboarding_section(S.consent_url, S.manifest, S.permission_needs), _runs(),
                      schedule_section(S.schedules, SessionState.can_manage, S.enabled, S.schedule_error,
                                       S.save_schedule, S.clear_schedule),
                      inventory(), compliance(), spacing="6", width="100%",
                      custom_attrs={"data-testid": "connection-detail", "data-connection-id": S.detail_id}),
            rx.cond(S.loaded,
                    rx.callout("Connection not found. It may have been deleted.", icon="search_x",
                               color_scheme="gray", custom_attrs={"data-testid": "connection-not-found"}),
                    rx.text("Loading…", color_scheme="gray")),
        ),
        rx.moment(interval=rx.cond(S.has_active, POLL_MILLISECONDS, 0), on_change=S.poll, display="none"),
    )
