"""`atlas alerts`: a suite tenant's alert webhook (the URL from stdin or a file: it embeds a token) and its alerts."""

from __future__ import annotations

from typing import Annotated

import typer

from atlas_cli.commands.base import AsEmail, Json, TenantName, acting_as, declares
from atlas_cli.output import emit, guarded, read_secret
from atlas_jobs.alerts import enqueue_alert
from atlas_services.alerts import settings as alerts
from atlas_services.authz import Capability

alerts_app = typer.Typer(no_args_is_help=True, help="Alerts: a webhook for failures and expiring credentials.")

Kind = Annotated[str, typer.Option("--kind", help="teams, slack or json.")]
UrlFile = Annotated[str | None, typer.Option(help="Read the webhook URL from this file (else stdin).")]


@alerts_app.command("set")
@declares(Capability.PROVIDER_MANAGE)
def alerts_set(tenant: TenantName, actor_email: AsEmail, kind: Kind = "json", url_file: UrlFile = None,
               test: Annotated[bool, typer.Option(help="Also send a test alert.")] = False,
               as_json: Json = False) -> None:
    """Set the tenant's webhook; its host must be in ATLAS_ALERT_HOSTS."""
    with guarded(as_json):
        actor = acting_as(tenant, actor_email)
        view = alerts.set_webhook(actor, kind, read_secret(url_file, "Webhook URL").strip())
        if test:
            enqueue_alert(alerts.request_test(actor))
        emit(as_json, {"webhook": view}, f"webhook set: {view.kind} {view.hint}")


@alerts_app.command("show")
@declares(Capability.PROVIDER_VIEW)
def alerts_show(tenant: TenantName, actor_email: AsEmail, as_json: Json = False) -> None:
    """The tenant's webhook, as a hint."""
    with guarded(as_json):
        view = alerts.show(acting_as(tenant, actor_email))
        emit(as_json, {"webhook": view}, f"{view.kind} {view.hint}" if view else "no webhook")


@alerts_app.command("clear")
@declares(Capability.PROVIDER_MANAGE)
def alerts_clear(tenant: TenantName, actor_email: AsEmail, as_json: Json = False) -> None:
    """Remove the tenant's webhook."""
    with guarded(as_json):
        cleared = alerts.clear(acting_as(tenant, actor_email))
        emit(as_json, {"cleared": cleared}, "webhook cleared" if cleared else "no webhook")


@alerts_app.command("list")
@declares(Capability.PROVIDER_VIEW)
def alerts_list(tenant: TenantName, actor_email: AsEmail,
                limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
                as_json: Json = False) -> None:
    """The tenant's recent alerts."""
    with guarded(as_json):
        views = alerts.recent(acting_as(tenant, actor_email), limit)
        emit(as_json, {"alerts": views}, "\n".join(
            f"{v.created_at:%Y-%m-%d %H:%M}  {v.status}  x{v.attempts}  {v.event}  {v.title}"
            + (f"  ({v.last_error_code})" if v.last_error_code else "") for v in views) or "no alerts")
