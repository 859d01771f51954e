"""GraphClient against a scripted fake Graph: contracts enforced, pages streamed, errors mapped, retries timed on a
fake clock, and the per-(app, tenant) request budget shared."""

from __future__ import annotations

import bisect
import json
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from atlas_services.graph.budget import RequestBudgets, TokenBucket
from atlas_services.graph.client import GraphClient, GraphPage, RetryPolicy
from atlas_services.graph.clouds import CLOUDS
from atlas_services.graph.contracts import THROTTLE_CLASSES, ContractError, ContractSet, parse_contracts
from atlas_services.graph.errors import INTUNE_NOT_LICENSED, GraphRequestError

GLOBAL = CLOUDS["global"]
TOKEN = "token-" + "x" * 20
TENANT = "69428f70-3c80-4e10-b63c-dc69ea0f142f"
APP = "217150f4-a636-4778-b5ec-3b57952fc53a"
SP_ID = "8e881353-1735-45af-af21-ee1344582a4d"

CONTRACTS: ContractSet = parse_contracts({"contracts": [
    {"key": "organization.list", "method": "GET", "path": "/organization", "version": "v1.0",
     "select": ["id", "displayName"], "permissions": ["Organization.Read.All"], "paging": False,
     "throttle_class": "directory", "capabilities": ["health_check"]},
    {"key": "devices.list", "method": "GET", "path": "/deviceManagement/managedDevices", "version": "v1.0",
     "select": ["id", "deviceName"], "permissions": ["DeviceManagementManagedDevices.Read.All"], "paging": True,
     "throttle_class": "intune_devices", "capabilities": ["inventory_sync"]},
    {"key": "assignments.list", "method": "GET", "path": "/servicePrincipals/{spId:guid}/appRoleAssignments",
     "version": "v1.0", "select": ["id"], "permissions": ["Application.Read.All"], "paging": True,
     "throttle_class": "directory", "capabilities": ["health_check"]},
    {"key": "sp.byAppId", "method": "GET", "path": "/servicePrincipals(appId='{appId:guid}')",
     "version": "v1.0", "select": ["id", "appId"], "permissions": ["Application.Read.All"], "paging": False,
     "throttle_class": "directory", "capabilities": ["health_check"]},
    {"key": "overview.get", "method": "GET", "path": "/deviceManagement/managedDeviceOverview", "version": "v1.0",
     "select": ["id", "enrolledDeviceCount"], "permissions": ["DeviceManagementManagedDevices.Read.All"],
     "paging": False, "throttle_class": "intune_devices", "capabilities": ["compliance_snapshot"]},
]})
DEVICES = "https://graph.microsoft.com/v1.0/deviceManagement/managedDevices"


class FakeClock:
    """Monotonic and wall clocks that only move when someone sleeps."""

    def __init__(self, start: float = 1_000.0, wall: float = 1_700_000_000.0) -> None:
        self.now = start
        self.wall_offset = wall - start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.now + self.wall_offset

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


class FakeGraph:
    """Answers from a script of responses (or a function), recording every request."""

    def __init__(self, *responses: httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]) -> None:
        self.script = list(responses)
        self.requests: list[httpx.Request] = []
        self.clock = FakeClock()
        self.budgets = RequestBudgets(self.clock.monotonic)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(item, Exception):
            raise item
        if callable(item) and not isinstance(item, httpx.Response):
            return item(request)
        return item

    @property
    def sleeps(self) -> list[float]:
        return self.clock.sleeps

    def client(self, token: Callable[[], str] = lambda: TOKEN, **kwargs: Any) -> GraphClient:
        http = httpx.Client(transport=httpx.MockTransport(self.handler))
        kwargs.setdefault("budgets", self.budgets)
        kwargs.setdefault("rng", random.Random(7))
        return GraphClient(GLOBAL, token, http, tenant_id=TENANT, client_id=APP, contracts=CONTRACTS,
                           sleep=self.clock.sleep, wall_clock=self.clock.wall, **kwargs)


def ok(body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.Response(200, json=body, headers={"request-id": "rid-ok", **headers})


def error(status: int, code: str = "Whatever", message: str = "nope", **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message}},
                          headers={"request-id": f"rid-{status}", **headers})


