"""Simulator scenario files: the demo's shape and the loader's refusals."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from atlas_sim.jwt import TokenSigner
from atlas_sim.scenario import ScenarioError, load_scenario, parse_scenario

MINIMAL: dict[str, Any] = {"tenants": [{
    "id": "11111111-1111-1111-1111-111111111111", "display_name": "T",
    "verified_domains": [{"name": "t.example"}, {"name": "t.onmicrosoft.com"}],
    "apps": [{"client_id": "22222222-2222-2222-2222-222222222222", "display_name": "A",
              "secrets": [{"value": "v"}], "permissions": ["Organization.Read.All"]}],
}]}


def test_the_demo_has_a_healthy_and_an_expired_tenant() -> None:
    scenario = load_scenario()
    seeds = {seed.display_name: seed for seed in scenario.connection_seeds()}
    assert set(seeds) == {"Contoso", "Fabrikam"}
    contoso = scenario.tenant(seeds["Contoso"].entra_tenant_id)
    fabrikam = scenario.tenant(seeds["Fabrikam"].entra_tenant_id)
    assert contoso is not None and fabrikam is not None
    assert not contoso.apps[0].secrets[0].expired
    assert fabrikam.apps[0].secrets[0].expired
    assert "Organization.Read.All" in contoso.apps[0].permissions
    assert all(seed.client_secret.startswith("DEMO-ONLY") for seed in seeds.values())
    assert "DEMO-ONLY" not in repr(seeds["Contoso"])


def test_tenants_resolve_by_id_or_domain_and_the_initial_domain_is_the_onmicrosoft_one() -> None:
    scenario = parse_scenario(MINIMAL)
    tenant = scenario.tenant("T.EXAMPLE")
    assert tenant is not None and scenario.tenant(tenant.id.upper()) is tenant
    assert tenant.default_domain == "t.example"
    assert [d.name for d in tenant.verified_domains if d.is_initial] == ["t.onmicrosoft.com"]
    assert tenant.app("22222222-2222-2222-2222-222222222222".upper()) is not None


def _broken(mutate: Any) -> str:
    data = copy.deepcopy(MINIMAL)
    mutate(data)
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(data)
    return str(caught.value)


def test_the_loader_refuses_mistakes_with_the_field_named() -> None:
    assert "unknown field(s) secret" in _broken(lambda d: d["tenants"][0]["apps"][0].update(secret="x"))
    assert "tenants[0].id: expected a GUID" in _broken(lambda d: d["tenants"][0].update(id="contoso"))
    assert "missing field(s) display_name" in _broken(lambda d: d["tenants"][0].pop("display_name"))
    assert "expired: expected true or false" in _broken(
        lambda d: d["tenants"][0]["apps"][0]["secrets"][0].update(expired="yes"))
    assert "at least one verified domain" in _broken(lambda d: d["tenants"][0].update(verified_domains=[]))
    assert "appears more than once" in _broken(lambda d: d["tenants"].append(copy.deepcopy(d["tenants"][0])))


def test_tokens_verify_only_when_issued_here_and_unexpired() -> None:
    signer = TokenSigner()
    token = signer.issue(tenant_id="t", client_id="c", app_display_name="A", object_id="o", roles=["R"],
                         audience="https://graph.microsoft.com", issuer="https://sts.windows.net/t/", now=1000)
    claims = signer.verify(token, now=1001)
    assert claims is not None and claims["roles"] == ["R"] and claims["tid"] == "t"
    assert signer.verify(token, now=1000 + 3600) is None
    assert TokenSigner().verify(token, now=1001) is None
    assert signer.verify(token[:-2] + "xx", now=1001) is None
    assert signer.verify("not-a-jwt") is None


FULL_EXAMPLE = """
name: example
seed: 7
page_sizes: {managedDevices: 500}
faults:
  - {kind: throttle, rate: 0.2, retry_after: 1, paths: [/deviceManagement/managedDevices]}
tenants:
  - id: 33333333-3333-3333-3333-333333333333
    display_name: Example
    verified_domains: [{name: example.onmicrosoft.com}]
    apps:
      - client_id: 44444444-4444-4444-4444-444444444444
        display_name: Atlas
        permissions: [DeviceManagementManagedDevices.Read.All]
        secrets: [{value: "x"}]
    intune:
      licensed: true
      devices:
        count: 50000
        operating_systems: {Windows: 55, iOS: 20, Android: 15, macOS: 10}
        compliance: {compliant: 82, noncompliant: 10, inGracePeriod: 4, unknown: 2, error: 1, conflict: 1}
        ownership: {company: 85, personal: 15}
        encrypted_percent: 90
      configurations: 8
      compliance_policies: 4
      mobile_apps: 20
    faults:
      - {kind: server_error, status: 503, after: 2, count: 3}
      - {kind: slow, seconds: 2.5, every: 10}
      - {kind: malformed_json, every: 50}
      - {kind: foreign_next_link, count: 1}
      - {kind: forbidden, paths: [/deviceAppManagement/mobileApps]}
      - {kind: throttle, every: 5}
"""


def test_the_documented_format_loads(tmp_path: Any) -> None:
    path = tmp_path / "example.yaml"
    path.write_text(FULL_EXAMPLE, encoding="utf-8")
    scenario = load_scenario(path)
    tenant = scenario.tenants[0]
    assert (scenario.seed, scenario.page_sizes["managedDevices"]) == (7, 500)
    assert tenant.intune.devices.count == 50_000 and tenant.intune.mobile_apps == 20
    assert [f.kind for f in tenant.faults] == ["server_error", "slow", "malformed_json", "foreign_next_link",
                                               "forbidden", "throttle"]
    assert scenario.faults[0].rate == 0.2 and scenario.faults[0].retry_after == 1


def test_a_missing_scenario_file_is_a_clear_error(tmp_path: Any) -> None:
    with pytest.raises(ScenarioError, match="cannot read the scenario"):
        load_scenario(tmp_path / "absent.yaml")
