"""/runs/[run_id]'s view: status, timeline, reason and remediation, live progress, summary by operation, cancel.

While the run is active the page polls PostgreSQL every few seconds (see state.py). The summary is shown by
operation: a health check's organization, readiness and permissions; an inventory sync's sections; a compliance
snapshot's counts. Anything else in it is listed as plain text.
"""

from __future__ import annotations

from collections.abc import Sequence

import reflex as rx
from reflex.vars import ArrayVar

from atlas_app.components.badges import BadgeCatalog
from atlas_app.components.layout import page_frame
from atlas_app.components.tables import (
    counts_table,
    detail_list,
    live_badge,
    over_privilege_callout,
    permissions_table,
    readiness_table,
    sections_table,
    warnings_callout,
)
from atlas_app.pages.runs.state import POLL_MILLISECONDS, RunState
from atlas_app.state.rows import SectionRow
from atlas_app.state.session import SessionState


def _field(label: str, value: rx.Var[str], test_id: str) -> rx.Component:
    return rx.data_list.item(
        rx.data_list.label(label),
        rx.data_list.value(rx.cond(value != "", rx.text(value, custom_attrs={"data-testid": test_id}),
                                   rx.text("—", color_scheme="gray"))),
    )


def _by_op(rows: ArrayVar[Sequence[SectionRow]], test_id: str) -> rx.Component:
    """Inventory sections with their counts, or compliance sources."""
    return rx.cond(RunState.op_type == "inventory_sync", sections_table(rows, test_id=test_id),
                   sections_table(rows, counts=False, test_id=test_id))


def _progress() -> rx.Component:
    return rx.cond(
        RunState.has_active & ((RunState.progress != "") | (RunState.progress_sections.length() > 0)),
        rx.card(
            rx.vstack(
                rx.hstack(rx.icon("loader", size=16), rx.text("Progress", weight="medium"), align="center"),
                rx.cond(RunState.progress != "",
                        rx.text(RunState.progress, size="2", custom_attrs={"data-testid": "run-progress"})),
                rx.cond(RunState.progress_sections.length() > 0,
                        _by_op(RunState.progress_sections, "progress-sections")),
                spacing="2",
                width="100%",
            ),
            width="100%",
            custom_attrs={"data-testid": "run-live-progress"},
        ),
    )


def _health_summary() -> rx.Component:
    return rx.vstack(
        warnings_callout(RunState.warnings, "run-warnings"),
        over_privilege_callout(RunState.over_privileged),
        rx.cond(RunState.readiness.length() > 0,
                rx.vstack(rx.heading("Readiness per capability", size="3"), readiness_table(RunState.readiness),
                          spacing="2", width="100%")),
        rx.cond(RunState.required_permissions.length() > 0,
                rx.vstack(rx.heading("Granted vs required permissions", size="3"),
                          permissions_table(RunState.required_permissions), spacing="2", width="100%")),
        rx.cond(
            RunState.permission_source != "",
            rx.vstack(
                rx.text("Granted permissions, read from ", RunState.permission_source, ":", size="2",
                        custom_attrs={"data-testid": "permission-source"}),
                rx.flex(rx.foreach(RunState.granted, lambda p: rx.code(p, size="1")), gap="2", wrap="wrap"),
                rx.cond(RunState.not_yet_in_token.length() > 0,
                        rx.text("Granted but not yet in the access token (takes effect with a new token): ",
                                RunState.not_yet_in_token.join(", "), size="1", color_scheme="gray")),
                rx.cond(RunState.permission_note != "",
                        rx.text(RunState.permission_note, size="1", color_scheme="gray")),
                spacing="2",
                width="100%",
            ),
        ),
        spacing="3",
        width="100%",
    )


