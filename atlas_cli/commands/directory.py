"""`atlas tenant` and `atlas user`: suite tenants and their users, created with the machine's own access."""

from __future__ import annotations

from typing import Annotated

import typer

from atlas_cli.commands.base import SYSTEM, Json, TenantName, declares
from atlas_cli.output import emit, guarded, read_secret
from atlas_services.db import session_scope
from atlas_services.directory import create_tenant, create_user

tenant_app = typer.Typer(no_args_is_help=True, help="Suite tenants.")
user_app = typer.Typer(no_args_is_help=True, help="Users and their memberships.")


@tenant_app.command("create")
@declares(SYSTEM)
def tenant_create(name: str, as_json: Json = False) -> None:
    """Create a suite tenant."""
    with guarded(as_json), session_scope() as session:
        tenant = create_tenant(session, name)
        emit(as_json, {"id": tenant.id, "name": tenant.name}, f"created tenant {tenant.name} ({tenant.id})")


@user_app.command("create")
@declares(SYSTEM)
def user_create(
    email: Annotated[str, typer.Option(help="Sign-in email.")],
    tenant: TenantName,
    role: Annotated[str, typer.Option(help="owner, manager, operator or readonly.")],
    password_file: Annotated[str | None, typer.Option(help="Read the password from this file (else stdin).")] = None,
    as_json: Json = False,
) -> None:
    """Create a user with a role in a tenant; the password comes from stdin or a file."""
    with guarded(as_json):
        password = read_secret(password_file, "Password").rstrip("\r\n")
        with session_scope() as session:
            user = create_user(session, email=email, password=password, tenant_name=tenant, role=role)
            payload = {"id": user.id, "email": user.email, "tenant": tenant, "role": role}
        emit(as_json, payload, f"created user {payload['email']} as {role} in {tenant}")
