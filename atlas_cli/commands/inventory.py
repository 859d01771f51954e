"""`atlas inventory`: a connection's inventory (what the last syncs observed)."""

from __future__ import annotations

from typing import Annotated

import typer

from atlas_cli.commands.base import AsEmail, TenantName, declares
from atlas_cli.commands.exports import ExportJson, Format, Output, run_export
from atlas_services.authz import Capability
from atlas_services.exports import INVENTORY, ExportFilters

inventory_app = typer.Typer(no_args_is_help=True, help="Inventory (needs provider.view).")


@inventory_app.command("export")
@declares(Capability.PROVIDER_VIEW)
def inventory_export(
    connection: Annotated[str, typer.Argument(help="Connection id.")],
    tenant: TenantName,
    actor_email: AsEmail,
    fmt: Format = "csv",
    output: Output = None,
    kind: Annotated[str | None, typer.Option(help="managed_device, device_configuration, compliance_policy or "
                                                  "mobile_app (default: every kind).")] = None,
    search: Annotated[str | None, typer.Option(help="Only items whose name contains this.")] = None,
    include_removed: Annotated[bool, typer.Option("--include-removed", help="Also items gone from a later "
                                                                            "sync.")] = False,
    as_json: ExportJson = False,
) -> None:
    """A connection's inventory items, by kind and name, as CSV or JSON lines."""
    run_export(INVENTORY, tenant=tenant, actor_email=actor_email, fmt=fmt, output=output, as_json=as_json,
               filters=ExportFilters(connection_id=connection, inventory_kind=kind, search=search,
                                     include_removed=include_removed))
