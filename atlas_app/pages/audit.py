"""/audit: the tenant's audit log, newest first, paged backwards with a keyset cursor (audit.view)."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import datetime

import reflex as rx

from atlas_app.components.exports import export_links
from atlas_app.components.layout import page_frame
from atlas_app.state.guard import PAGE_DENIED, requires_capability
from atlas_app.state.messages import when
from atlas_app.state.session import FAILED, SessionState
from atlas_services.audit import AuditView, actor_label, list_events
from atlas_services.authz import Actor, Capability

ROUTE = "/audit"
PAGE_SIZE = 25


@dataclasses.dataclass
class AuditRow:
    id: str = ""
    at: str = ""
    actor: str = ""
    action: str = ""
    target: str = ""
    details: str = ""


def _audit_row(view: AuditView) -> AuditRow:
    target = f"{view.target_type} {view.target_id}" if view.target_id else view.target_type
    details = json.dumps(view.details, sort_keys=True, ensure_ascii=False, default=str) if view.details else ""
    return AuditRow(id=str(view.id), at=when(view.at), actor=actor_label(view) or "(system)", action=view.action,
                    target=target, details=details)


class AuditState(SessionState):
    events: rx.Field[list[AuditRow]] = rx.field(default_factory=list)
    loaded: rx.Field[bool] = rx.field(False)
    has_older: rx.Field[bool] = rx.field(False)
    page_number: rx.Field[int] = rx.field(1)

    # The keyset cursor: the oldest row shown (not secret; backend-only because the browser has no use for it).
    _cursor_at: datetime | None = None
    _cursor_id: str = ""

    def _clear_page(self) -> None:
        self.events = []
        self.loaded = False
        self.has_older = False
        self._cursor_at, self._cursor_id = None, ""

    async def _load(self, actor: Actor, before: tuple[datetime, uuid.UUID] | None, page_number: int) -> None:
        views = await self._call(list_events, actor, limit=PAGE_SIZE + 1, before=before)
        if views is FAILED:
            return
        shown = views[:PAGE_SIZE]
        self.events = [_audit_row(view) for view in shown]
        self.has_older = len(views) > PAGE_SIZE
        self.page_number = page_number
        self.loaded = True
        if shown:
            self._cursor_at, self._cursor_id = shown[-1].at, str(shown[-1].id)

    @requires_capability(Capability.AUDIT_VIEW, denied=PAGE_DENIED)
    async def on_page_load(self, actor: Actor) -> None:
        self.notice = ""
        await self._load(actor, None, 1)

    @requires_capability(Capability.AUDIT_VIEW)
    async def newest_events(self, actor: Actor) -> None:
        await self._load(actor, None, 1)

    @requires_capability(Capability.AUDIT_VIEW)
    async def older_events(self, actor: Actor) -> None:
        """The next page back in time, after the oldest row shown."""
        if not self.has_older or self._cursor_at is None or not self._cursor_id:
            return
        await self._load(actor, (self._cursor_at, uuid.UUID(self._cursor_id)), self.page_number + 1)


def _event_row(row: AuditRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row.at, size="1", white_space="nowrap")),
        rx.table.cell(rx.text(row.actor, size="2")),
        rx.table.cell(rx.code(row.action, size="1")),
        rx.table.cell(rx.text(row.target, size="1", font_family="monospace")),
        rx.table.cell(rx.text(row.details, size="1", font_family="monospace", word_break="break-word")),
        custom_attrs={"data-testid": "audit-row", "data-action": row.action},
    )


def _events_table() -> rx.Component:
    return rx.cond(
        AuditState.events.length() > 0,
        rx.table.root(
            rx.table.header(rx.table.row(*(rx.table.column_header_cell(t) for t in
                                           ("When", "Who", "Action", "Target", "Details")))),
            rx.table.body(rx.foreach(AuditState.events, _event_row)),
            width="100%",
            variant="surface",
            custom_attrs={"data-testid": "audit-table"},
        ),
        rx.cond(AuditState.loaded,
                rx.text("Nothing has been recorded in this tenant yet.", color_scheme="gray",
                        custom_attrs={"data-testid": "audit-empty"})),
    )


def audit_page() -> rx.Component:
    return page_frame(
        rx.heading("Audit log", size="6"),
        rx.cond(
            SessionState.can_audit,
            rx.vstack(
                export_links("audit", test_id="audit-export"),
                _events_table(),
                rx.hstack(
                    rx.button("Newest", variant="soft", disabled=AuditState.page_number <= 1,
                              on_click=AuditState.newest_events, custom_attrs={"data-testid": "audit-newest"}),
                    rx.text("Page ", AuditState.page_number, size="2", color_scheme="gray",
                            custom_attrs={"data-testid": "audit-page"}),
                    rx.button("Older", variant="soft", disabled=~AuditState.has_older,
                              on_click=AuditState.older_events, custom_attrs={"data-testid": "audit-older"}),
                    align="center",
                    spacing="3",
                ),
                spacing="3",
                width="100%",
            ),
        ),
    )
