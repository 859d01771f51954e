"""/runs/[run_id]'s state: one operation run, re-read from PostgreSQL while it is active.

The id comes from the URL (the browser's: it is checked like any argument). Another tenant's run and a
run that does not exist look the same. The run's summary arrives typed (atlas_services.runs.summaries); this
state only turns it into rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import reflex as rx

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
    readiness_rows,
    section_rows,
)
from atlas_app.state.session import SessionState
from atlas_services.authz import Actor, Capability
from atlas_services.errors import NotFound
from atlas_services.models import ACTIVE_RUN_STATUSES
from atlas_services.runs.queries import RunView, cancel_run, get_run
from atlas_services.runs.summaries import (
    ComplianceSnapshotSummary,
    HealthCheckSummary,
    InventorySyncSummary,
    OtherSummary,
    RunSummary,
)

ROUTE = "/runs/[run_id]"
POLL_MILLISECONDS = 2000
CANCEL_MESSAGES = {
    "cancelled": "The run was cancelled.",
    "cancel_requested": "Cancellation requested: the run stops at its next safe point.",
    "finished": "The run had already finished.",
}
# The summary parts each kind of summary shows on its own (the rest is listed as text).
SHOWN_PARTS: Mapping[type[RunSummary], set[str]] = {
    HealthCheckSummary: {"display_name", "organization_id", "default_domain", "verified_domains", "permissions",
                         "readiness", "over_privileged", "warnings", "credential", "checked_at"},
    InventorySyncSummary: {"sections", "pages_fetched", "items_stored", "items_removed", "counts", "graph",
                           "duration_seconds"},
    ComplianceSnapshotSummary: {"sources", "counts"},
    OtherSummary: set(),
}


def _health_facts(summary: HealthCheckSummary) -> list[DetailItem]:
    credential = summary.credential
    kind = (credential.kind or "") if credential else ""
    return detail_items([
        ("Organization", summary.display_name),
        ("Organization id", summary.organization_id),
        ("Default domain", summary.default_domain),
        ("Verified domains", summary.verified_domains),
        ("Checked at", iso_when(summary.checked_at)),
        ("Credential", CREDENTIAL_KINDS.get(kind, kind)),
        ("Credential hint", credential.hint if credential else None),
        ("Credential expires", iso_when(credential.expires_at) if credential else ""),
        ("Credential warning", credential.warning if credential else None),
    ])


def _inventory_facts(summary: InventorySyncSummary) -> list[DetailItem]:
    graph = summary.graph
    duration = summary.duration_seconds
    return detail_items([
        ("Pages fetched", summary.pages_fetched),
        ("Items stored", summary.items_stored),
        ("Items marked removed", summary.items_removed),
        ("Graph requests", graph.requests if graph else None),
        ("Retries", graph.retries if graph else None),
        ("Throttled", graph.throttled if graph else None),
        ("Duration", f"{duration:.1f} s" if duration is not None else None),
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
        self._show_summary(view.summary if view else OtherSummary())

    def _show_progress(self, op_type: str, progress: Mapping[str, Any]) -> None:
        self.progress = progress_text(op_type, progress)
        parts = progress.get("sections") or progress.get("sources")
        self.progress_sections = section_rows(parts if isinstance(parts, Mapping) else None)

    def _show_summary(self, summary: RunSummary) -> None:
        health = summary if isinstance(summary, HealthCheckSummary) else HealthCheckSummary()
        permissions = health.permissions
        readiness = health.readiness_list()
        granted = permissions.granted if permissions else None
        self.readiness = readiness_rows(readiness)
        self.required_permissions = permission_rows(readiness, granted) if permissions else []
        self.permission_source = permission_source_label(permissions.source if permissions else None)
        self.permission_note = (permissions.note or "") if permissions else ""
        self.granted = list(granted or [])
        self.not_yet_in_token = list(permissions.not_yet_in_token) if permissions else []
        self.over_privileged = over_privilege_rows(health.over_privileged)
        self.warnings = list(health.warnings)
        self.facts = (_health_facts(summary) if isinstance(summary, HealthCheckSummary)
                      else _inventory_facts(summary) if isinstance(summary, InventorySyncSummary) else [])
        self.sections = section_rows(summary.sections if isinstance(summary, InventorySyncSummary)
                                     else summary.sources if isinstance(summary, ComplianceSnapshotSummary) else None)
        counts = summary.counts if isinstance(summary, ComplianceSnapshotSummary) else {}
        self.compliance = compliance_rows(counts)
        self.devices = device_rows(counts)
        self.summary = other_details(summary.stored(), SHOWN_PARTS[type(summary)])

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
