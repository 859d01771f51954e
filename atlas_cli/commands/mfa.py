"""`atlas mfa`: a suite tenant's "MFA required for local accounts" policy, and an owner's reset of a member's lost
authenticator. Enrolling is done by each user in the web app (the seed is shown only to its owner)."""

from __future__ import annotations

from typing import Annotated

import typer

from atlas_cli.commands.base import AsEmail, Json, TenantName, acting_as, declares
from atlas_cli.output import emit, guarded
from atlas_services import mfa
from atlas_services.authz import Capability
from atlas_services.errors import InvalidInput

mfa_app = typer.Typer(no_args_is_help=True, help="Second factor for local accounts (TOTP).")
policy_app = typer.Typer(no_args_is_help=True, help="The tenant's policy: is a second factor required?")
mfa_app.add_typer(policy_app, name="policy")


@policy_app.command("show")
@declares(Capability.PROVIDER_VIEW)
def policy_show(tenant: TenantName, actor_email: AsEmail, as_json: Json = False) -> None:
    """Whether the tenant requires a second factor for local accounts."""
    with guarded(as_json):
        required = mfa.policy(acting_as(tenant, actor_email))
        emit(as_json, {"tenant": tenant, "mfa_required": required},
             f"{tenant}: a second factor is {'required' if required else 'optional'} for local accounts")


@policy_app.command("set")
@declares(Capability.TENANT_MANAGE)
def policy_set(
    state: Annotated[str, typer.Argument(help="on (required) or off (optional).")],
    tenant: TenantName, actor_email: AsEmail, as_json: Json = False,
) -> None:
    """Require a second factor (on) or make it optional (off); members without one enrol at their next sign-in."""
    with guarded(as_json):
        actor = acting_as(tenant, actor_email)
        if state not in ("on", "off"):
            raise InvalidInput("state", "Say on or off")
        required = mfa.set_policy(actor, state == "on")
        emit(as_json, {"tenant": tenant, "mfa_required": required},
             f"{tenant}: a second factor is now {'required' if required else 'optional'} for local accounts")


@mfa_app.command("reset")
@declares(Capability.TENANT_MANAGE)
def reset(
    user: Annotated[str, typer.Argument(help="The member's email or user id.")],
    tenant: TenantName, actor_email: AsEmail, as_json: Json = False,
) -> None:
    """Clear a member's lost authenticator and recovery codes (audited); they set up a new one when next asked."""
    with guarded(as_json):
        mfa.reset(acting_as(tenant, actor_email), user)
        emit(as_json, {"reset": user}, f"cleared the authenticator of {user}")
