"""`atlas op`: starting and reading operation runs."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from atlas_cli.commands.base import AsEmail, Json, TenantName, acting_as, declares
from atlas_cli.commands.exports import ExportJson, Format, Output, run_export
from atlas_cli.output import emit, guarded
from atlas_services.authz import Capability
from atlas_services.exports import RUNS, ExportFilters
from atlas_services.runs.queries import get_run

op_app = typer.Typer(no_args_is_help=True, help="Operation runs.")


@op_app.command("start")
@declares(Capability.PROVIDER_RUN)
def op_start(
    op_type: Annotated[str, typer.Argument(help="health_check, inventory_sync, compliance_snapshot, ...")],
    tenant: TenantName,
    actor_email: AsEmail,
    connection: Annotated[str | None, typer.Option(help="Connection id (default: the tenant's default).")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the run finishes.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait with --wait.")] = 120.0,
    as_json: Json = False,
) -> None:
    """Start an operation run (or find the active one on its scope)."""
    # Lazy: importing atlas_jobs builds the queue from the settings (and warns about development keys), which
    # only commands that enqueue should do.
    from atlas_jobs.dispatch import start_operation

    with guarded(as_json):
        actor = acting_as(tenant, actor_email)
        result = start_operation(actor, op_type, connection)
        payload: dict[str, object] = {"outcome": result.outcome, "run_id": result.run_id,
                                      "active_run_id": result.active_run_id}
        if wait:
            deadline = time.monotonic() + timeout
            run = get_run(actor, result.run_id)
            while run.status in ("queued", "running") and time.monotonic() < deadline:
                time.sleep(0.5)
                run = get_run(actor, result.run_id)
            payload.update(status=run.status, reason_code=run.reason_code)
        text = f"{result.outcome}: run {result.run_id}"
        if result.outcome == "scope_busy":
            text += f" (another operation is active on this scope: {result.active_run_id})"
        if wait:
            text += f" -> {payload['status']}" + (f" ({payload['reason_code']})" if payload["reason_code"] else "")
        emit(as_json, payload, text)


@op_app.command("show")
@declares(Capability.PROVIDER_VIEW)
def op_show(run_id: str, tenant: TenantName, actor_email: AsEmail, as_json: Json = False) -> None:
    """Show one run."""
    with guarded(as_json):
        run = get_run(acting_as(tenant, actor_email), run_id)
        text = f"{run.id}  {run.op_type}  {run.status}  on {run.connection_name}"
        if run.reason_code:
            text += f"\n  {run.reason_code}: {run.message}\n  fix: {run.remediation}"
        emit(as_json, {"run": run}, text)


@op_app.command("export")
@declares(Capability.PROVIDER_VIEW)
def op_export(
    tenant: TenantName,
    actor_email: AsEmail,
    fmt: Format = "csv",
    output: Output = None,
    connection: Annotated[str | None, typer.Option(help="Only this connection's runs.")] = None,
    status: Annotated[str | None, typer.Option(help="Only runs with this status.")] = None,
    operation: Annotated[str | None, typer.Option(help="Only runs of this operation type.")] = None,
    as_json: ExportJson = False,
) -> None:
    """The tenant's run history, newest first, as CSV or JSON lines (the Operations page's filters)."""
    run_export(RUNS, tenant=tenant, actor_email=actor_email, fmt=fmt, output=output, as_json=as_json,
               filters=ExportFilters(connection_id=connection, status=status, op_type=operation))
