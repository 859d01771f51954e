"""`atlas demo`: an idempotent demo tenant with a user per role and connections against the simulator."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from atlas_services.connections import create_connection, list_connections
from atlas_services.db import session_scope
from atlas_services.directory import actor_for, create_tenant, create_user
from atlas_services.models import Role, Tenant, User
from atlas_services.secrets import SecretValue
from atlas_sim.scenario import load_scenario

DEMO_TENANT = "Demo MSP"
# Demo passwords are printed by `atlas run`; they only ever guard a local demo database.
DEMO_USERS = [(role, f"{role.value}@demo.atlas.test", f"demo-{role.value}-password") for role in Role]


def seed_demo(scenario_path: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Create what is missing and report everything the demo consists of."""
    with session_scope() as session:
        if session.exec(select(Tenant).where(Tenant.name == DEMO_TENANT)).first() is None:
            create_tenant(session, DEMO_TENANT)
        for role, email, password in DEMO_USERS:
            if session.exec(select(User).where(User.email == email)).first() is None:
                create_user(session, email=email, password=password, tenant_name=DEMO_TENANT, role=role)
        owner = actor_for(session, email=DEMO_USERS[0][1], tenant_name=DEMO_TENANT)
    existing = {view.name for view in list_connections(owner)}
    for seed in load_scenario(scenario_path).connection_seeds():
        if seed.display_name not in existing:
            create_connection(owner, name=seed.display_name, entra_tenant_id=seed.entra_tenant_id,
                              client_id=seed.client_id, client_secret=SecretValue(seed.client_secret),
                              cloud="simulator")
    return {
        "tenants": [{"name": DEMO_TENANT}],
        "users": [{"email": email, "role": role.value, "tenant": DEMO_TENANT, "password": password}
                  for role, email, password in DEMO_USERS],
        "connections": [{"id": str(view.id), "name": view.name, "tenant": DEMO_TENANT, "default": view.is_default}
                        for view in list_connections(owner)],
    }