def intune_message(sentence: str) -> str:
    return json.dumps({"_version": 3, "Message": f"{sentence} - Operation ID (for customer support): 0000 - "
                       "Activity ID: 1111 - Url: https://fef.example/x - CustomApiErrorPhrase: ",
                       "CustomApiErrorPhrase": "", "RetryAfter": None, "ErrorSourceService": "", "HttpHeaders": "{}"})


def refused(fake: FakeGraph, key: str = "organization.list", **kwargs: Any) -> GraphRequestError:
    with pytest.raises(GraphRequestError) as caught:
        fake.client(**kwargs).get(key)
    assert TOKEN not in f"{caught.value} {caught.value.detail} {caught.value.remediation} {caught.value!r}"
    return caught.value


# -- contracts, parameters, query -------------------------------------------------------------------------------------

def test_get_builds_the_contract_url_with_its_select_and_the_bearer_token() -> None:
    fake = FakeGraph(ok({"value": [{"id": "1"}]}))
    page = fake.client().get("organization.list")
    assert page == {"value": [{"id": "1"}]}
    request = fake.requests[0]
    assert request.url.host == "graph.microsoft.com"
    assert request.url.path == "/v1.0/organization"
    assert request.url.params["$select"] == "id,displayName"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["client-request-id"]
    assert request.method == "GET"


def test_guid_path_parameters_are_validated_before_any_request() -> None:
    fake = FakeGraph(ok({"value": []}))
    client = fake.client()
    client.get("assignments.list", path_params={"spId": SP_ID.upper()})
    assert fake.requests[0].url.path == f"/v1.0/servicePrincipals/{SP_ID}/appRoleAssignments"
    with pytest.raises(ContractError, match="path parameters"):
        client.get("assignments.list")
    with pytest.raises(ContractError, match="'spId' must be a GUID"):
        client.get("assignments.list", path_params={"spId": "a/b c"})
    with pytest.raises(ContractError, match="'appId' must be a GUID"):
        client.iter_pages("sp.byAppId", path_params={"appId": "'; DROP"})
    assert len(fake.requests) == 1


def test_an_alternate_key_path_is_sent_as_graph_expects() -> None:
    fake = FakeGraph(ok({"id": SP_ID, "appId": APP}))
    entity = fake.client().get_entity("sp.byAppId", path_params={"appId": APP})
    assert entity["id"] == SP_ID
    assert fake.requests[0].url.raw_path.startswith(f"/v1.0/servicePrincipals(appId='{APP}')".encode())


def test_only_declared_contracts_select_fields_and_options_are_accepted() -> None:
    client = FakeGraph(ok({})).client()
    with pytest.raises(ContractError, match="no Graph contract named 'users.list'"):
        client.get("users.list")
    with pytest.raises(ContractError, match="does not allow \\$select of \\['street'\\]"):
        client.get("organization.list", select=["id", "street"])
    with pytest.raises(ContractError, match="select must be a list"):
        client.get("organization.list", select="id")
    with pytest.raises(ContractError, match="query option '\\$select'"):
        client.get("organization.list", params={"$select": "street"})
    with pytest.raises(ContractError, match="query option '\\$expand'"):
        client.iter_items("devices.list", params={"$expand": "users"})


def test_a_narrower_select_and_odata_options_are_sent() -> None:
    fake = FakeGraph(ok({"value": []}))
    fake.client().get("devices.list", select=["id"], params={"$top": 5, "$count": True})
    params = fake.requests[0].url.params
    assert (params["$select"], params["$top"], params["$count"]) == ("id", "5", "true")


# -- pages ------------------------------------------------------------------------------------------------------------

def test_pages_stream_one_request_at_a_time_following_same_host_next_links() -> None:
    link = f"{DEVICES}?$skiptoken=abc"
    fake = FakeGraph(ok({"value": [{"id": "1"}], "@odata.count": 2, "@odata.nextLink": link},
                        **{"request-id": "rid-1"}),
                     ok({"value": [{"id": "2"}]}, **{"request-id": "rid-2"}))
    pages = fake.client().iter_pages("devices.list")
    assert fake.requests == []  # nothing is sent before the caller asks for a page
    first = next(pages)
    assert first == GraphPage("devices.list", 1, [{"id": "1"}], "rid-1", has_next=True, count=2)
    assert len(fake.requests) == 1  # no prefetch
    second = next(pages)
    assert (second.number, second.items, second.has_next, second.request_id) == (2, [{"id": "2"}], False, "rid-2")
    assert str(fake.requests[1].url) == link
    assert "$select" not in str(fake.requests[1].url)  # the nextLink is followed as given
    with pytest.raises(StopIteration):
        next(pages)


