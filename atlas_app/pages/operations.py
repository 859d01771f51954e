"""/operations: the tenant's operation runs: what is active now (live), and the history, filterable by
connection, status and operation type, paged backwards with a keyset cursor (provider.view).

While any run of the tenant is active the page polls PostgreSQL every few seconds and re-reads the page shown;
polling stops when nothing is active.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import reflex as rx

from atlas_app.components.badges import BadgeCatalog
from atlas_app.components.exports import export_links
from atlas_app.components.layout import page_frame
from atlas_app.components.tables import live_badge, muted, run_table
from atlas_app.state.guard import PAGE_DENIED, choice_arg, requires_capability, uuid_arg
from atlas_app.state.live import LivePageState
from atlas_app.state.rows import RunRow, op_label, run_row
from atlas_app.state.session import FAILED, SessionState
from atlas_services.authz import Actor, Capability
from atlas_services.change_stamps import read_snapshot
from atlas_services.connections import get_connection, list_connections
from atlas_services.models import RunStatus
from atlas_services.runs.queries import list_runs, run_cursor
from atlas_services.runs.types import AVAILABILITY

ROUTE = "/operations"
PAGE_SIZE = 25
ACTIVE_LIMIT = 50
POLL_MILLISECONDS = 3000
ALL = "all"
STATUSES = tuple(status.value for status in RunStatus)
OPERATIONS = tuple(AVAILABILITY)


def connection_filter(value: Any) -> str:
    """"all", or a connection id (whether it is one of the tenant's is checked by the handler)."""
    return ALL if value == ALL else uuid_arg(value)


@dataclasses.dataclass
class ConnectionChoice:
    id: str = ""
    name: str = ""


@dataclasses.dataclass(frozen=True)
class Filters:
    connection: str = ALL
    status: str = ALL
    op_type: str = ALL

    def arguments(self) -> dict[str, str | None]:
        return {"connection_id": None if self.connection == ALL else self.connection,
                "status": None if self.status == ALL else self.status,
                "op_type": None if self.op_type == ALL else self.op_type}


@dataclasses.dataclass(frozen=True)
class _Page:
    runs: list[RunRow]
    has_older: bool
    older_cursor: str  # `before` for the next page back ("" on the last page)
    active: list[RunRow]


# Where the history is: its filters, and the `before` cursor of the page shown (None: the newest page).
Position = tuple[Filters, str | None]


def _read_page(actor: Actor, position: Position) -> _Page:
    """One page of history plus every active run, from one PostgreSQL snapshot (blocking: call in a thread)."""
    filters, before = position
    with read_snapshot() as session:
        views = list_runs(actor, PAGE_SIZE + 1, before=before, session=session, **filters.arguments())
        active = [*list_runs(actor, ACTIVE_LIMIT, status=RunStatus.RUNNING.value, session=session),
                  *list_runs(actor, ACTIVE_LIMIT, status=RunStatus.QUEUED.value, session=session)]
    shown = views[:PAGE_SIZE]
    active.sort(key=lambda view: (view.created_at, str(view.id)), reverse=True)
    return _Page(runs=[run_row(view) for view in shown], has_older=len(views) > PAGE_SIZE,
                 older_cursor=run_cursor(shown[-1]) if len(views) > PAGE_SIZE else "",
                 active=[run_row(view) for view in active])


def _choices(actor: Actor) -> list[ConnectionChoice]:
    return [ConnectionChoice(id=str(view.id), name=view.name) for view in list_connections(actor)]


class OperationsState(LivePageState, SessionState):
    watched_with: ClassVar[Capability] = Capability.PROVIDER_VIEW

    runs: rx.Field[list[RunRow]] = rx.field(default_factory=list)
    active_runs: rx.Field[list[RunRow]] = rx.field(default_factory=list)
    has_older: rx.Field[bool] = rx.field(False)
    page_number: rx.Field[int] = rx.field(1)
    connection_choices: rx.Field[list[ConnectionChoice]] = rx.field(default_factory=list)
    filter_connection: rx.Field[str] = rx.field(ALL)
    filter_status: rx.Field[str] = rx.field(ALL)
    filter_op: rx.Field[str] = rx.field(ALL)

    # Backend only: `before` of each page after the first (a stack: the last is the page shown), the next one's.
    _cursors: list[str] = []
    _older_cursor: str = ""

    # ---- the live page ----

    _read_snapshot = staticmethod(_read_page)

    def _position(self) -> Position:
        return self._filters(), (self._cursors[-1] if self._cursors else None)

    def _apply(self, page: _Page, position: Position) -> None:
        self.runs = page.runs
        self.has_older = page.has_older
        self._older_cursor = page.older_cursor
        self.active_runs = page.active

    def _has_active(self, page: _Page) -> bool:
        return bool(page.active)

    def _clear_page(self) -> None:
        self.runs, self.active_runs, self.connection_choices = [], [], []
        self.has_active = self.loaded = self.has_older = False
        self.page_number = 1
        self.filter_connection = self.filter_status = self.filter_op = ALL
        self._cursors, self._older_cursor = [], ""

    # ---- private helpers ----

    def _filters(self) -> Filters:
        return Filters(self.filter_connection, self.filter_status, self.filter_op)

    async def _first_page(self, actor: Actor) -> None:
        self._cursors, self.page_number = [], 1
        await self._refresh(actor)

    # ---- events ----

    @requires_capability(Capability.PROVIDER_VIEW, denied=PAGE_DENIED)
    async def on_page_load(self, actor: Actor) -> None:
        self.notice = ""
        self.filter_connection = self.filter_status = self.filter_op = ALL
        choices = await self._call(_choices, actor)
        if choices is FAILED:
            return
        self.connection_choices = choices
        await self._first_page(actor)

    @requires_capability(Capability.PROVIDER_VIEW, connection=connection_filter)
    async def filter_by_connection(self, actor: Actor, connection: Any) -> None:
        # One of this tenant's connections (another tenant's is "not found", like a random id).
        if connection != ALL and await self._call(get_connection, actor, connection) is FAILED:
            return
        self.filter_connection = connection
        await self._first_page(actor)

    @requires_capability(Capability.PROVIDER_VIEW, status=choice_arg(ALL, *STATUSES))
    async def filter_by_status(self, actor: Actor, status: Any) -> None:
        self.filter_status = status
        await self._first_page(actor)

    @requires_capability(Capability.PROVIDER_VIEW, op_type=choice_arg(ALL, *OPERATIONS))
    async def filter_by_operation(self, actor: Actor, op_type: Any) -> None:
        self.filter_op = op_type
        await self._first_page(actor)

    @requires_capability(Capability.PROVIDER_VIEW)
    async def older_runs(self, actor: Actor) -> None:
        """The next page back in time, after the oldest run shown."""
        if not self.has_older or not self._older_cursor:
            return
        self._cursors = [*self._cursors, self._older_cursor]
        if await self._refresh(actor):
            self.page_number += 1
        else:
            self._cursors = self._cursors[:-1]

    @requires_capability(Capability.PROVIDER_VIEW)
    async def newest_runs(self, actor: Actor) -> None:
        await self._first_page(actor)


# ---------------------------------------------------------------- view

S = OperationsState


def _select(test_id: str, value: rx.Var[str], on_change: Any, all_label: str, items: list[rx.Component]
            ) -> rx.Component:
    return rx.select.root(
        rx.select.trigger(custom_attrs={"data-testid": test_id}),
        rx.select.content(rx.select.item(all_label, value=ALL), *items),
        value=value,
        on_change=on_change,
        size="2",
    )


def _filters() -> rx.Component:
    return rx.hstack(
        _select("filter-connection", S.filter_connection, S.filter_by_connection, "All connections", [
            rx.foreach(S.connection_choices, lambda choice: rx.select.item(choice.name, value=choice.id)),
        ]),
        _select("filter-status", S.filter_status, S.filter_by_status, "Any status", [
            rx.select.item(BadgeCatalog.style(BadgeCatalog.RUN_STATUS, status).label, value=status,
                           custom_attrs={"data-testid": f"filter-status-{status}"}) for status in STATUSES
        ]),
        _select("filter-operation", S.filter_op, S.filter_by_operation, "Any operation", [
            rx.select.item(op_label(op_type), value=op_type) for op_type in OPERATIONS
        ]),
        export_links("runs", [("connection", S.filter_connection), ("status", S.filter_status),
                              ("operation", S.filter_op)], test_id="history-export"),
        spacing="3",
        wrap="wrap",
        align="center",
        custom_attrs={"data-testid": "operations-filters"},
    )


def _active() -> rx.Component:
    return rx.vstack(
        rx.hstack(rx.heading("Active now", size="4"), live_badge(S.has_active),
                  rx.cond(S.has_active & (S.checked_at != ""),
                          rx.text("checked ", S.checked_at, size="1", color_scheme="gray",
                                  custom_attrs={"data-testid": "checked-at"})),
                  align="center"),
        run_table(S.active_runs, muted("Nothing is running.", "active-empty"), test_id="active-runs-table"),
        spacing="3",
        width="100%",
    )


def _history() -> rx.Component:
    return rx.vstack(
        rx.heading("History", size="4"),
        _filters(),
        run_table(S.runs, rx.cond(S.loaded, muted("No runs match these filters.", "history-empty")),
                  test_id="history-table"),
        rx.hstack(
            rx.button("Newest", variant="soft", disabled=S.page_number <= 1, on_click=S.newest_runs,
                      custom_attrs={"data-testid": "history-newest"}),
            rx.text("Page ", S.page_number, size="2", color_scheme="gray",
                    custom_attrs={"data-testid": "history-page"}),
            rx.button("Older", variant="soft", disabled=~S.has_older, on_click=S.older_runs,
                      custom_attrs={"data-testid": "history-older"}),
            align="center",
            spacing="3",
        ),
        spacing="3",
        width="100%",
    )


def operations_page() -> rx.Component:
    return page_frame(
        rx.heading("Operations", size="6"),
        rx.cond(SessionState.can_view, rx.vstack(_active(), _history(), spacing="6", width="100%")),
        rx.moment(interval=rx.cond(S.has_active, POLL_MILLISECONDS, 0), on_change=S.poll, display="none"),
    )
