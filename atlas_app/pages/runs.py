"""/runs/[run_id]: one operation run, live: status, timeline, reason and remediation, summary, cancel.

The id comes from the URL (the browser's: it is checked like any argument). Another tenant's run and a
run that does not exist look the same. While the run is active the page polls PostgreSQL every few seconds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from typing import Any

import reflex as rx

from atlas_app.components.badges import BadgeCatalog
from atlas_app.components.layout import page_frame
from atlas_app.state.guard import PAGE_DENIED, BadArgument, ignored_arg, requires_capability, uuid_arg
from atlas_app.state.messages import user_message, when
from atlas_app.state.session import SessionState
from atlas_services.authz import Actor, Capability
from atlas_services.errors import NotFound
from atlas_services.models import ACTIVE_RUN_STATUSES
from atlas_services.operations import RunView, cancel_run, get_run

ROUTE = "/runs/[run_id]"
POLL_MILLISECONDS = 2000
POLL_STALE_SECONDS = 15.0
OP_LABELS = {
    "health_check": "Health check",
    "inventory_sync": "Inventory sync",
    "compliance_snapshot": "Compliance snapshot",
}
CANCEL_MESSAGES = {
    "cancelled": "The run was cancelled.",
    "cancel_requested": "Cancellation requested: the run stops at its next safe point.",
    "finished": "The run had already finished.",
}


@dataclasses.dataclass
class SummaryItem:
    key: str = ""
    value: str = ""


def _summary(summary: dict[str, Any]) -> list[SummaryItem]:
    def show(value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)

    return [SummaryItem(key=str(key), value=show(value)) for key, value in sorted(summary.items())]


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
    reason_code: str = ""
    message: str = ""
    remediation: str = ""
    created: str = ""
    started: str = ""
    finished: str = ""
    summary: list[SummaryItem] = rx.field(default_factory=list)
    is_active: bool = False

    _poll_started_at: float = 0.0

    # ---- private helpers ----

    def _clear_page(self) -> None:
        self._show(None)
        self.loaded = False

    def _show(self, view: RunView | None) -> None:
        self.found = view is not None
        self.loaded = True
        self.detail_id = str(view.id) if view else ""
        self.op_label = OP_LABELS.get(view.op_type, view.op_type) if view else ""
        self.status = str(view.status) if view else ""
        self.connection_name = view.connection_name if view else ""
        self.reason_code = (view.reason_code or "") if view else ""
        self.message = (view.message or "") if view else ""
        self.remediation = (view.remediation or "") if view else ""
        self.created = when(view.created_at) if view else ""
        self.started = when(view.started_at) if view else ""
        self.finished = when(view.finished_at) if view else ""
        self.summary = _summary(view.summary) if view else []
        self.is_active = bool(view and view.status in ACTIVE_RUN_STATUSES)

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
            now = time.time()
            if not self.is_active or 0 <= now - self._poll_started_at < POLL_STALE_SECONDS:
                return None
            self._poll_started_at = now
            run_id = self.detail_id or None
        view, failure = await self._read(actor, run_id)
        async with self:
            self._poll_started_at = 0.0
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


def _details() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading(RunState.op_label, size="6"),
            BadgeCatalog.badge(BadgeCatalog.RUN_STATUS, RunState.status, test_id="run-detail-status"),
            rx.cond(RunState.is_active,
                    rx.badge(rx.icon("refresh_cw", size=12), "Live", color_scheme="blue", variant="outline",
                             custom_attrs={"data-testid": "live-indicator"})),
            align="center",
            spacing="3",
        ),
        rx.data_list.root(
            _field("Connection", RunState.connection_name, "run-connection"),
            _field("Run id", RunState.detail_id, "run-id"),
            _field("Queued", RunState.created, "run-created"),
            _field("Started", RunState.started, "run-started"),
            _field("Finished", RunState.finished, "run-finished"),
            _field("Reason", RunState.reason_code, "run-reason"),
            _field("Message", RunState.message, "run-message"),
            _field("What to do", RunState.remediation, "run-remediation"),
        ),
        rx.heading("Summary", size="4"),
        rx.cond(
            RunState.summary.length() > 0,
            rx.data_list.root(rx.foreach(RunState.summary, lambda item: rx.data_list.item(
                rx.data_list.label(item.key), rx.data_list.value(rx.code(item.value, size="1"))))),
            rx.text("No summary yet.", color_scheme="gray", size="2"),
        ),
        rx.cond(
            RunState.is_active & SessionState.can_run,
            rx.button(rx.icon("circle_stop", size=14), "Cancel run", color_scheme="red", variant="soft",
                      on_click=RunState.cancel_run(RunState.detail_id),
                      custom_attrs={"data-testid": "cancel-run"}),
        ),
        spacing="4",
        width="100%",
        custom_attrs={"data-testid": "run-detail"},
    )


def run_page() -> rx.Component:
    return page_frame(
        rx.link("← Connections", href="/connections", size="2"),
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
