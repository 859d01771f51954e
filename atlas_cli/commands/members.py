"""`atlas member`: the members of a suite tenant and their roles."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from atlas_cli.commands.base import AsEmail, Json, TenantName, acting_as, declares
from atlas_cli.output import emit, guarded, read_secret
from atlas_services.authz import Capability
from atlas_services.members import add_member, change_role, list_members, remove_member

member_app = typer.Typer(no_args_is_help=True, help="Members of a suite tenant (needs tenant.manage).")


@member_app.command("list")
@declares(Capability.TENANT_MANAGE)
def member_list(tenant: TenantName, actor_email: AsEmail, as_json: Json = False) -> None:
    """List the tenant's members and their roles."""
    with guarded(as_json):
        members = list_members(acting_as(tenant, actor_email))
        emit(as_json, {"members": members}, "\n".join(f"{m.user_id}  {m.email}  {m.role}" for m in members))


@member_app.command("add")
@declares(Capability.TENANT_MANAGE)
def member_add(
    tenant: TenantName, actor_email: AsEmail,
    email: Annotated[str, typer.Option(help="The member's sign-in email.")],
    role: Annotated[str, typer.Option(help="owner, manager, operator or readonly.")],
    password_file: Annotated[str | None, typer.Option(help="Initial password for a new user (else stdin).")]
    = None,
    as_json: Json = False,
) -> None:
    """Add a user to the tenant (a new user gets the initial password from stdin or a file)."""
    with guarded(as_json):
        actor = acting_as(tenant, actor_email)
        password = None
        if password_file or not sys.stdin.isatty():  # an existing user needs none: don't prompt
            password = read_secret(password_file, "Initial password").rstrip("\r\n") or None
        member = add_member(actor, email=email, role=role, password=password)
        emit(as_json, {"member": member}, f"{member.email} is now {member.role} in {tenant}")


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
