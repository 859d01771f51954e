"""A fleet scenario: N customer tenants, each with one Atlas app registration and a client secret (issue 13).

The ids and secrets derive from the tenant's number, so the code that seeds Atlas's connections (a test, a
benchmark) and the simulator process serving the fleet agree without sharing a file. Every app is granted the
permissions a health check asks for, so a fleet-wide health check succeeds unless a fault says otherwise.
"""

from __future__ import annotations

import uuid
from typing import Any

from atlas_sim.scenario import ConnectionSeed, Scenario, parse_scenario

MAX_FLEET = 5000
FLEET_PERMISSIONS = ["Organization.Read.All", "Application.Read.All", "DeviceManagementManagedDevices.Read.All",
                     "DeviceManagementConfiguration.Read.All", "DeviceManagementApps.Read.All"]
_NAMESPACE = uuid.UUID("6f1f3c5e-2d0a-4c7e-9a51-0f1e2d3c4b5a")


def fleet_tenant_id(number: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"tenant-{number}"))


def fleet_client_id(number: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"app-{number}"))


def fleet_secret(number: int) -> str:
    # A simulator credential: it opens nothing but this simulator's fleet tenant.
    return f"SIM-ONLY~fleet-{number:04d}-secret"


def fleet_scenario_data(tenants: int, *, faults: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The scenario (in its YAML form) of ``tenants`` customer tenants numbered 1..N; ``faults`` apply to every
    tenant's Graph requests (a ``slow`` fault keeps runs in flight long enough to kill a worker mid-run)."""
    if not 1 <= tenants <= MAX_FLEET:
        raise ValueError(f"a fleet has 1 to {MAX_FLEET} tenants")
    return {
        "name": f"fleet-{tenants}",
        "description": f"{tenants} customer tenants, one Atlas app each",
        "faults": list(faults or []),
        "tenants": [{
            "id": fleet_tenant_id(n),
            "display_name": f"Fleet Customer {n:04d}",
            "verified_domains": [{"name": f"fleet{n:04d}.onmicrosoft.com"}],
            "apps": [{"client_id": fleet_client_id(n), "display_name": "Atlas", "permissions": FLEET_PERMISSIONS,
                      "secrets": [{"value": fleet_secret(n)}]}],
            "intune": {"devices": 3, "configurations": 1, "compliance_policies": 1, "mobile_apps": 1},
        } for n in range(1, tenants + 1)],
    }


def fleet_scenario(tenants: int, *, faults: list[dict[str, Any]] | None = None) -> Scenario:
    return parse_scenario(fleet_scenario_data(tenants, faults=faults), source=f"<fleet of {tenants}>")


def fleet_connection_seeds(tenants: int) -> list[ConnectionSeed]:
    """What creating the fleet's connections in Atlas needs, tenant by tenant (same order as the scenario)."""
    return [ConnectionSeed(display_name=f"Fleet Customer {n:04d}", entra_tenant_id=fleet_tenant_id(n),
                           client_id=fleet_client_id(n), client_secret=fleet_secret(n))
            for n in range(1, tenants + 1)]
