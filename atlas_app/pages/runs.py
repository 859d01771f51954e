"""/runs/[run_id]: one operation run, live: status, timeline, reason and remediation, progress, summary, cancel.

The id comes from the URL (the browser's: it is checked like any argument). Another tenant's run and a
run that does not exist look the same. While the run is active the page polls PostgreSQL every few seconds and
shows the progress its worker records (pages fetched, items stored, per section). The summary is shown by
operation: a health check's organization, readiness and permissions; an inventory sync's sections; a compliance
snapshot's counts. Anything else in it is listed as plain text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import reflex as rx

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
from atlas_app.state.guard import PAGE_DENIED, BadArgument, ignored_arg, requires_capability, uuid_arg
from atlas_app.state.messages import user_message, when
from atlas_app.state.polling import claim_poll, release_poll
from atlas_app.state.rows import (
    CREDENTIAL_KINDS,
    CountRow,
    DetailItem,
    OverPrivilegeRow,
    PermissionRow,
    ReadinessRow,
    SectionRow,
    compliance_rows,
    detail_items,
    device_rows,
    iso_when,
    op_label,
    other_details,
    over_privilege_rows,
    permission_rows,
    permission_source_label,
    progress_text,
    readiness_from_summary,
    readiness_rows,
    section_rows,
)
from atlas_app.state.session import SessionState
from atlas_services.authz import Actor, Capability
from atlas_services.errors import NotFound
from atlas_services.models import ACTIVE_RUN_STATUSES
from atlas_services.operations import RunView, cancel_run, get_run

ROUTE = "/runs/[run_id]"
POLL_MILLISECONDS = 2000
CANCEL_MESSAGES = {
    "cancelled": "The run was cancelled.",
    "cancel_requested": "Cancellation requested: the run stops at its next safe point.",
    "finished": "The run had already finished.",
}


# The summary parts each operation's page shows on its own (the rest is listed as text).
SHOWN_PARTS = {
    "health_check": {"display_name", "organization_id", "default_domain", "verified_domains", "permissions",
                     "readiness", "over_privileged", "warnings", "credential", "checked_at"},
    "inventory_sync": {"sections", "pages_fetched", "items_stored", "items_removed", "counts", "graph",
                       "duration_seconds"},
    "compliance_snapshot": {"sources", "counts"},
}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _health_facts(summary: Mapping[str, Any]) -> list[DetailItem]:
    credential = _mapping(summary.get("credential"))
    kind = str(credential.get("kind") or "")
    return detail_items([
        ("Organization", summary.get("display_name")),
        ("Organization id", summary.get("organization_id")),
        ("Default domain", summary.get("default_domain")),
        ("Verified domains", summary.get("verified_domains")),
        ("Checked at", iso_when(summary.get("checked_at"))),
        ("Credential", CREDENTIAL_KINDS.get(kind, kind)),
        ("Credential hint", credential.get("hint")),
        ("Credential expires", iso_when(credential.get("expires_at"))),
        ("Credential warning", credential.get("warning")),
    ])


def _inventory_facts(summary: Mapping[str, Any]) -> list[DetailItem]:
    graph = _mapping(summary.get("graph"))
    duration = summary.get("duration_seconds")
    return detail_items([
        ("Pages fetched", summary.get("pages_fetched")),
        ("Items stored", summary.get("items_stored")),
        ("Items marked removed", summary.get("items_removed")),
        ("Graph requests", graph.get("requests")),
        ("Retries", graph.get("retries")),
        ("Throttled", graph.get("throttled")),
        ("Duration", f"{duration:.1f} s" if isinstance(duration, int | float) else None),
    ])


def _run_id_from_path(path: str) -> str | None:
    """The run id in /runs/<id>, checked like any argument from the browser."""
    parts = [part for part in path.split("/") if part]
    if len(parts) != 2 or parts[0] != "runs":
        return None
    try:
        return uuid_arg(parts[1])
    except BadArgument:
        return None


class RunState(SessionState):
    found: bool = False
    loaded: bool = False
    detail_id: str = ""
    op_label: str = ""
    status: str = ""
    connection_name: str = ""
    run_connection_id: str = ""
    reason_code: str = ""
    message: str = ""
    remediation: str = ""
    created: str = ""
    started: str = ""
    finished: str = ""
    op_type: str = ""
    is_active: bool = False
    # Live progress (while active).
    progress: str = ""
    progress_sections: list[SectionRow] = rx.field(default_factory=list)
    # The summary, by operation.
    facts: list[DetailItem] = rx.field(default_factory=list)
    readiness: list[ReadinessRow] = rx.field(default_factory=list)
    required_permissions: list[PermissionRow] = rx.field(default_factory=list)
    permission_source: str = ""
    permission_note: str = ""
    granted: list[str] = rx.field(default_factory=list)
    not_yet_in_token: list[str] = rx.field(default_factory=list)
    over_privileged: list[OverPrivilegeRow] = rx.field(default_factory=list)
    warnings: list[str] = rx.field(default_factory=list)
    sections: list[SectionRow] = rx.field(default_factory=list)
    compliance: list[CountRow] = rx.field(default_factory=list)
    devices: list[CountRow] = rx.field(default_factory=list)
    # Whatever else the summary holds, as text.
    summary: list[DetailItem] = rx.field(default_factory=list)

    _poll_started_at: float = 0.0

    # ---- private helpers ----

    def _clear_page(self) -> None:
        self._show(None)
        self.loaded = False

    def _show(self, view: RunView | None) -> None:
        self.found = view is not None
        self.loaded = True
        self.detail_id = str(view.id) if view else ""
        self.op_type = view.op_type if view else ""
        self.op_label = op_label(view.op_type) if view else ""
        self.status = str(view.status) if view else ""
        self.connection_name = view.connection_name if view else ""
        self.run_connection_id = str(view.connection_id) if view else ""
        self.reason_code = (view.reason_code or "") if view else ""
        self.message = (view.message or "") if view else ""
        self.remediation = (view.remediation or "") if view else ""
        self.created = when(view.created_at) if view else ""
        self.started = when(view.started_at) if view else ""
        self.finished = when(view.finished_at) if view else ""
        self.is_active = bool(view and view.status in ACTIVE_RUN_STATUSES)
        self._show_progress(self.op_type, view.progress if view and self.is_active else {})
        self._show_summary(self.op_type, view.summary if view else {})

    def _show_progress(self, op_type: str, progress: Mapping[str, Any]) -> None:
        self.progress = progress_text(op_type, progress)
        parts = _mapping(progress)
        self.progress_sections = section_rows(parts.get("sections") or parts.get("sources"))

    def _show_summary(self, op_type: str, summary: Mapping[str, Any]) -> None:
        summary = _mapping(summary)
        health = op_type == "health_check"
        permissions = _mapping(summary.get("permissions")) if health else {}
        readiness = readiness_from_summary(summary.get("readiness")) if health else []
        granted = permissions.get("granted")
        granted = [str(p) for p in granted] if isinstance(granted, list) else None
        self.readiness = readiness_rows(readiness)
        self.required_permissions = permission_rows(readiness, granted) if permissions else []
        self.permission_source = permission_source_label(permissions.get("source"))
        self.permission_note = str(permissions.get("note") or "")
        self.granted = granted or []
        not_yet = permissions.get("not_yet_in_token")
        self.not_yet_in_token = [str(p) for p in not_yet] if isinstance(not_yet, list) else []
        self.over_privileged = over_privilege_rows(summary.get("over_privileged")) if health else []
        warnings = summary.get("warnings") if health else None
        self.warnings = [str(w) for w in warnings] if isinstance(warnings, list) else []
        if health:
            self.facts = _health_facts(summary)
        elif op_type == "inventory_sync":
            self.facts = _inventory_facts(summary)
        else:
            self.facts = []
        if op_type == "inventory_sync":
            self.sections = section_rows(summary.get("sections"))
        elif op_type == "compliance_snapshot":
            self.sections = section_rows(summary.get("sources"))
        else:
            self.sections = []
        counts = summary.get("counts") if op_type == "compliance_snapshot" else None
        self.compliance = compliance_rows(counts)
        self.devices = device_rows(counts)
        self.summary = other_details(summary, SHOWN_PARTS.get(op_type, set()))

    async def _read(self, actor: Actor, run_id: str | None) -> tuple[RunView | None, str]:
        """The run (or None when it is not visible) and an error message for anything else."""
        if run_id is None:
            return None, ""
        try:
            return await asyncio.to_thread(get_run, actor, run_id), ""
        except NotFound:
            return None, ""
        except Exception as exc:  # noqa: BLE001 - translated for the user
            return None, user_message(exc)

    # ---- events ----

    @requires_capability(Capability.PROVIDER_VIEW, denied=PAGE_DENIED)
    async def on_page_load(self, actor: Actor):
        self.notice = ""
        view, failure = await self._read(actor, _run_id_from_path(self.router.url.path))
        self._show(view)
        if failure:
            self._say(failure, "error")
        return None

    @requires_capability(Capability.PROVIDER_VIEW, background=True, temporal=True, tick=ignored_arg)
    async def poll(self, actor: Actor, tick: Any):
        """Timer tick while the run is active: re-read it from PostgreSQL."""
        async with self:
            if not self.is_active or not claim_poll(self):
                return None
            run_id = self.detail_id or None
        view, failure = await self._read(actor, run_id)
        async with self:
            release_poll(self)
            if failure:
                self._say(failure, "error")
                self.is_active = False
            elif self.detail_id == (run_id or ""):  # still the same page
                self._show(view)
        return None

    @requires_capability(Capability.PROVIDER_RUN, run_ref=uuid_arg)
    async def cancel_run(self, actor: Actor, run_ref: Any):
        try:
            outcome = await asyncio.to_thread(cancel_run, actor, run_ref)
        except Exception as exc:  # noqa: BLE001 - translated for the user
            self._say(user_message(exc), "error")
            return None
        self._say(CANCEL_MESSAGES.get(outcome, "Done."), "success")
        if run_ref == self.detail_id:
            view, _ = await self._read(actor, run_ref)
            self._show(view)
        return None


# ---------------------------------------------------------------- view


def _field(label: str, value: rx.Var, test_id: str) -> rx.Component:
    return rx.data_list.item(
        rx.data_list.label(label),
        rx.data_list.value(rx.cond(value != "", rx.text(value, custom_attrs={"data-testid": test_id}),
                                   rx.text("—", color_scheme="gray"))),
    )


def _by_op(rows: rx.Var, test_id: str) -> rx.Component:
    """Inventory sections with their counts, or compliance sources."""
    return rx.cond(RunState.op_type == "inventory_sync", sections_table(rows, test_id=test_id),
                   sections_table(rows, counts=False, test_id=test_id))


def _progress() -> rx.Component:
    return rx.cond(
        RunState.is_active & ((RunState.progress != "") | (RunState.progress_sections.length() > 0)),
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
            rx.text(rx.cond(RunState.is_active, "The summary appears when the run finishes.", "No summary."),
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
            live_badge(RunState.is_active),
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
            _field("Queued", RunState.created, "run-created"),
            _field("Started", RunState.started, "run-started"),
            _field("Finished", RunState.finished, "run-finished"),
            _field("Reason", RunState.reason_code, "run-reason"),
            _field("Message", RunState.message, "run-message"),
            _field("What to do", RunState.remediation, "run-remediation"),
        ),
        _progress(),
        rx.cond(
            RunState.is_active & SessionState.can_run,
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
        rx.moment(interval=rx.cond(RunState.is_active, POLL_MILLISECONDS, 0), on_change=RunState.poll,
                  display="none"),
    )
