"""`atlas schedule`: when each connection's operations start by themselves; `atlas scheduler tick`: one pass."""

from __future__ import annotations

from typing import Annotated

import typer

from atlas_cli.commands.base import SYSTEM, AsEmail, Json, TenantName, acting_as, declares
from atlas_cli.output import emit, guarded
from atlas_services.authz import Capability
from atlas_services.schedules.defaults import DefaultView, list_defaults, reset_default, set_default
from atlas_services.schedules.manage import ScheduleView, clear_schedule, list_schedules, set_schedule

schedule_app = typer.Typer(no_args_is_help=True, help="Schedules: operations that start by themselves.")
scheduler_app = typer.Typer(no_args_is_help=True, help="The scheduler: starting due schedules.")

ConnectionId = Annotated[str, typer.Argument(help="Connection id (see `atlas connection list`).")]
Operation = Annotated[str, typer.Argument(help="health_check, inventory_sync or compliance_snapshot.")]
Every = Annotated[str | None, typer.Option("--every", help="An interval: 30m, 6h, 1d.")]
Daily = Annotated[str | None, typer.Option("--daily", help="A daily time, HH:MM (24-hour clock).")]
Tz = Annotated[str | None, typer.Option("--tz", help="The daily time's time zone (default UTC).")]
Jitter = Annotated[str | None, typer.Option("--jitter", help="Spread each start over this window: 10m.")]


def _line(view: ScheduleView) -> str:
    text = f"{view.connection_name}  {view.op_type}  {view.description}  next due {view.next_due_at:%Y-%m-%d %H:%M} UTC"
    if view.consecutive_skips:
        text += f"  (skipped {view.consecutive_skips}x: {view.last_outcome})"
    return text


@schedule_app.command("set")
@declares(Capability.PROVIDER_MANAGE)
def schedule_set(
    connection_id: ConnectionId,
    operation: Operation,
    tenant: TenantName,
    actor_email: AsEmail,
    every: Every = None,
    daily: Daily = None,
    tz: Tz = None,
    jitter: Jitter = None,
    as_json: Json = False,
) -> None:
    """Schedule an operation on a connection (first due at once, within the jitter window)."""
    with guarded(as_json):
        view = set_schedule(acting_as(tenant, actor_email), connection_id, operation, every=every, daily=daily,
                            time_zone=tz, jitter=jitter)
        emit(as_json, {"schedule": view}, f"scheduled: {_line(view)}")


@schedule_app.command("list")
@declares(Capability.PROVIDER_VIEW)
def schedule_list(
    tenant: TenantName,
    actor_email: AsEmail,
    connection: Annotated[str | None, typer.Option(help="Only this connection's schedules.")] = None,
    as_json: Json = False,
) -> None:
    """The tenant's schedules and when each is next due."""
    with guarded(as_json):
        views = list_schedules(acting_as(tenant, actor_email), connection_id=connection)
        emit(as_json, {"schedules": views}, "\n".join(_line(v) for v in views) or "no schedules")


@schedule_app.command("clear")
@declares(Capability.PROVIDER_MANAGE)
def schedule_clear(connection_id: ConnectionId, operation: Operation, tenant: TenantName, actor_email: AsEmail,
                   as_json: Json = False) -> None:
    """Remove a connection's schedule for an operation."""
    with guarded(as_json):
        clear_schedule(acting_as(tenant, actor_email), connection_id, operation)
        emit(as_json, {"cleared": True, "connection_id": connection_id, "op_type": operation},
             f"cleared the {operation} schedule of {connection_id}")


def _default_line(view: DefaultView) -> str:
    return f"{view.op_type}  {view.description}  ({view.source})"


@schedule_app.command("defaults")
@declares(Capability.PROVIDER_VIEW)
def schedule_defaults(tenant: TenantName, actor_email: AsEmail, as_json: Json = False) -> None:
    """The tenant's default schedules, which new connections inherit."""
    with guarded(as_json):
        views = list_defaults(acting_as(tenant, actor_email))
        emit(as_json, {"defaults": views}, "\n".join(_default_line(v) for v in views))


@schedule_app.command("default-set")
@declares(Capability.PROVIDER_MANAGE)
def schedule_default_set(
    operation: Operation,
    tenant: TenantName,
    actor_email: AsEmail,
    every: Every = None,
    daily: Daily = None,
    tz: Tz = None,
    jitter: Jitter = None,
    off: Annotated[bool, typer.Option("--off", help="New connections get no schedule for it.")] = False,
    as_json: Json = False,
) -> None:
    """Set the default new connections inherit for an operation (existing schedules stay as they are)."""
    with guarded(as_json):
        view = set_default(acting_as(tenant, actor_email), operation, every=every, daily=daily, time_zone=tz,
                           jitter=jitter, off=off)
        emit(as_json, {"default": view}, _default_line(view))


@schedule_app.command("default-reset")
@declares(Capability.PROVIDER_MANAGE)
def schedule_default_reset(operation: Operation, tenant: TenantName, actor_email: AsEmail,
                           as_json: Json = False) -> None:
    """Go back to Atlas's built-in default for an operation."""
    with guarded(as_json):
        view = reset_default(acting_as(tenant, actor_email), operation)
        emit(as_json, {"default": view}, _default_line(view))


@scheduler_app.command("tick")
@declares(SYSTEM)
def scheduler_tick(as_json: Json = False) -> None:
    """One scheduling pass: start every due schedule through the start gate (workers run this in a loop)."""
    # Lazy: importing atlas_jobs builds the queue from the settings, which only commands that enqueue should do.
    from atlas_jobs.scheduler import tick

    with guarded(as_json):
        report = tick()
        lines = [f"started run {run_id}" for run_id in report.started]
        lines += [f"skipped schedule {skip.schedule}: {skip.reason}" for skip in report.skipped]
        emit(as_json, report.as_json(), "\n".join(lines) or "nothing due")