def test_stopping_the_iteration_stops_the_requests() -> None:
    link = f"{DEVICES}?$skiptoken=more"
    fake = FakeGraph(lambda request: ok({"value": [{"id": str(len(fake.requests))}],
                                         "@odata.nextLink": f"{link}{len(fake.requests)}"}))
    client = fake.client()
    seen = []
    for page in client.iter_pages("devices.list"):
        seen.extend(page.items)
        if page.number == 3:
            break  # e.g. the run was cancelled
    assert len(seen) == 3 and len(fake.requests) == 3
    assert (client.stats.pages, client.stats.items, client.stats.requests) == (3, 3, 3)


def test_iter_items_yields_every_item_in_order() -> None:
    fake = FakeGraph(ok({"value": [{"id": "1"}, {"id": "2"}], "@odata.nextLink": f"{DEVICES}?$skiptoken=x"}),
                     ok({"value": [{"id": "3"}]}))
    assert [i["id"] for i in fake.client().iter_items("devices.list")] == ["1", "2", "3"]


@pytest.mark.parametrize("next_link", [
    "https://evil.example/v1.0/deviceManagement/managedDevices?$skiptoken=abc",
    "http://graph.microsoft.com/v1.0/deviceManagement/managedDevices",
    "https://graph.microsoft.com:8443/v1.0/deviceManagement/managedDevices",
    "https://user:pw@graph.microsoft.com/v1.0/deviceManagement/managedDevices",
    "https://graph.microsoft.com/beta/deviceManagement/managedDevices",
    "https://graph.microsoft.com.evil.example/v1.0/deviceManagement/managedDevices",
    "//evil.example/v1.0/x",
    "not a url at all",
])
def test_next_links_away_from_graph_are_refused_before_sending(next_link: str) -> None:
    fake = FakeGraph(ok({"value": [], "@odata.nextLink": next_link}, **{"request-id": "rid-page"}))
    pages = fake.client().iter_pages("devices.list")
    next(pages)
    with pytest.raises(GraphRequestError) as caught:
        next(pages)
    assert caught.value.code == "graph.bad_response"
    assert caught.value.request_id == "rid-page"
    assert "evil" not in caught.value.detail and TOKEN not in str(caught.value)
    assert len(fake.requests) == 1


def test_a_repeated_next_link_stops_instead_of_looping() -> None:
    link = f"{DEVICES}?$skiptoken=same"
    fake = FakeGraph(ok({"value": [], "@odata.nextLink": link}), ok({"value": [], "@odata.nextLink": link}))
    with pytest.raises(GraphRequestError, match="repeated"):
        list(fake.client().iter_pages("devices.list"))


def test_a_non_paging_contract_ignores_next_links() -> None:
    fake = FakeGraph(ok({"value": [], "@odata.nextLink": "https://graph.microsoft.com/v1.0/organization?x=1"}))
    pages = list(fake.client().iter_pages("organization.list"))
    assert len(pages) == 1 and not pages[0].has_next


@pytest.mark.parametrize("body", [{"value": {"id": "1"}}, {"value": [{"id": "1"}, "text"]}])
def test_a_page_without_a_list_of_objects_is_bad_response(body: dict[str, Any]) -> None:
    with pytest.raises(GraphRequestError) as caught:
        list(FakeGraph(ok(body)).client().iter_pages("devices.list"))
    assert caught.value.code == "graph.bad_response"


@pytest.mark.parametrize("body", [
    {"@odata.context": "x/$entity", "id": "o1", "enrolledDeviceCount": 3},  # OData: the entity at top level
    {"value": {"id": "o1", "enrolledDeviceCount": 3}},  # Microsoft's documentation samples
])
def test_get_entity_reads_both_singleton_shapes(body: dict[str, Any]) -> None:
    entity = FakeGraph(ok(body)).client().get_entity("overview.get")
    assert (entity["id"], entity["enrolledDeviceCount"]) == ("o1", 3)


