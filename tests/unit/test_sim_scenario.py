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
