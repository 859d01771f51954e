"""`atlas audit`: reading the tenant's audit log."""

from __future__ import annotations

from typing import Annotated

import typer

from atlas_cli.commands.base import AsEmail, Json, TenantName, acting_as, declares
from atlas_cli.commands.exports import ExportJson, Format, Output, run_export
from atlas_cli.output import emit, guarded
from atlas_services.audit import actor_label, list_events
from atlas_services.authz import Capability
from atlas_services.exports import AUDIT

audit_app = typer.Typer(no_args_is_help=True, help="The audit log (needs audit.view).")


@audit_app.command("list")
@declares(Capability.AUDIT_VIEW)
def audit_list(tenant: TenantName, actor_email: AsEmail,
               limit: Annotated[int, typer.Option(min=1, max=500)] = 50, as_json: Json = False) -> None:
    """The newest audit events of the tenant."""
    with guarded(as_json):
        events = list_events(acting_as(tenant, actor_email), limit=limit)
        lines = [f"{e.at:%Y-%m-%d %H:%M:%S}  {actor_label(e) or '-'}  {e.action}  {e.target_type} {e.target_id or ''}"
                 for e in events] or ["no audit events yet"]
        emit(as_json, {"events": events}, "\n".join(lines))


@audit_app.command("export")
@declares(Capability.AUDIT_VIEW)
def audit_export(tenant: TenantName, actor_email: AsEmail, fmt: Format = "csv", output: Output = None,
                 as_json: ExportJson = False) -> None:
    """The tenant's whole audit log, newest first, as CSV or JSON lines."""
    run_export(AUDIT, tenant=tenant, actor_email=actor_email, fmt=fmt, output=output, as_json=as_json)