def test_get_entity_refuses_a_list() -> None:
    with pytest.raises(GraphRequestError) as caught:
        FakeGraph(ok({"value": [{"id": "1"}]})).client().get_entity("overview.get")
    assert caught.value.code == "graph.bad_response"


# -- error mapping ----------------------------------------------------------------------------------------------------

def test_401_is_auth_failed_with_the_request_id() -> None:
    caught = refused(FakeGraph(error(401, "InvalidAuthenticationToken")))
    assert caught.code == "auth.failed"
    assert caught.request_id == "rid-401"
    assert "rid-401" in caught.detail


def test_403_names_the_contract_permissions() -> None:
    caught = refused(FakeGraph(error(403, "Authorization_RequestDenied", "Insufficient privileges.")))
    assert caught.code == "permission.missing"
    assert caught.missing_permissions == ("Organization.Read.All",)
    assert "Organization.Read.All" in caught.detail
    assert caught.graph_code == "Authorization_RequestDenied"


def test_intune_403_names_the_scopes_from_its_json_message() -> None:
    message = intune_message("Application is not authorized to perform this operation. Application must have one "
                             "of the following scopes: DeviceManagementManagedDevices.Read.All, "
                             "DeviceManagementManagedDevices.ReadWrite.All")
    caught = refused(FakeGraph(error(403, "Forbidden", message)), "devices.list")
    assert caught.code == "permission.missing"
    assert caught.missing_permissions == ("DeviceManagementManagedDevices.Read.All",
                                          "DeviceManagementManagedDevices.ReadWrite.All")
    assert "DeviceManagementManagedDevices.Read.All, DeviceManagementManagedDevices.ReadWrite.All" in caught.detail
    assert "Operation ID" not in caught.detail and "fef.example" not in caught.detail


def test_an_unlicensed_intune_tenant_is_named_with_a_remediation() -> None:
    caught = refused(FakeGraph(error(400, "BadRequest", intune_message("Request not applicable to target tenant."))),
                     "devices.list")
    assert caught.code == INTUNE_NOT_LICENSED
    assert "Intune license" in caught.detail
    assert "Intune license" in caught.remediation
    # The plain form (no JSON wrapper) is recognised too.
    plain = refused(FakeGraph(error(400, "BadRequest", "Request not applicable to target tenant.")), "devices.list")
    assert plain.code == INTUNE_NOT_LICENSED


def test_other_4xx_is_bad_response_naming_only_a_safe_error_code() -> None:
    caught = refused(FakeGraph(error(404, "Request_ResourceNotFound", "Resource 'secret-ish text' does not exist")))
    assert caught.code == "graph.bad_response"
    assert "(Request_ResourceNotFound)" in caught.detail
    assert "secret-ish" not in caught.detail
    assert caught.status_code == 404
    odd = refused(FakeGraph(error(400, "Bad code with spaces <script>", "x")))
    assert "<script>" not in odd.detail and odd.graph_code is None


@pytest.mark.parametrize("response", [
    httpx.Response(200, text="<html>not json</html>"),
    httpx.Response(200, text='{"value": [{"id": "1"'),
    httpx.Response(200, json=["a", "list"]),
    httpx.Response(200, content=b"\xff\xfe\x00garbage"),
])
def test_an_unreadable_body_is_graph_bad_response(response: httpx.Response) -> None:
    assert refused(FakeGraph(response)).code == "graph.bad_response"


def test_request_ids_are_kept_for_diagnostics() -> None:
    fake = FakeGraph(error(503), ok({"value": []}))
    client = fake.client()
    client.get("organization.list")
    assert list(client.request_ids) == ["rid-503", "rid-ok"]
    assert client.last_request_id == "rid-ok"


def test_a_request_id_that_is_not_an_identifier_is_not_kept() -> None:
    fake = FakeGraph(ok({}, **{"request-id": "<b>injected text</b>"}))
    client = fake.client()
    client.get("organization.list")
    assert client.last_request_id is None


def test_the_token_provider_is_asked_before_every_request() -> None:
    tokens = iter(["t1", "t2"])
    fake = FakeGraph(error(503), ok({}))
    fake.client(token=lambda: next(tokens)).get("organization.list")
    assert [r.headers["authorization"] for r in fake.requests] == ["Bearer t1", "Bearer t2"]


# -- retries, on a fake clock -----------------------------------------------------------------------------------------

