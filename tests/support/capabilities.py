"""Shared by the capability tests: a simulator scenario with one tenant per situation, and helpers to run an
operation in-process (start gate, then the worker's own execute_run) against it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from atlas_services.config import get_settings
from atlas_services.graph.tokens import clear_token_cache
from atlas_services.runs.execute import execute_run
from atlas_services.runs.queries import RunView, get_run
from atlas_services.runs.start import start_operation
from atlas_sim.scenario import Scenario, parse_scenario
from atlas_sim.server import RunningSimulator, start_in_thread
from tests.support.factories import create_connection

ORG = "Organization.Read.All"
APPS_READ = "Application.Read.All"
DEVICES = "DeviceManagementManagedDevices.Read.All"
CONFIG = "DeviceManagementConfiguration.Read.All"
APPS = "DeviceManagementApps.Read.All"
EVERYTHING = [ORG, APPS_READ, DEVICES, CONFIG, APPS]

NORTHWIND = "4e0a1c2b-7f3d-4a5e-9b6c-1d2e3f4a5b6c"
TAILSPIN = "9c8b7a6f-5e4d-4c3b-8a29-1f0e2d3c4b5a"
UNKNOWN_TENANT = "00000000-1111-4222-8333-444444444444"
NOT_REGISTERED_APP = "12121212-3434-4565-8787-909090909090"

# name -> (client id, granted permissions); every app has the secret f"TEST-ONLY~{name}" plus an expired one.
APPS_BY_NAME: dict[str, tuple[str, list[str]]] = {
    "full": ("a0000001-0000-4000-8000-000000000001", EVERYTHING),
    "no_apps": ("a0000002-0000-4000-8000-000000000002", [ORG, APPS_READ, DEVICES, CONFIG]),
    "token_only": ("a0000003-0000-4000-8000-000000000003", [ORG, DEVICES, CONFIG, APPS]),
    "no_consent": ("a0000004-0000-4000-8000-000000000004", []),
    "over": ("a0000005-0000-4000-8000-000000000005",
             [ORG, APPS_READ, "Directory.ReadWrite.All", "DeviceManagementManagedDevices.ReadWrite.All", CONFIG,
              APPS]),
    "no_config": ("a0000006-0000-4000-8000-000000000006", [ORG, APPS_READ, DEVICES]),
    "no_intune": ("a0000007-0000-4000-8000-000000000007", [ORG, APPS_READ]),
}
TAILSPIN_APP = "b0000001-0000-4000-8000-000000000001"

DEVICE_COUNT = 1100
CONFIGURATIONS = 5
COMPLIANCE_POLICIES = 3
MOBILE_APPS = 7


def secret_for(app: str) -> str:
    return f"TEST-ONLY~{app}~capabilities"


def expired_secret_for(app: str) -> str:
    return f"TEST-ONLY~{app}~expired"


def client_id(app: str) -> str:
    return APPS_BY_NAME[app][0]


def scenario() -> Scenario:
    apps = [{"client_id": cid, "display_name": f"Atlas ({name})", "permissions": permissions,
             "secrets": [{"value": secret_for(name)}, {"value": expired_secret_for(name), "expired": True}]}
            for name, (cid, permissions) in APPS_BY_NAME.items()]
    return parse_scenario({
        "name": "capabilities", "seed": 7,
        # Small pages so small listings still take several pages.
        "page_sizes": {"managedDevices": 400, "mobileApps": 3},
        "tenants": [
            {"id": NORTHWIND, "display_name": "Northwind", "verified_domains": [{"name": "northwind.example"}],
             "apps": apps,
             "intune": {"devices": DEVICE_COUNT, "configurations": CONFIGURATIONS,
                        "compliance_policies": COMPLIANCE_POLICIES, "mobile_apps": MOBILE_APPS}},
            {"id": TAILSPIN, "display_name": "Tailspin", "verified_domains": [{"name": "tailspin.example"}],
             "apps": [{"client_id": TAILSPIN_APP, "display_name": "Atlas (Tailspin)", "permissions": EVERYTHING,
                       "secrets": [{"value": secret_for("tailspin")}]}],
             "intune": {"devices": 10}},
        ]})


@contextmanager
def serving(scenario: Scenario, restore_url: str) -> Iterator[RunningSimulator]:
    """Serve ``scenario`` and point the simulator cloud (and any worker started meanwhile) at it."""
    with start_in_thread(scenario) as running:
        os.environ["ATLAS_SIMULATOR_URL"] = running.base_url
        get_settings.cache_clear()
        clear_token_cache()
        try:
            yield running
        finally:
            os.environ["ATLAS_SIMULATOR_URL"] = restore_url
            get_settings.cache_clear()
            clear_token_cache()


def connect(actor: Any, app: str = "full", *, secret: str | None = None, entra: str = NORTHWIND,
            client: str | None = None, name: str | None = None) -> Any:
    return create_connection(actor, name=name or f"{app}-{uuid.uuid4().hex[:6]}", entra_tenant_id=entra,
                             client_id=client or client_id(app), secret=secret or secret_for(app), make_default=False)


def run_now(actor: Any, op_type: str, connection_id: Any) -> RunView:
    """Start ``op_type`` and run it here, as the worker would."""
    started = start_operation(actor, op_type, connection_id, enqueue=lambda run_id: None)
    assert started.outcome == "started", started
    execute_run(started.run_id)
    return get_run(actor, started.run_id)
