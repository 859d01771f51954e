"""`atlas sso`: a suite tenant's Sign in with Microsoft (the sign-in app, kept apart from customer connections) and
its "SSO required" policy with the named break-glass owner. The secret or key is read from a file or stdin."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer

from atlas_cli.commands.base import AsEmail, Json, TenantName, acting_as, declares
from atlas_cli.output import emit, guarded, read_secret
from atlas_services import sso_config
from atlas_services.authz import Capability
from atlas_services.errors import InvalidInput

sso_app = typer.Typer(no_args_is_help=True, help="Sign in with Microsoft for a tenant's members.")


def _summary(tenant: str, view: sso_config.SsoSettingsView) -> str:
    if not view.configured:
        return f"{tenant}: Sign in with Microsoft is not configured"
    policy = f"required (break-glass owner {view.break_glass_email})" if view.sso_required else "optional"
    return (f"{tenant}: Sign in with Microsoft via app {view.client_id} in Entra tenant {view.entra_tenant_id} "
            f"({view.cloud}, {view.kind} {view.hint}); SSO {policy}")


@sso_app.command("show")
@declares(Capability.TENANT_MANAGE)
def show(tenant: TenantName, actor_email: AsEmail, as_json: Json = False) -> None:
    """The sign-in app and policy (the secret only as its hint)."""
    with guarded(as_json):
        view = sso_config.settings(acting_as(tenant, actor_email))
        emit(as_json, dataclasses.asdict(view), _summary(tenant, view))


@sso_app.command("set")
@declares(Capability.TENANT_MANAGE)
def set_app(
    entra_tenant_id: Annotated[str, typer.Option(help="Your company's (home) Entra tenant id.")],
    client_id: Annotated[str, typer.Option(help="The sign-in app registration's client id.")],
    tenant: TenantName, actor_email: AsEmail,
    cloud: Annotated[str, typer.Option(help="global, usgov, usgov_dod, china or simulator.")] = "global",
    secret_file: Annotated[str | None, typer.Option(help="Read the client secret from this file (else stdin).")] = None,
    certificate_file: Annotated[str | None, typer.Option(help="Use a PEM bundle (certificate + key) instead.")] = None,
    as_json: Json = False,
) -> None:
    """Configure (or replace) the sign-in app; its redirect URI is ATLAS_PUBLIC_URL + /auth/sso/callback."""
    with guarded(as_json):
        actor = acting_as(tenant, actor_email)
        if certificate_file:
            view = sso_config.configure(actor, cloud=cloud, entra_tenant_id=entra_tenant_id, client_id=client_id,
                                        certificate_pem=read_secret(certificate_file, "PEM bundle"))
        else:
            view = sso_config.configure(actor, cloud=cloud, entra_tenant_id=entra_tenant_id, client_id=client_id,
                                        client_secret=read_secret(secret_file, "Client secret").strip())
        emit(as_json, dataclasses.asdict(view), _summary(tenant, view))


@sso_app.command("require")
@declares(Capability.TENANT_MANAGE)
def require(
    state: Annotated[str, typer.Argument(help="on (passwords stop working) or off.")],
    tenant: TenantName, actor_email: AsEmail,
    break_glass: Annotated[str, typer.Option(help="The owner whose password keeps working (with on).")] = "",
    as_json: Json = False,
) -> None:
    """Require Sign in with Microsoft for the tenant's members, except the named break-glass owner."""
    with guarded(as_json):
        if state not in ("on", "off"):
            raise InvalidInput("state", "Say on or off")
        view = sso_config.require(acting_as(tenant, actor_email), state == "on", break_glass)
        emit(as_json, dataclasses.asdict(view), _summary(tenant, view))


@sso_app.command("clear")
@declares(Capability.TENANT_MANAGE)
def clear(tenant: TenantName, actor_email: AsEmail, as_json: Json = False) -> None:
    """Remove the sign-in app (and the SSO requirement with it)."""
    with guarded(as_json):
        sso_config.clear(acting_as(tenant, actor_email))
        emit(as_json, {"tenant": tenant, "configured": False}, f"{tenant}: Sign in with Microsoft removed")