def test_429_waits_exactly_retry_after_seconds() -> None:
    fake = FakeGraph(error(429, "TooManyRequests", **{"Retry-After": "7"}), ok({"value": []}))
    client = fake.client()
    assert client.get("organization.list") == {"value": []}
    assert fake.sleeps == [7.0]
    assert (client.stats.throttled, client.stats.retries, client.stats.retry_wait_seconds) == (1, 1, 7.0)


def test_retry_after_as_an_http_date_is_measured_on_the_wall_clock() -> None:
    fake = FakeGraph(ok({}))
    when = datetime.fromtimestamp(fake.clock.wall() + 12, tz=UTC)
    fake.script = [error(429, **{"Retry-After": format_datetime(when, usegmt=True)}), ok({})]
    fake.client().get("organization.list")
    assert fake.sleeps == [pytest.approx(12.0)]


def test_a_retry_after_in_the_past_retries_at_once() -> None:
    fake = FakeGraph(error(503, **{"Retry-After": "Mon, 01 Jan 2001 00:00:00 GMT"}), ok({}))
    fake.client().get("organization.list")
    assert fake.sleeps == [0.0]


def test_without_retry_after_backoff_is_exponential_with_full_jitter() -> None:
    policy = RetryPolicy(max_attempts=7, base_delay=1.0, max_backoff=8.0, max_total_wait=1_000)
    fake = FakeGraph(error(503))
    with pytest.raises(GraphRequestError) as caught:
        fake.client(retry=policy).get("organization.list")
    assert caught.value.code == "graph.unavailable"
    assert "after 7 attempts" in caught.value.detail
    caps = [1, 2, 4, 8, 8, 8]
    assert len(fake.sleeps) == len(caps)
    assert all(0 <= s <= cap for s, cap in zip(fake.sleeps, caps, strict=True))
    assert len(set(fake.sleeps)) == len(caps)  # jittered, not a fixed schedule
    # Full jitter over many draws spreads across the whole window, not just its top.
    draws = [FakeGraph(error(503), ok({})) for _ in range(200)]
    for i, other in enumerate(draws):
        other.client(rng=random.Random(i)).get("organization.list")
    first_waits = [d.sleeps[0] for d in draws]
    assert min(first_waits) < 0.1 and max(first_waits) > 0.9


def test_a_429_without_retry_after_falls_back_to_backoff() -> None:
    fake = FakeGraph(error(429), error(429), ok({}))
    fake.client().get("organization.list")
    assert len(fake.sleeps) == 2 and 0 <= fake.sleeps[0] <= 1 and 0 <= fake.sleeps[1] <= 2


def test_persistent_throttling_ends_as_graph_throttled_after_max_attempts() -> None:
    fake = FakeGraph(error(429, **{"Retry-After": "1"}))
    caught = refused(fake, retry=RetryPolicy(max_attempts=3))
    assert caught.code == "graph.throttled"
    assert fake.sleeps == [1, 1] and len(fake.requests) == 3
    assert "after 3 attempts" in caught.detail


def test_a_retry_after_beyond_the_limit_is_not_waited_for() -> None:
    fake = FakeGraph(error(429, **{"Retry-After": "3600"}), ok({}))
    caught = refused(fake, retry=RetryPolicy(max_retry_after=120))
    assert caught.code == "graph.throttled"
    assert "3600 s" in caught.detail
    assert fake.sleeps == [] and len(fake.requests) == 1


def test_the_total_wait_is_bounded() -> None:
    fake = FakeGraph(error(429, **{"Retry-After": "4"}))
    caught = refused(fake, retry=RetryPolicy(max_attempts=100, max_total_wait=10))
    assert caught.code == "graph.throttled"
    assert fake.sleeps == [4, 4]  # a third wait would pass 10 s


def test_503_and_504_are_retried_and_500_within_its_own_bound() -> None:
    fake = FakeGraph(error(503, **{"Retry-After": "2"}), error(504), ok({}))
    fake.client().get("organization.list")
    assert fake.sleeps[0] == 2 and len(fake.requests) == 3
    persistent = FakeGraph(error(500))
    assert refused(persistent, retry=RetryPolicy(max_server_errors=2)).code == "graph.unavailable"
    assert len(persistent.requests) == 2