def _compliance_summary() -> rx.Component:
    return rx.cond(
        (RunState.compliance.length() > 0) | (RunState.devices.length() > 0),
        rx.hstack(
            rx.cond(RunState.compliance.length() > 0,
                    rx.vstack(rx.heading("Device compliance", size="3"),
                              counts_table(RunState.compliance, "compliance-counts"), spacing="2")),
            rx.cond(RunState.devices.length() > 0,
                    rx.vstack(rx.heading("Devices", size="3"),
                              counts_table(RunState.devices, "device-counts", with_group=True), spacing="2")),
            spacing="5",
            align="start",
            wrap="wrap",
        ),
    )


def _summary() -> rx.Component:
    has_any = ((RunState.facts.length() > 0) | (RunState.readiness.length() > 0)
               | (RunState.sections.length() > 0) | (RunState.compliance.length() > 0)
               | (RunState.devices.length() > 0) | (RunState.summary.length() > 0)
               | (RunState.permission_source != ""))
    return rx.vstack(
        rx.heading("Summary", size="4"),
        rx.cond(
            has_any,
            rx.vstack(
                rx.cond(RunState.facts.length() > 0, detail_list(RunState.facts, "run-facts")),
                rx.cond(RunState.op_type == "health_check", _health_summary()),
                rx.cond(RunState.sections.length() > 0,
                        rx.vstack(rx.heading(rx.cond(RunState.op_type == "inventory_sync", "Sections", "Sources"),
                                             size="3"),
                                  _by_op(RunState.sections, "sections-table"),
                                  spacing="2", width="100%")),
                _compliance_summary(),
                rx.cond(RunState.summary.length() > 0,
                        rx.vstack(rx.heading("Other details", size="3"), detail_list(RunState.summary, "run-other"),
                                  spacing="2", width="100%")),
                spacing="4",
                width="100%",
            ),
            rx.text(rx.cond(RunState.has_active, "The summary appears when the run finishes.", "No summary."),
                    color_scheme="gray", size="2", custom_attrs={"data-testid": "run-no-summary"}),
        ),
        spacing="3",
        width="100%",
        custom_attrs={"data-testid": "run-summary"},
    )


def _details() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading(RunState.op_label, size="6"),
            BadgeCatalog.badge(BadgeCatalog.RUN_STATUS, RunState.status, test_id="run-detail-status"),
            live_badge(RunState.has_active),
            align="center",
            spacing="3",
        ),
        rx.data_list.root(
            rx.data_list.item(
                rx.data_list.label("Connection"),
                rx.data_list.value(rx.link(RunState.connection_name, href="/connections/" + RunState.run_connection_id,
                                           custom_attrs={"data-testid": "run-connection"})),
            ),
            _field("Run id", RunState.detail_id, "run-id"),
            _field("Started by", RunState.starter, "run-starter"),
            _field("Queued", RunState.created, "run-created"),
            _field("Started", RunState.started, "run-started"),
            _field("Finished", RunState.finished, "run-finished"),
            _field("Reason", RunState.reason_code, "run-reason"),
            _field("Message", RunState.message, "run-message"),
            _field("What to do", RunState.remediation, "run-remediation"),
        ),
        _progress(),
        rx.cond(
            RunState.has_active & SessionState.can_run,
            rx.button(rx.icon("circle_stop", size=14), "Cancel run", color_scheme="red", variant="soft",
                      on_click=RunState.cancel_run(RunState.detail_id),
                      custom_attrs={"data-testid": "cancel-run"}),
        ),
        _summary(),
        spacing="4",
        width="100%",
        custom_attrs={"data-testid": "run-detail", "data-op-type": RunState.op_type},
    )


def run_page() -> rx.Component:
    return page_frame(
        rx.hstack(rx.link("← Operations", href="/operations", size="2"),
                  rx.link("Connections", href="/connections", size="2"), spacing="4"),
        rx.cond(
            RunState.found,
            _details(),
            rx.cond(RunState.loaded,
                    rx.callout("Run not found. It may have been removed.",
                               icon="search_x", color_scheme="gray", custom_attrs={"data-testid": "run-not-found"}),
                    rx.text("Loading…", color_scheme="gray")),
        ),
        rx.moment(interval=rx.cond(RunState.has_active, POLL_MILLISECONDS, 0), on_change=RunState.poll,
                  display="none"),
    )
