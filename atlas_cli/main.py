"""The `atlas` operator CLI: the same use cases as the UI, with the same authorization."""

from __future__ import annotations

import typer

from atlas_cli.commands.alerts import alerts_app
from atlas_cli.commands.audit import audit_app
from atlas_cli.commands.connections import connection_app
from atlas_cli.commands.db import db_app
from atlas_cli.commands.directory import tenant_app, user_app
from atlas_cli.commands.inventory import inventory_app
from atlas_cli.commands.keys import keys_app
from atlas_cli.commands.members import member_app
from atlas_cli.commands.mfa import mfa_app
from atlas_cli.commands.ops import op_app
from atlas_cli.commands.processes import processes_app
from atlas_cli.commands.schedules import schedule_app, scheduler_app
from atlas_cli.commands.sso import sso_app
from atlas_services.logs import configure_logging

# Pretty tracebacks would print local variables, and locals can hold secrets.
app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Atlas: Microsoft tenant management.")
app.add_typer(db_app, name="db")
app.add_typer(tenant_app, name="tenant")
app.add_typer(user_app, name="user")
app.add_typer(connection_app, name="connection")
app.add_typer(op_app, name="op")
app.add_typer(keys_app, name="keys")
app.add_typer(member_app, name="member")
app.add_typer(audit_app, name="audit")
app.add_typer(schedule_app, name="schedule")
app.add_typer(alerts_app, name="alerts")
app.add_typer(scheduler_app, name="scheduler")
app.add_typer(mfa_app, name="mfa")
app.add_typer(sso_app, name="sso")
app.add_typer(inventory_app, name="inventory")
app.add_typer(processes_app)


def main() -> None:
    # Here, not in a Typer callback: tests invoke ``app`` in-process and keep their own log capture.
    configure_logging()
    app()


if __name__ == "__main__":
    main()