def test_connection_errors_are_retried_then_network_unreachable() -> None:
    fake = FakeGraph(httpx.ConnectError("refused"))
    caught = refused(fake, retry=RetryPolicy(max_attempts=3))
    assert caught.code == "network.unreachable"
    assert len(fake.requests) == 3 and len(fake.sleeps) == 2
    assert "refused" not in caught.detail


def test_a_connection_error_then_success_recovers() -> None:
    fake = FakeGraph(httpx.RemoteProtocolError("closed"), ok({"value": []}))
    assert fake.client().get("organization.list") == {"value": []}


def test_timeouts_are_retried_then_graph_timeout() -> None:
    fake = FakeGraph(httpx.ReadTimeout("slow"))
    caught = refused(fake, retry=RetryPolicy(max_attempts=6, max_timeouts=2))
    assert caught.code == "graph.timeout"
    assert len(fake.requests) == 2  # each timed-out attempt already cost a full timeout
    assert "after 2 attempts" in caught.detail
    recovered = FakeGraph(httpx.ConnectTimeout("slow"), ok({"value": []}))
    assert recovered.client().get("organization.list") == {"value": []}


# -- request budget ---------------------------------------------------------------------------------------------------

def test_a_token_bucket_allows_its_burst_then_paces_at_its_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_per_second=10, burst=3, clock=clock.monotonic)
    waits = [bucket.reserve() for _ in range(6)]
    assert waits[:3] == [0, 0, 0]
    assert waits[3:] == [pytest.approx(0.1), pytest.approx(0.2), pytest.approx(0.3)]
    clock.sleep(10)
    assert bucket.available == 3  # refills up to the burst, never beyond


def test_the_budget_is_shared_per_tenant_app_and_class_across_clients() -> None:
    fake = FakeGraph(ok({"value": []}))
    fake.budgets = RequestBudgets(fake.clock.monotonic)
    directory = THROTTLE_CLASSES["directory"]
    first, second = fake.client(), fake.client()
    for _ in range(int(directory.burst)):
        first.get("organization.list")
    assert fake.sleeps == []
    second.get("organization.list")  # the same app and tenant: the shared bucket is empty
    assert fake.sleeps == [pytest.approx(1 / directory.rate_per_second)]
    fake.client().get("devices.list")  # another throttle class has its own bucket
    other_tenant = GraphClient(GLOBAL, lambda: TOKEN, httpx.Client(transport=httpx.MockTransport(fake.handler)),
                               tenant_id="11111111-1111-1111-1111-111111111111", client_id=APP, contracts=CONTRACTS,
                               budgets=fake.budgets, sleep=fake.clock.sleep)
    other_tenant.get("organization.list")
    assert len(fake.sleeps) == 1


def test_a_retry_after_pauses_every_client_of_the_same_budget() -> None:
    fake = FakeGraph(error(429, **{"Retry-After": "5"}), ok({}), ok({}))
    first, second = fake.client(), fake.client()
    first.get("organization.list")
    assert fake.sleeps == [5]
    fake.clock.now -= 5  # as if the second client asked while the first was still waiting
    second.get("organization.list")
    assert fake.sleeps[-1] == pytest.approx(5)
    assert second.stats.budget_wait_seconds == pytest.approx(5)


def test_a_sync_stays_under_graphs_limit_in_every_window() -> None:
    fake = FakeGraph(ok({"value": []}))
    throttle = THROTTLE_CLASSES["intune_devices"]
    client = fake.client()
    sent_at: list[float] = []
    total = 2 * throttle.limit
    for _ in range(total):
        client.get("devices.list")
        sent_at.append(fake.clock.now)
    window = throttle.window_seconds
    busiest = max(bisect.bisect_left(sent_at, start + window) - i for i, start in enumerate(sent_at))
    assert busiest <= throttle.limit
    # ... and it is not needlessly slow: after the burst, requests go out at the bucket's rate.
    assert sent_at[-1] - sent_at[0] == pytest.approx((total - throttle.burst) / throttle.rate_per_second, rel=0.01)


def test_the_bucket_is_thread_safe() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_per_second=100, burst=10, clock=clock.monotonic)
    waits: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(50):
            wait = bucket.reserve()
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # With a frozen clock every permit after the burst is queued exactly 1/rate after the previous one.
    assert sorted(round(w * 100) for w in waits) == [0] * 10 + list(range(1, 391))
