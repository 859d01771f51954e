"""A world for the web handler tests: every role in tenant A, and something of everything in A and in B."""

from __future__ import annotations

from dataclasses import dataclass

from atlas_services.authz import Actor
from atlas_services.invitations import invite_member
from atlas_services.models import Role
from atlas_services.runs import start
from tests.support.database import empty_tables
from tests.support.factories import PASSWORD, create_connection, join_tenant, make_actor, random_suffix

ROLES = [role.value for role in Role]
# Everything created in the other tenant carries this marker, so a leak shows up in any state var.
OTHER = "zz-other-tenant"
GOOD_SECRET = "a-good~looking~secret-value-1234"


@dataclass
class World:
    actors: dict[str, Actor]  # role → a user with that role in tenant A
    owner_a: Actor
    owner_b: Actor
    tenant_c: str  # a third tenant every user of A also belongs to (for switching)
    tenant_b: str


def empty_world() -> None:
    empty_tables(login_attempts=True)  # `db` is per test; a world lives for a module


def new_connection(owner: Actor, marker: str = "") -> str:
    return str(create_connection(owner, name=f"{marker}conn-{random_suffix()}", secret=GOOD_SECRET).id)


def new_run(owner: Actor, marker: str = "") -> str:
    connection = new_connection(owner, marker)
    return str(start.start_operation(owner, "health_check", connection, enqueue=lambda _run_id: None).run_id)


def new_member(owner: Actor, marker: str = "") -> str:
    return str(join_tenant(owner, email=f"{marker}member-{random_suffix()}@example.test", role="readonly",
                          password=PASSWORD).user_id)


def new_invitation(owner: Actor, marker: str = "", email: str | None = None) -> str:
    """A pending invitation to ``email`` (a new account when not given)."""
    email = email or f"{marker}invitee-{random_suffix()}@example.test"
    return str(invite_member(owner, email=email, role="readonly", password=PASSWORD).id)


def build_world() -> World:
    tenant_a = f"tenant-a-{random_suffix()}"
    actors = {role: make_actor(role, tenant_a) for role in ROLES}
    owner_b = make_actor("owner", f"{OTHER}-{random_suffix()}")
    owner_c = make_actor("owner", f"tenant-c-{random_suffix()}")
    for actor in actors.values():
        join_tenant(owner_c, email=actor.email, role="readonly")
    # Something of everything in both tenants (and so audit events in both).
    for owner, marker in ((actors["owner"], ""), (owner_b, f"{OTHER}-")):
        new_run(owner, marker)
        new_member(owner, marker)
    return World(actors=actors, owner_a=actors["owner"], owner_b=owner_b, tenant_c=str(owner_c.tenant_id),
                tenant_b=str(owner_b.tenant_id))


