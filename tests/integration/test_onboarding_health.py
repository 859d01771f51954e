"""Onboarding diagnoses through the start gate, the worker's execute_run, real MSAL and the simulator:

* credential expiry read from the app registration (application.byAppId) when the app has Application.Read.All,
  matched by the secret's hint; the typed date without that permission; an app registered in another tenant;
* after consent, which permissions are still missing and why: propagating (in the directory, not in the token),
  not granted, or not in the token when the directory cannot be read;
* app-role ids that differ from Atlas's copy; a capability the connection's cloud does not offer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from atlas_services import cloud_availability, onboarding
from atlas_services.app_credentials import app_credentials_of
from atlas_services.connection_health import connection_health
from atlas_services.connections import list_connections
from atlas_services.credential_input import CertificateInput, ClientSecretInput
from atlas_services.db import session_scope
from atlas_services.errors import ProviderError
from atlas_services.runs.start import start_operation
from atlas_services.secrets import SecretValue
from atlas_sim.scenario import Scenario, parse_scenario
from atlas_sim.server import RunningSimulator
from tests.support.capabilities import APPS, APPS_READ, CONFIG, DEVICES, ORG, run_now, serving
from tests.support.certificates import make_certificate
from tests.support.factories import create_connection, make_actor

TENANT = "6d1f2e3a-4b5c-4d6e-8f70-8192a3b4c5d6"
CERTIFIED = "c0000008-0000-4000-8000-000000000008"
# Registered on the app beside a second certificate; Atlas signs in with the first.
IN_USE, OTHER = make_certificate("atlas-in-use", days=25), make_certificate("atlas-other", days=300, key_index=1)
EVERYTHING = [ORG, APPS_READ, DEVICES, CONFIG, APPS]
# name -> (client id, token roles, still propagating, registered in this tenant)
APPS_BY_NAME: dict[str, tuple[str, list[str], list[str], bool]] = {
    "reader": ("c0000001-0000-4000-8000-000000000001", EVERYTHING, [], True),
    "typed": ("c0000002-0000-4000-8000-000000000002", [ORG, DEVICES, CONFIG, APPS], [], True),
    "elsewhere": ("c0000003-0000-4000-8000-000000000003", EVERYTHING, [], False),
    "propagating": ("c0000004-0000-4000-8000-000000000004", [ORG, APPS_READ], [DEVICES, CONFIG, APPS], True),
    "partial": ("c0000005-0000-4000-8000-000000000005", [ORG, APPS_READ, DEVICES], [], True),
    "org_propagating": ("c0000006-0000-4000-8000-000000000006", [APPS_READ], [ORG], True),
    "no_directory": ("c0000007-0000-4000-8000-000000000007", [ORG], [], True),
}


def secret_for(app: str) -> str:
    return f"S{app[:2].upper()}~TEST-ONLY~{app}~onboarding"


def scenario() -> Scenario:
    apps = [{"client_id": cid, "display_name": f"Atlas ({name})", "permissions": roles,
             "pending_permissions": pending, "registered_here": here,
             "secrets": [{"value": secret_for(name), "expires_in_days": 12, "display_name": "in use"},
                         # Same first three characters, already expired: never the one that just signed in.
                         {"value": secret_for(name) + "~old", "expired": True, "display_name": "old"},
                         {"value": f"Z{name}~TEST-ONLY~spare", "expires_in_days": 200, "display_name": "spare"}]}
            for name, (cid, roles, pending, here) in APPS_BY_NAME.items()]
    apps.append({"client_id": CERTIFIED, "display_name": "Atlas (certificate)", "permissions": EVERYTHING,
                 "certificates": [OTHER.certificate_pem, IN_USE.certificate_pem]})
    return parse_scenario({"name": "onboarding", "tenants": [
        {"id": TENANT, "display_name": "Onboard", "verified_domains": [{"name": "onboard.example"}], "apps": apps,
         "intune": {"devices": 5, "configurations": 1, "compliance_policies": 1, "mobile_apps": 1}}]})


@pytest.fixture(scope="module")
def sim(simulator: RunningSimulator) -> Iterator[RunningSimulator]:
    with serving(scenario(), simulator.base_url) as running:
        yield running


@pytest.fixture
def owner(db: None, sim: RunningSimulator) -> Any:
    return make_actor("owner")


def _connect(owner: Any, app: str, typed_days: int = 100) -> Any:
    expires = date.today() + timedelta(days=typed_days)
    return create_connection(owner, name=f"{app}", entra_tenant_id=TENANT, client_id=APPS_BY_NAME[app][0],
                             credential=ClientSecretInput(SecretValue(secret_for(app)), expires_on=expires))


def _missing(summary: dict[str, Any]) -> dict[str, str]:
    return {m["permission"]: m["state"] for m in summary["missing_permissions"]}


# -- credential expiry ----------------------------------------------------------------------------------------------

def test_expiry_is_read_from_microsoft_with_application_read_all(owner: Any, sim: RunningSimulator) -> None:
    view = _connect(owner, "reader", typed_days=100)
    run = run_now(owner, "health_check", view.id)
    assert (run.status, run.reason_code) == ("succeeded", None), run.message
    summary = run.summary.stored()
    found = summary["app_credentials"]
    assert found["source"] == "microsoft" and found["note"] is None
    assert sorted(i["display_name"] for i in found["items"]) == ["in use", "old", "spare"]
    assert [i["display_name"] for i in found["items"] if i["in_use"]] == ["in use"]
    assert {i["hint"] for i in found["items"]} == {secret_for("reader")[:3], "Zre"}
    assert summary["credential"]["expires_source"] == "microsoft"
    assert summary["credential"]["days_left"] in (11, 12) and "expires in" in summary["credential"]["warning"]
    encoded = json.dumps(summary)
    assert secret_for("reader") not in encoded and "spare" in encoded

    health = connection_health(owner, view.id)
    assert health.credential_expires_source == "microsoft"
    assert health.credential_expires_at is not None
    assert (health.credential_expires_at.date() - date.today()).days in (11, 12)
    assert health.credential_warning and "expires in" in health.credential_warning
    assert [c.display_name for c in health.app_credentials] == ["old", "in use", "spare"]  # soonest first
    assert [c.in_use for c in health.app_credentials] == [False, True, False]
    with session_scope() as session:
        assert len(app_credentials_of(session, view.id)) == 3
    # The connections list warns from the same date, though 100 days were typed.
    listed = next(c for c in list_connections(owner) if c.id == view.id)
    assert listed.expiry_warning and "expires in" in listed.expiry_warning
    # A second check replaces the list, it does not add to it (and, with nothing propagating, reuses the token).
    before = sim.state.token_requests
    run_now(owner, "health_check", view.id)
    assert len(connection_health(owner, view.id).app_credentials) == 3
    assert sim.state.token_requests == before


def test_a_certificates_expiry_is_matched_by_thumbprint(owner: Any) -> None:
    view = create_connection(owner, name="certified", entra_tenant_id=TENANT, client_id=CERTIFIED,
                             credential=CertificateInput(pem=SecretValue(IN_USE.bundle)))
    run = run_now(owner, "health_check", view.id)
    assert run.status == "succeeded", run.message
    found = run.summary.stored()["app_credentials"]
    assert [(i["kind"], i["in_use"]) for i in found["items"]] == [("certificate", True), ("certificate", False)]
    assert found["in_use_end"] == IN_USE.certificate.not_valid_after_utc.replace(microsecond=0).isoformat()
    assert run.summary.stored()["credential"]["expires_source"] == "microsoft"
    assert IN_USE.private_key_pem not in json.dumps(run.summary.stored())


def test_without_application_read_all_the_typed_date_is_used_and_the_page_says_why(owner: Any) -> None:
    view = _connect(owner, "typed", typed_days=20)
    run = run_now(owner, "health_check", view.id)
    assert run.status == "succeeded", run.message
    summary = run.summary.stored()
    assert summary["app_credentials"]["source"] == "no_permission"
    assert "Application.Read.All" in summary["app_credentials"]["note"]
    assert summary["credential"]["expires_source"] == "typed" and summary["credential"]["days_left"] in (19, 20)
    health = connection_health(owner, view.id)
    assert health.credential_expires_source is None and health.app_credentials == ()
    assert health.credential_expiry_note and "Application.Read.All" in health.credential_expiry_note
    assert health.credential_warning and "expires in" in health.credential_warning


def test_an_app_registered_in_another_tenant_keeps_the_typed_date(owner: Any) -> None:
    view = _connect(owner, "elsewhere", typed_days=100)
    run = run_now(owner, "health_check", view.id)
    assert run.status == "succeeded", run.message
    found = run.summary.stored()["app_credentials"]
    assert found["source"] == "not_in_tenant" and "registered elsewhere" in found["note"]
    assert connection_health(owner, view.id).credential_expires_source is None


# -- what is still missing after consent -------------------------------------------------------------------------------

def test_permissions_granted_in_the_directory_but_not_in_the_token_are_propagating(owner: Any,
                                                                                  sim: RunningSimulator) -> None:
    view = _connect(owner, "propagating")
    run = run_now(owner, "health_check", view.id)
    assert run.status == "succeeded", run.message
    summary = run.summary.stored()
    assert _missing(summary) == {DEVICES: "propagating", CONFIG: "propagating", APPS: "propagating"}
    assert summary["readiness"]["inventory_sync"]["status"] == "blocked"
    assert any("propagating" in w for w in summary["warnings"])
    health = connection_health(owner, view.id)
    assert {m.permission: m.state for m in health.missing_permissions} == _missing(summary)
    needed = {m.permission: m.needed_for for m in health.missing_permissions}
    assert needed[DEVICES] == ["inventory_sync", "compliance_snapshot"]
    # The cached token predates the consent: the next check asks Entra for a fresh one.
    before = sim.state.token_requests
    run_now(owner, "health_check", view.id)
    assert sim.state.token_requests > before


def test_permissions_missing_from_the_directory_are_not_granted(owner: Any) -> None:
    run = run_now(owner, "health_check", _connect(owner, "partial").id)
    assert run.status == "succeeded", run.message
    assert _missing(run.summary.stored()) == {CONFIG: "not_granted", APPS: "not_granted"}


def test_organization_read_still_propagating_fails_the_check_as_propagating(owner: Any,
                                                                            sim: RunningSimulator) -> None:
    view = _connect(owner, "org_propagating")
    run = run_now(owner, "health_check", view.id)
    assert (run.status, run.reason_code) == ("failed", "permission.propagating"), run.message
    assert ORG in (run.message or "") and "Wait a few minutes" in (run.remediation or "")
    assert _missing(run.summary.stored())[ORG] == "propagating"
    assert connection_health(owner, view.id).reason_code == "permission.propagating"
    before = sim.state.token_requests
    assert run_now(owner, "health_check", view.id).reason_code == "permission.propagating"
    assert sim.state.token_requests > before  # a fresh token, in case consent has arrived meanwhile


def test_without_the_directory_the_token_alone_cannot_tell_propagation_from_not_granted(owner: Any) -> None:
    run = run_now(owner, "health_check", _connect(owner, "no_directory").id)
    assert run.status == "succeeded", run.message
    summary = run.summary.stored()
    assert summary["permissions"]["source"] == "token_roles_claim"
    assert set(_missing(summary).values()) == {"not_in_token"} and DEVICES in _missing(summary)


# -- app-role ids, clouds ---------------------------------------------------------------------------------------------

def test_an_app_role_id_that_differs_from_atlass_copy_is_flagged(owner: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    real = onboarding.catalogue()
    wrong = "00000000-0000-4000-8000-00000000abcd"
    altered = onboarding.PermissionCatalogue(real.resource_app_id, real.resource_name,
                                             {**real.ids, ORG: wrong}, real.required, real.recommended)
    monkeypatch.setattr("atlas_services.providers.microsoft.health.catalogue", lambda: altered)
    run = run_now(owner, "health_check", _connect(owner, "reader").id)
    assert run.status == "succeeded", run.message
    summary = run.summary.stored()
    assert summary["app_role_mismatches"] == [{"permission": ORG, "expected": wrong, "found": real.ids[ORG]}]
    assert any(real.ids[ORG] in w for w in summary["warnings"])


@pytest.fixture
def gap_in_the_simulated_cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A table in which the global cloud (whose Graph the simulator plays) lacks the mobile apps listing."""
    table = yaml.safe_load(cloud_availability.TABLE_FILE.read_text(encoding="utf-8"))
    table["missing"]["global"] = {"mobileApps.list": ["inventory_sync"]}
    path = tmp_path / "cloud_availability.yaml"
    path.write_text(yaml.safe_dump(table), encoding="utf-8")
    monkeypatch.setattr(cloud_availability, "TABLE_FILE", path)


@pytest.mark.usefixtures("gap_in_the_simulated_cloud")
def test_a_capability_the_cloud_lacks_is_shown_by_the_health_check_and_refused_at_start(owner: Any) -> None:
    view = _connect(owner, "reader")
    run = run_now(owner, "health_check", view.id)
    assert run.status == "succeeded", run.message
    inventory = run.summary.stored()["readiness"]["inventory_sync"]
    assert inventory["status"] == "not_available" and "mobileApps.list" in inventory["label"]
    assert run.summary.stored()["readiness"]["compliance_snapshot"]["status"] == "ready"
    assert {r.capability: r.status for r in connection_health(owner, view.id).readiness}["inventory_sync"] == \
        "not_available"
    queued: list[Any] = []
    with pytest.raises(ProviderError) as caught:
        start_operation(owner, "inventory_sync", view.id, enqueue=queued.append)
    assert caught.value.code == "capability.not_available_in_cloud" and "mobileApps.list" in caught.value.detail
    assert queued == []
    assert run_now(owner, "compliance_snapshot", view.id).status == "succeeded"
