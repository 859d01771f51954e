"""A simulator scenario for token-endpoint diagnoses: one tenant with several apps (each a candidate for a token
fault), and one tenant that lives in another cloud."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from atlas_services.config import get_settings
from atlas_services.graph.token_http import TokenRetryPolicy
from atlas_services.graph.tokens import clear_token_cache
from atlas_sim.scenario import Scenario, parse_scenario
from atlas_sim.server import RunningSimulator, start_in_thread
from tests.support.certificates import GeneratedCertificate

TENANT = "5b0f3a4e-2c1d-4e6f-8a9b-0c1d2e3f4a5b"
GOV_TENANT = "7c2e4a6b-8d0f-4a1c-9e3b-5d7f9a1c3e5b"
APP = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
OTHER_APP = "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e"
CERT_APP = "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"
GOV_APP = "3d4e5f6a-7b8c-4d9e-8f0a-2b3c4d5e6f7a"
SECRET = "token-diagnosis-secret-not-real"  # a simulator value, valid nowhere else


def token_scenario(*registered: GeneratedCertificate) -> Scenario:
    app = {"display_name": "Atlas", "permissions": ["Organization.Read.All"], "secrets": [{"value": SECRET}]}
    return parse_scenario({"name": "token-diagnoses", "tenants": [
        {"id": TENANT, "display_name": "Northwind", "verified_domains": [{"name": "northwind.onmicrosoft.com"}],
         "apps": [{**app, "client_id": APP}, {**app, "client_id": OTHER_APP, "display_name": "Other"},
                  {"client_id": CERT_APP, "display_name": "Atlas (certificate)",
                   "permissions": ["Organization.Read.All"],
                   "certificates": [c.certificate_pem for c in registered]}]},
        {"id": GOV_TENANT, "display_name": "Tailspin (US Gov)",
         "verified_domains": [{"name": "tailspin.onmicrosoft.us"}],
         "discovery": {"cloud_instance_name": "microsoftonline.us", "tenant_region_scope": "USGov",
                       "tenant_region_sub_scope": "DODCON"},
         "apps": [{**app, "client_id": GOV_APP}]},
    ]})


@contextmanager
def serving(scenario: Scenario) -> Iterator[RunningSimulator]:
    """A simulator for ``scenario`` that the simulator cloud's transport reaches (settings restored after)."""
    running = start_in_thread(scenario)
    patch = pytest.MonkeyPatch()
    patch.setenv("ATLAS_SIMULATOR_URL", running.base_url)
    get_settings.cache_clear()
    clear_token_cache()
    try:
        yield running
    finally:
        patch.undo()
        get_settings.cache_clear()
        clear_token_cache()
        running.stop()


def token_form(client_id: str, secret: str = SECRET, scope: str = "https://graph.microsoft.com/.default") -> dict[
        str, Any]:
    return {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, "scope": scope}


def fast_token_retries() -> TokenRetryPolicy:
    """The token retry policy with waits short enough for tests (the counts stay the production ones)."""
    return TokenRetryPolicy(base_delay=0.01, max_backoff=0.05, max_retry_after=30.0, max_total_wait=30.0)
