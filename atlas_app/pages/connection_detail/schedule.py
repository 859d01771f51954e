"""The connection page's schedules: each operation's schedule and when it is next due, and (for provider.manage)
a form to set one and a button to clear one. Rows are shaped here from the schedule read model; the state only
holds them, and its two handlers call the services (which check the capability and the tenant themselves)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import reflex as rx
from reflex.event import EventType
from reflex.vars import ArrayVar

from atlas_app.pages.connection_detail.section import section
from atlas_app.state.guard import form_arg, text_field
from atlas_app.state.messages import when
from atlas_services.runs.types import label
from atlas_services.schedules.manage import ScheduleView
from atlas_services.schedules.policy import SCHEDULABLE

SCHEDULABLE_OPS = tuple(op.value for op in SCHEDULABLE)
KIND_EVERY, KIND_DAILY = "every", "daily"
# The set form: which operation, an interval or a daily time (in a time zone), a jitter window.
SCHEDULE_FORM = form_arg(op_type=text_field("Operation", 40), kind=text_field("Kind", 10),
                         value=text_field("When", 20), tz=text_field("Time zone", 64),
                         jitter=text_field("Jitter", 20))
OUTCOME_LABELS = {"started": "started", "deduplicated": "skipped: already running",
                  "scope_busy": "skipped: another operation was running"}


@dataclasses.dataclass
class ScheduleRow:
    op_type: str = ""
    op_label: str = ""
    scheduled: bool = False
    description: str = ""
    next_due: str = ""
    last: str = ""  # what its last due pass did
    skips: int = 0


def schedule_rows(views: Sequence[ScheduleView]) -> list[ScheduleRow]:
    """One row per schedulable operation, scheduled or not."""
    by_op = {view.op_type: view for view in views}
    rows = []
    for op_type in SCHEDULABLE_OPS:
        view = by_op.get(op_type)
        if view is None:
            rows.append(ScheduleRow(op_type=op_type, op_label=label(op_type), description="Not scheduled"))
            continue
        outcome = view.last_outcome or ""
        last = OUTCOME_LABELS.get(outcome, f"skipped: {outcome}") if outcome else ""
        if last and view.last_due_at is not None:
            last += f" ({when(view.last_due_at)})"
        rows.append(ScheduleRow(op_type=op_type, op_label=view.op_label, scheduled=True,
                                description=view.description, next_due=when(view.next_due_at), last=last,
                                skips=view.consecutive_skips))
    return rows


def schedule_arguments(form: dict[str, Any]) -> dict[str, Any]:
    """The service's keyword arguments from the set form (the service checks every value)."""
    value = form["value"].strip()
    if form["kind"] == KIND_DAILY:
        return {"daily": value, "time_zone": form["tz"].strip() or None, "jitter": form["jitter"].strip() or None}
    return {"every": value, "jitter": form["jitter"].strip() or None}


def _row(row: ScheduleRow, can_manage: rx.Var[bool], clear: Any) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row.op_label),
        rx.table.cell(rx.text(row.description, size="2", custom_attrs={"data-testid": "schedule-description"})),
        rx.table.cell(rx.text(row.next_due, size="2", custom_attrs={"data-testid": "schedule-next-due"})),
        rx.table.cell(rx.text(row.last, rx.cond(row.skips > 1, rx.text.span(" · ", row.skips, " skips in a row")),
                              size="1", color_scheme="gray")),
        rx.table.cell(rx.cond(can_manage & row.scheduled,
                              rx.button("Clear", size="1", variant="ghost", color_scheme="red",
                                        on_click=clear(row.op_type),
                                        custom_attrs={"data-testid": "schedule-clear-" + row.op_type}))),
        custom_attrs={"data-testid": "schedule-row", "data-op-type": row.op_type,
                      "data-scheduled": rx.cond(row.scheduled, "yes", "no")},
    )


def _set_form(on_submit: EventType[Any], message: rx.Var[str]) -> rx.Component:
    def select(name: str, options: Sequence[tuple[str, str]], test_id: str) -> rx.Component:
        return rx.el.select(*(rx.el.option(text, value=value) for value, text in options), name=name,
                            custom_attrs={"data-testid": test_id})

    return rx.form(
        rx.hstack(
            select("op_type", [(op, label(op)) for op in SCHEDULABLE_OPS], "schedule-op"),
            select("kind", [(KIND_EVERY, "every"), (KIND_DAILY, "daily at")], "schedule-kind"),
            rx.input(name="value", placeholder="6h or 02:00", max_length=20, size="1",
                     custom_attrs={"data-testid": "schedule-value"}),
            rx.input(name="tz", placeholder="Time zone (daily): UTC", max_length=64, size="1",
                     custom_attrs={"data-testid": "schedule-tz"}),
            rx.input(name="jitter", placeholder="Jitter: 10m", max_length=20, size="1",
                     custom_attrs={"data-testid": "schedule-jitter"}),
            rx.button("Set schedule", size="1", variant="soft", type="submit",
                      custom_attrs={"data-testid": "schedule-submit"}),
            spacing="2", wrap="wrap", align="center",
        ),
        rx.cond(message != "", rx.text(message, size="1", color_scheme="red",
                                       custom_attrs={"data-testid": "schedule-error"})),
        on_submit=on_submit,
        reset_on_submit=False,
    )


def schedule_section(rows: ArrayVar[Sequence[ScheduleRow]], can_manage: rx.Var[bool], enabled: rx.Var[bool],
                     message: rx.Var[str], on_set: EventType[Any], clear: Any) -> rx.Component:
    return section(
        "Schedules",
        rx.text("Scheduled runs start through the same gate as a person's: one at a time per Microsoft tenant. "
                "A due run whose tenant is busy is skipped until its next slot.", size="1", color_scheme="gray"),
        rx.cond(~enabled, rx.text("The connection is disabled: its schedules wait until it is enabled again.",
                                  size="2", color_scheme="amber", custom_attrs={"data-testid": "schedules-paused"})),
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in
                                           ("Operation", "Schedule", "Next due", "Last", "")])),
            rx.table.body(rx.foreach(rows, lambda row: _row(row, can_manage, clear))),
            size="1", width="100%"),
        rx.cond(can_manage & enabled, _set_form(on_set, message)),
        test_id="schedules-section",
    )
