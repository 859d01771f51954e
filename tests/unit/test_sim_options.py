"""The issue-14 scenario options: parsed strictly (typos fail loudly, naming the field), with their defaults."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from atlas_sim.consistency import ConsentLag, Consistency, TokenLifetime
from atlas_sim.scenario import Scenario, ScenarioError, SimTenant, parse_scenario
from atlas_sim.shapes import Shapes

TENANT = "7a7a7a7a-0000-4000-8000-000000000001"
APP = "7a7a7a7a-1111-4111-8111-000000000001"


def parsed(tenant: dict[str, Any] | None = None, app: dict[str, Any] | None = None,
           intune: dict[str, Any] | None = None) -> Scenario:
    return parse_scenario({"tenants": [{
        "id": TENANT, "display_name": "T", "verified_domains": [{"name": "t.example"}],
        "apps": [{"client_id": APP, "display_name": "A", "permissions": ["Organization.Read.All", "X.Read.All"],
                  **(app or {})}],
        "intune": intune or {}, **(tenant or {})}]})


def only_tenant(scenario: Scenario) -> SimTenant:
    return scenario.tenants[0]


def test_the_options_default_to_graph_behaving_well() -> None:
    tenant = only_tenant(parsed())
    assert tenant.shapes == Shapes() and tenant.token_lifetime is None
    assert tenant.apps[0].consent_lag is None and tenant.intune.unlicensed_answer == "bad_request"


def test_every_option_is_read() -> None:
    tenant = only_tenant(parsed(
        tenant={"token_lifetime": {"requests": 3}, "shapes": {"empty_pages": True, "empty_error_code": True}},
        app={"consent_lag": {"permissions": ["X.Read.All"], "tokens": 2, "assignment_reads": 1,
                             "service_principal_reads": 4}},
        intune={"licensed": False, "unlicensed_answer": "unknown_error"}))
    assert tenant.token_lifetime == TokenLifetime(requests=3)
    assert tenant.shapes == Shapes(empty_pages=True, empty_error_code=True)
    assert tenant.apps[0].consent_lag == ConsentLag(frozenset({"X.Read.All"}), 2, 1, 4)
    assert tenant.intune.unlicensed_answer == "unknown_error"


@pytest.mark.parametrize(("kwargs", "where"), [
    ({"tenant": {"shapes": {"empty_page": True}}}, "tenants[0].shapes: unknown field(s) empty_page"),
    ({"tenant": {"shapes": {"count_unasked": "yes"}}}, "shapes.count_unasked"),
    ({"tenant": {"token_lifetime": {"seconds": 1, "requests": 2}}}, "either seconds or requests"),
    ({"tenant": {"token_lifetime": {"requests": 0}}}, "token_lifetime.requests"),
    ({"app": {"consent_lag": {"permissions": ["Y.Read.All"]}}}, "Y.Read.All must also be among"),
    ({"app": {"consent_lag": {"tokens": -1}}}, "consent_lag.tokens"),
    ({"intune": {"unlicensed_answer": "teapot"}}, "expected one of bad_request, unauthorized, unknown_error"),
])
def test_a_malformed_option_names_its_field(kwargs: dict[str, Any], where: str) -> None:
    with pytest.raises(ScenarioError, match=re.escape(where)):
        parsed(**kwargs)


def test_a_lifetime_in_seconds_refuses_tokens_older_than_it() -> None:
    scenario = parsed(tenant={"token_lifetime": {"seconds": 60}})
    book = Consistency(scenario)
    tenant = only_tenant(scenario)
    assert not book.token_expired(tenant, {"iat": time.time() - 30, "uti": "a"})
    assert book.token_expired(tenant, {"iat": time.time() - 90, "uti": "b"})


def test_a_lifetime_in_requests_counts_each_token_apart() -> None:
    scenario = parsed(tenant={"token_lifetime": {"requests": 2}})
    book, tenant = Consistency(scenario), only_tenant(scenario)
    assert [book.token_expired(tenant, {"uti": "a"}) for _ in range(3)] == [False, False, True]
    assert book.token_expired(tenant, {"uti": "b"}) is False


def test_a_consent_lag_without_permissions_holds_back_every_grant_then_reset_reopens_it() -> None:
    scenario = parsed(app={"consent_lag": {"tokens": 1}})
    book, tenant = Consistency(scenario), only_tenant(scenario)
    app = tenant.apps[0]
    assert book.token_roles(tenant, app) == []
    assert book.token_roles(tenant, app) == ["Organization.Read.All", "X.Read.All"]
    book.reset()
    assert book.token_roles(tenant, app) == []
