"""/runs/[run_id]'s state: one operation run, re-read from PostgreSQL while it is active.

The id comes from the URL (the browser's: it is checked like any argument). Another tenant's run and a
run that does not exist look the same. The run's summary arrives typed (atlas_services.runs.summaries); this
state only turns it into rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import reflex as rx

from atlas_app.state.guard import PAGE_DENIED, BadArgument, requires_capability, uuid_arg
from atlas_app.state.live import LivePageState
from atlas_app.state.messages import when
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
from atlas_app.state.session import FAILED, SessionState
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


class RunState(LivePageState, SessionState):
    watched_with: ClassVar[Capability] = Capability.PROVIDER_VIEW

    found: rx.Field[bool] = rx.field(False)
    detail_id: rx.Field[str] = rx.field("")
    op_label: rx.Field[str] = rx.field("")
    status: rx.Field[str] = rx.field("")
    connection_name: rx.Field[str] = rx.field("")
    starter: rx.Field[str] = rx.field("")  # "Schedule", the starter's email, or "(deleted user)"
    run_connection_id: rx.Field[str] = rx.field("")
    reason_code: rx.Field[str] = rx.field("")
    message: rx.Field[str] = rx.field("")
    remediation: rx.Field[str] = rx.field("")
    created: rx.Field[str] = rx.field("")
    started: rx.Field[str] = rx.field("")
    finished: rx.Field[str] = rx.field("")
    op_type: rx.Field[str] = rx.field("")
    # Live progress (while active).
    progress: rx.Field[str] = rx.field("")
    progress_sections: rx.Field[list[SectionRow]] = rx.field(default_factory=list)
    # The summary, by operation.
    facts: rx.Field[list[DetailItem]] = rx.field(default_factory=list)
    readiness: rx.Field[list[ReadinessRow]] = rx.field(default_factory=list)
    required_permissions: rx.Field[list[PermissionRow]] = rx.field(default_factory=list)
    permission_source: rx.Field[str] = rx.field("")
    permission_note: rx.Field[str] = rx.field("")
    granted: rx.Field[list[str]] = rx.field(default_factory=list)
    not_yet_in_token: rx.Field[list[str]] = rx.field(default_factory=list)
    over_privileged: rx.Field[list[OverPrivilegeRow]] = rx.field(default_factory=list)
    warnings: rx.Field[list[str]] = rx.field(default_factory=list)
    sections: rx.Field[list[SectionRow]] = rx.field(default_factory=list)
    compliance: rx.Field[list[CountRow]] = rx.field(default_factory=list)
    devices: rx.Field[list[CountRow]] = rx.field(default_factory=list)
    # Whatever else the summary holds, as text.
    summary: rx.Field[list[DetailItem]] = rx.field(default_factory=list)

    # ---- live-page hooks ----

    def _position(self) -> str | None:
        return _run_id_from_path(self.router.url.path)

    def _poll_position(self) -> str | None:
        return self.detail_id if self.has_active and self.detail_id else None

    def _still_showing(self, position: str | None) -> bool:
        return position == self.detail_id  # the tab may have moved to another run while the read ran

    @staticmethod
    def _read_snapshot(actor: Actor, position: str | None) -> RunView | None:
        """The run, or None when there is none to see (another tenant's run looks the same)."""
        if position is None:
            return None
        try:
            return get_run(actor, position)
        except NotFound:
            return None

    def _apply(self, snapshot: RunView | None, position: str | None) -> None:
        self._show_run(snapshot)

    def _has_active(self, snapshot: RunView | None) -> bool:
        return bool(snapshot and snapshot.status in ACTIVE_RUN_STATUSES)

    # ---- private helpers ----

    def _clear_page(self) -> None:
        self._show_run(None)
        self.loaded = self.has_active = False

    def _show_run(self, view: RunView | None) -> None:
        active = self._has_active(view)
        self.found = view is not None
        self.detail_id = str(view.id) if view else ""
        self.op_type = view.op_type if view else ""
        self.op_label = op_label(view.op_type) if view else ""
        self.status = str(view.status) if view else ""
        self.connection_name = view.connection_name if view else ""
        self.starter = view.starter if view else ""
        self.run_connection_id = str(view.connection_id) if view else ""
        self.reason_code = (view.reason_code or "") if view else ""
        self.message = (view.message or "") if view else ""
        self.remediation = (view.remediation or "") if view else ""
        self.created = when(view.created_at) if view else ""
        self.started = when(view.started_at) if view else ""
        self.finished = when(view.finished_at) if view else ""
        self._show_progress(self.op_type, view.progress if view and active else {})
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

    # ---- events ----

    @requires_capability(Capability.PROVIDER_VIEW, denied=PAGE_DENIED)
    async def on_page_load(self, actor: Actor) -> None:
        self.notice = ""
        if not await self._load(actor, self._position()):
            self._show_run(None)
            self.loaded = True

    @requires_capability(Capability.PROVIDER_RUN, run_ref=uuid_arg)
    async def cancel_run(self, actor: Actor, run_ref: Any) -> None:
        outcome = await self._call(cancel_run, actor, run_ref)
        if outcome is FAILED:
            return
        self._say(CANCEL_MESSAGES.get(outcome, "Done."), "success")
        if run_ref == self.detail_id:
            await self._refresh(actor)
