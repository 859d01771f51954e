"""GraphClient against a scripted fake Graph: contracts enforced, errors mapped, retries bounded."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from atlas_services.graph.client import GraphClient, GraphRequestError
from atlas_services.graph.clouds import CLOUDS
from atlas_services.graph.contracts import ContractError, ContractSet, parse_contracts

GLOBAL = CLOUDS["global"]
TOKEN = "token-" + "x" * 20

CONTRACTS: ContractSet = parse_contracts({"contracts": [
    {"key": "organization.list", "method": "GET", "path": "/organization", "version": "v1.0",
     "select": ["id", "displayName"], "permissions": ["Organization.Read.All"], "paging": False,
     "throttle_class": "directory", "capabilities": ["health_check"]},
    {"key": "devices.list", "method": "GET", "path": "/deviceManagement/managedDevices", "version": "v1.0",
     "select": ["id", "deviceName"], "permissions": ["DeviceManagementManagedDevices.Read.All"], "paging": True,
     "throttle_class": "intune_devices", "capabilities": ["inventory_sync"]},
    {"key": "assignments.list", "method": "GET", "path": "/servicePrincipals/{spId}/appRoleAssignments",
     "version": "v1.0", "select": ["id"], "permissions": ["Application.Read.All"], "paging": True,
     "throttle_class": "directory", "capabilities": ["health_check"]},
]})

Handler = Callable[[httpx.Request], httpx.Response]


class FakeGraph:
    """Answers from a script of responses, recording every request and every sleep."""

    def __init__(self, *responses: httpx.Response | Exception) -> None:
        self.script = list(responses)
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    def client(self, **kwargs: Any) -> GraphClient:
        http = httpx.Client(transport=httpx.MockTransport(self.handler))
        return GraphClient(GLOBAL, lambda: TOKEN, http, contracts=CONTRACTS, sleep=self.sleeps.append, **kwargs)


def ok(body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.Response(200, json=body, headers={"request-id": "rid-ok", **headers})


def error(status: int, code: str = "Whatever", message: str = "nope", **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message}},
                          headers={"request-id": f"rid-{status}", **headers})


def test_get_builds_the_contract_url_with_its_select_and_the_bearer_token() -> None:
    fake = FakeGraph(ok({"value": [{"id": "1"}]}))
    page = fake.client().get("organization.list")
    assert page == {"value": [{"id": "1"}]}
    request = fake.requests[0]
    assert request.url.host == "graph.microsoft.com"
    assert request.url.path == "/v1.0/organization"
    assert request.url.params["$select"] == "id,displayName"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.method == "GET"


def test_path_parameters_are_required_and_encoded() -> None:
    fake = FakeGraph(ok({"value": []}))
    fake.client().get("assignments.list", path_params={"spId": "a/b c"})
    assert fake.requests[0].url.raw_path.startswith(b"/v1.0/servicePrincipals/a%2Fb%20c/appRoleAssignments")
    with pytest.raises(ContractError, match="path parameters"):
        fake.client().get("assignments.list")


def test_only_declared_contracts_select_fields_and_options_are_accepted() -> None:
    client = FakeGraph().client()
    with pytest.raises(ContractError, match="no Graph contract named"):
        client.get("users.list")
    with pytest.raises(ContractError, match="does not allow \\$select"):
        client.get("organization.list", select=["id", "street"])
    with pytest.raises(ContractError, match="query option '\\$select'"):
        client.get("organization.list", params={"$select": "street"})


def test_a_narrower_select_and_odata_options_are_sent() -> None:
    fake = FakeGraph(ok({"value": []}))
    fake.client().get("devices.list", select=["id"], params={"$top": 5, "$count": True})
    params = fake.requests[0].url.params
    assert (params["$select"], params["$top"], params["$count"]) == ("id", "5", "true")


def test_pages_follow_next_links_on_the_same_host() -> None:
    next_link = "https://graph.microsoft.com/v1.0/deviceManagement/managedDevices?$skiptoken=abc"
    fake = FakeGraph(ok({"value": [{"id": "1"}], "@odata.nextLink": next_link}), ok({"value": [{"id": "2"}]}))
    items = list(fake.client().iter_items("devices.list"))
    assert [i["id"] for i in items] == ["1", "2"]
    assert str(fake.requests[1].url) == next_link


@pytest.mark.parametrize("next_link", [
    "https://evil.example/v1.0/deviceManagement/managedDevices?$skiptoken=abc",
    "http://graph.microsoft.com/v1.0/deviceManagement/managedDevices",
])
def test_next_links_to_another_host_are_refused(next_link: str) -> None:
    fake = FakeGraph(ok({"value": [], "@odata.nextLink": next_link}))
    pages = fake.client().iter_pages("devices.list")
    next(pages)
    with pytest.raises(GraphRequestError) as caught:
        next(pages)
    assert caught.value.code == "graph.bad_response"
    assert len(fake.requests) == 1


def test_a_repeated_next_link_stops_instead_of_looping() -> None:
    link = "https://graph.microsoft.com/v1.0/deviceManagement/managedDevices?$skiptoken=same"
    fake = FakeGraph(ok({"value": [], "@odata.nextLink": link}), ok({"value": [], "@odata.nextLink": link}))
    with pytest.raises(GraphRequestError, match="repeated"):
        list(fake.client().iter_pages("devices.list"))


def test_a_non_paging_contract_ignores_next_links() -> None:
    fake = FakeGraph(ok({"value": [], "@odata.nextLink": "https://graph.microsoft.com/v1.0/organization?x=1"}))
    assert len(list(fake.client().iter_pages("organization.list"))) == 1


def test_401_is_auth_failed_with_the_request_id() -> None:
    fake = FakeGraph(error(401, "InvalidAuthenticationToken"))
    with pytest.raises(GraphRequestError) as caught:
        fake.client().get("organization.list")
    assert caught.value.code == "auth.failed"
    assert caught.value.request_id == "rid-401"
    assert "rid-401" in caught.value.detail
    assert TOKEN not in str(caught.value)


def test_403_names_the_contract_permissions() -> None:
    fake = FakeGraph(error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."))
    with pytest.raises(GraphRequestError) as caught:
        fake.client().get("organization.list")
    assert caught.value.code == "permission.missing"
    assert "Organization.Read.All" in caught.value.detail


def test_intune_403_names_the_scopes_from_its_json_message() -> None:
    inner = json.dumps({"_version": 3, "Message": "Application is not authorized to perform this operation. "
                        "Application must have one of the following scopes: DeviceManagementManagedDevices.Read.All, "
                        "DeviceManagementManagedDevices.ReadWrite.All - Operation ID (for customer support): 0",
                        "CustomApiErrorPhrase": "", "RetryAfter": None})
    fake = FakeGraph(error(403, "Forbidden", inner))
    with pytest.raises(GraphRequestError) as caught:
        fake.client().get("devices.list")
    needed = "DeviceManagementManagedDevices.Read.All, DeviceManagementManagedDevices.ReadWrite.All"
    assert needed in caught.value.detail


def test_429_is_retried_honouring_a_capped_retry_after() -> None:
    fake = FakeGraph(error(429, "TooManyRequests", **{"Retry-After": "120"}), ok({"value": []}))
    assert fake.client(max_retry_after_seconds=3).get("organization.list") == {"value": []}
    assert fake.sleeps == [3]


def test_persistent_throttling_ends_as_graph_throttled() -> None:
    fake = FakeGraph(*[error(429, **{"Retry-After": "1"}) for _ in range(3)])
    with pytest.raises(GraphRequestError) as caught:
        fake.client(max_attempts=3).get("organization.list")
    assert caught.value.code == "graph.throttled"
    assert fake.sleeps == [1, 1]


def test_503_is_retried_then_graph_unavailable() -> None:
    fake = FakeGraph(error(503), error(504), error(503))
    with pytest.raises(GraphRequestError) as caught:
        fake.client(max_attempts=3).get("organization.list")
    assert caught.value.code == "graph.unavailable"
    assert len(fake.requests) == 3
    assert all(0 <= s <= 5 for s in fake.sleeps)


def test_500_is_not_retried() -> None:
    fake = FakeGraph(error(500))
    with pytest.raises(GraphRequestError) as caught:
        fake.client().get("organization.list")
    assert caught.value.code == "graph.unavailable"
    assert len(fake.requests) == 1


def test_the_time_budget_stops_retries() -> None:
    fake = FakeGraph(error(429, **{"Retry-After": "5"}), ok({}))
    with pytest.raises(GraphRequestError) as caught:
        fake.client(time_budget_seconds=1).get("organization.list")
    assert caught.value.code == "graph.throttled"
    assert fake.sleeps == []


def test_connection_errors_are_retried_then_network_unreachable() -> None:
    fake = FakeGraph(httpx.ConnectError("refused"), httpx.ConnectError("refused"))
    with pytest.raises(GraphRequestError) as caught:
        fake.client(max_attempts=2).get("organization.list")
    assert caught.value.code == "network.unreachable"
    assert len(fake.sleeps) == 1


def test_a_connection_error_then_success_recovers() -> None:
    fake = FakeGraph(httpx.ConnectError("refused"), ok({"value": []}))
    assert fake.client().get("organization.list") == {"value": []}


def test_a_timeout_is_graph_timeout() -> None:
    fake = FakeGraph(httpx.ReadTimeout("slow"))
    with pytest.raises(GraphRequestError) as caught:
        fake.client().get("organization.list")
    assert caught.value.code == "graph.timeout"


@pytest.mark.parametrize("response", [
    httpx.Response(200, text="<html>not json</html>"),
    httpx.Response(200, json=["a", "list"]),
])
def test_an_unreadable_body_is_graph_bad_response(response: httpx.Response) -> None:
    with pytest.raises(GraphRequestError) as caught:
        FakeGraph(response).client().get("organization.list")
    assert caught.value.code == "graph.bad_response"


def test_other_4xx_is_bad_response_naming_only_a_safe_error_code() -> None:
    fake = FakeGraph(error(400, "BadRequest", "Could not find a property named 'secret-ish text'"))
    with pytest.raises(GraphRequestError) as caught:
        fake.client().get("organization.list")
    assert caught.value.code == "graph.bad_response"
    assert "(BadRequest)" in caught.value.detail
    assert "secret-ish" not in caught.value.detail


def test_request_ids_are_kept_for_diagnostics() -> None:
    fake = FakeGraph(error(503), ok({"value": []}))
    client = fake.client()
    client.get("organization.list")
    assert list(client.request_ids) == ["rid-503", "rid-ok"]
    assert client.last_request_id == "rid-ok"


def test_the_token_provider_is_asked_before_every_request() -> None:
    tokens = iter(["t1", "t2"])
    fake = FakeGraph(error(503), ok({}))
    http = httpx.Client(transport=httpx.MockTransport(fake.handler))
    GraphClient(GLOBAL, lambda: next(tokens), http, contracts=CONTRACTS, sleep=fake.sleeps.append).get(
        "organization.list")
    assert [r.headers["authorization"] for r in fake.requests] == ["Bearer t1", "Bearer t2"]
