"""What every command shares: the common options, the capability declaration, and acting as a user."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from atlas_services.authz import Actor, Capability
from atlas_services.db import session_scope
from atlas_services.directory import actor_for

Json = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
TenantName = Annotated[str, typer.Option("--tenant", help="Suite tenant name.")]
AsEmail = Annotated[str, typer.Option("--as", help="Act as this user (their role applies).")]

F = TypeVar("F", bound=Callable[..., Any])
# Commands that act with the machine's own access (database URL, encryption keys), not as a tenant's user.
SYSTEM = "system"


def declares(capability: Capability | str) -> Callable[[F], F]:
    """Name the capability a command needs (the services enforce it); a registry test checks every command."""

    def mark(command: F) -> F:
        command.__atlas_capability__ = capability  # type: ignore[attr-defined]
        return command

    return mark


def acting_as(tenant: str, email: str) -> Actor:
    with session_scope() as session:
        return actor_for(session, email=email, tenant_name=tenant)
