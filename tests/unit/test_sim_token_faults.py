"""Scenario parsing of token faults and of a tenant's discovery facts: what is accepted, and the mistakes refused."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from atlas_sim.scenario import ScenarioError, parse_scenario
from atlas_sim.token_faults import ENTRA_REFUSALS, parse_token_faults, refusal_for

CLIENT = "22222222-2222-2222-2222-222222222222"
TENANT: dict[str, Any] = {
    "id": "11111111-1111-1111-1111-111111111111", "display_name": "T", "verified_domains": [{"name": "t.example"}],
    "apps": [{"client_id": CLIENT, "display_name": "A", "secrets": [{"value": "v"}]}]}


def _scenario(**tenant_fields: Any) -> dict[str, Any]:
    tenant = copy.deepcopy(TENANT)
    tenant.update(tenant_fields)
    return {"tenants": [tenant]}


def test_token_faults_parse_at_scenario_and_tenant_level() -> None:
    data = _scenario(token_faults=[{"kind": "app_disabled", "clients": [CLIENT.upper()], "count": 1}])
    data["token_faults"] = [{"kind": "throttle", "retry_after": 2, "rate": 0.5}]
    scenario = parse_scenario(data)
    (tenant_rule,) = scenario.tenants[0].token_faults
    assert (tenant_rule.kind, tenant_rule.paths, tenant_rule.count) == ("app_disabled", (f"/{CLIENT}",), 1)
    assert tenant_rule.matches(f"/{CLIENT}") and not tenant_rule.matches("/33333333-3333-3333-3333-333333333333")
    (scenario_rule,) = scenario.token_faults
    assert (scenario_rule.kind, scenario_rule.retry_after, scenario_rule.rate) == ("throttle", 2.0, 0.5)
    assert scenario.faults == () and scenario.tenants[0].faults == ()


def test_every_refusal_kind_maps_to_its_entra_answer() -> None:
    for kind, refusal in ENTRA_REFUSALS.items():
        (spec,) = parse_token_faults([{"kind": kind}])
        assert refusal_for(spec) is refusal
    assert refusal_for(parse_token_faults([{"kind": "throttle"}])[0]).status == 429
    assert refusal_for(parse_token_faults([{"kind": "server_error", "status": 500}])[0]).code == 50000


@pytest.mark.parametrize(("fault", "message"), [
    ({"kind": "forbidden"}, "is not one of"),
    ({"kind": "app_disabled", "retry_after": 1}, "retry_after does not apply"),
    ({"kind": "app_disabled", "status": 500}, "status does not apply"),
    ({"kind": "throttle", "paths": ["/x"]}, "not paths"),
    ({"kind": "throttle", "clients": ["atlas"]}, "client ids"),
    ({"kind": "server_error", "status": 418}, "expected 500, 502, 503 or 504"),
    ({"kind": "slow", "seconds": -1}, "between 0"),
])
def test_mistaken_token_faults_are_refused_with_the_field_named(fault: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(_scenario(token_faults=[fault]))
    assert message in str(caught.value)
    assert "token_faults[0]" in str(caught.value)


def test_discovery_defaults_to_the_simulator_cloud_and_names_another() -> None:
    home = parse_scenario(_scenario()).tenants[0].discovery
    assert (home.cloud_instance_name, home.tenant_region_scope, home.other_cloud) == ("sim.atlas.invalid", "NA", False)
    gov = parse_scenario(_scenario(discovery={"cloud_instance_name": "microsoftonline.us",
                                              "tenant_region_scope": "USGov"})).tenants[0].discovery
    assert gov.other_cloud and gov.tenant_region_sub_scope is None
    with pytest.raises(ScenarioError, match="unknown field"):
        parse_scenario(_scenario(discovery={"cloud": "usgov"}))
    with pytest.raises(ScenarioError, match="short name"):
        parse_scenario(_scenario(discovery={"cloud_instance_name": "not a name"}))
