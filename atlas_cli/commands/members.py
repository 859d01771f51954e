"""`atlas member`: the members of a suite tenant, their roles, and pending invitations."""

from __future__ import annotations

from typing import Annotated

import typer

from atlas_cli.commands.base import AsEmail, Json, TenantName, acting_as, declares
from atlas_cli.output import emit, guarded, read_secret
from atlas_services.authz import Capability
from atlas_services.invitations import invite_member, list_invitations, revoke_invitation
from atlas_services.members import change_role, list_members, remove_member

member_app = typer.Typer(no_args_is_help=True, help="Members of a suite tenant (needs tenant.manage).")


@member_app.command("list")
@declares(Capability.TENANT_MANAGE)
def member_list(tenant: TenantName, actor_email: AsEmail, as_json: Json = False) -> None:
    """List the tenant's members and their roles, then its pending invitations."""
    with guarded(as_json):
        actor = acting_as(tenant, actor_email)
        members, pending = list_members(actor), list_invitations(actor)
        emit(as_json, {"members": members, "invitations": pending},
             "\n".join([f"{m.user_id}  {m.email}  {m.role}" for m in members]
                       + [f"{i.id}  {i.email}  {i.role}  (invited, pending)" for i in pending]))


@member_app.command("add")
@declares(Capability.TENANT_MANAGE)
def member_add(
    tenant: TenantName, actor_email: AsEmail,
    email: Annotated[str, typer.Option(help="The invitee's sign-in email.")],
    role: Annotated[str, typer.Option(help="owner, manager, operator or readonly.")],
    password_file: Annotated[str | None, typer.Option(help="The invitation's initial password (else stdin).")]
    = None,
    as_json: Json = False,
) -> None:
    """Invite someone: give them the initial password; they join when they sign in with it (or enter it)."""
    with guarded(as_json):
        actor = acting_as(tenant, actor_email)
        password = read_secret(password_file, "Initial password").rstrip("\r\n")
        invitation = invite_member(actor, email=email, role=role, password=password)
        emit(as_json, {"invitation": invitation},
             f"invited {invitation.email} as {invitation.role} in {tenant}; pending until they accept")


@member_app.command("revoke")
@declares(Capability.TENANT_MANAGE)
def member_revoke(invitation_id: str, tenant: TenantName, actor_email: AsEmail, as_json: Json = False) -> None:
    """Withdraw a pending invitation."""
    with guarded(as_json):
        invitation = revoke_invitation(acting_as(tenant, actor_email), invitation_id)
        emit(as_json, {"revoked": invitation}, f"revoked the invitation of {invitation.email}")


@member_app.command("set-role")
@declares(Capability.TENANT_MANAGE)
def member_set_role(user_id: str, tenant: TenantName, actor_email: AsEmail,
                    role: Annotated[str, typer.Option(help="The new role.")], as_json: Json = False) -> None:
    """Change a member's role."""
    with guarded(as_json):
        member = change_role(acting_as(tenant, actor_email), user_id, role)
        emit(as_json, {"member": member}, f"{member.email} is now {member.role}")


@member_app.command("remove")
@declares(Capability.TENANT_MANAGE)
def member_remove(user_id: str, tenant: TenantName, actor_email: AsEmail, as_json: Json = False) -> None:
    """Remove a member; their sessions in this tenant end at once."""
    with guarded(as_json):
        remove_member(acting_as(tenant, actor_email), user_id)
        emit(as_json, {"removed": user_id}, f"removed {user_id}")
