"""Fidelity: Microsoft's own Graph SDK for Python (msgraph-sdk, a test-only dependency) reads the simulator with its
own request builders, middleware, paging and models, and gets the same objects as GraphClient.

The SDK talks to the simulator's fake https Graph host through an async transport that routes it to the local
server (as Atlas's own transport does), with a static bearer token from the simulator's token endpoint.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator
from datetime import datetime
from enum import Enum
from typing import Any

import httpx
import pytest

from atlas_services.graph.budget import RequestBudgets
from atlas_services.graph.client import GraphClient
from atlas_services.graph.clouds import CLOUDS
from atlas_services.graph.contracts import load_contracts
from atlas_services.graph.errors import GraphRequestError
from atlas_services.graph.http import SimulatorRoutingTransport
from atlas_services.reasons import ReasonCode
from atlas_sim.scenario import parse_scenario
from atlas_sim.server import RunningSimulator, start_in_thread
from tests.support.aio import run_coroutine

with warnings.catch_warnings():  # the SDK's generated modules warn about their own deprecated classes on import
    warnings.simplefilter("ignore", DeprecationWarning)
    from kiota_abstractions.authentication import (
        AccessTokenProvider,
        AllowedHostsValidator,
        BaseBearerTokenAuthenticationProvider,
    )
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from kiota_abstractions.serialization import Parsable
    from kiota_http.middleware.options import RetryHandlerOption
    from msgraph import GraphRequestAdapter, GraphServiceClient
    from msgraph.generated.device_management.managed_devices.managed_devices_request_builder import (
        ManagedDevicesRequestBuilder,
    )
    from msgraph.generated.models.managed_device import ManagedDevice
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError
    from msgraph_core import GraphClientFactory
    from msgraph_core.tasks.page_iterator import PageIterator

# The SDK's generated request builders warn about their own deprecated configuration classes.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
SIM = CLOUDS["simulator"]
TENANT = "e5e5e5e5-0000-4000-8000-00000000000e"
APP = "e5e5e5e5-1111-4111-8111-00000000000e"
SECRET = "TEST-ONLY~fidelity~secret"
# The SDK's model parsing costs about 10 ms per device here (its Entity deserializer re-imports hundreds of
# modules per object), so the fidelity tenant is small and pages with $top to still cross page boundaries.
DEVICES = 180
TOP = 64


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    scenario = parse_scenario({"name": "fidelity", "seed": 99, "tenants": [{
        "id": TENANT, "display_name": "Fidelity", "verified_domains": [{"name": "fidelity.example"}],
        "apps": [{"client_id": APP, "display_name": "Atlas", "secrets": [{"value": SECRET}],
                  "permissions": ["DeviceManagementManagedDevices.Read.All",
                                  "DeviceManagementConfiguration.Read.All"]}],
        "intune": {"devices": DEVICES, "configurations": 8, "compliance_policies": 5}}]})
    with start_in_thread(scenario) as running:
        yield running


@pytest.fixture(scope="module")
def token(sim: RunningSimulator) -> str:
    return str(httpx.post(f"{sim.base_url}/{TENANT}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": APP, "client_secret": SECRET,
        "scope": "https://graph.microsoft.com/.default"}).json()["access_token"])


class StaticToken(AccessTokenProvider):  # type: ignore[misc]
    def __init__(self, token: str) -> None:
        self._token = token

    async def get_authorization_token(self, uri: str,
                                      additional_authentication_context: dict[str, Any] | None = None) -> str:
        return self._token

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return AllowedHostsValidator([SIM.graph_host])


class AsyncSimulatorRouting(httpx.AsyncBaseTransport):
    """Routes the simulator's fake Graph host to the local simulator; refuses every other host."""

    def __init__(self, base_url: str) -> None:
        self._target = httpx.URL(base_url)
        self._inner = httpx.AsyncHTTPTransport()
        self.urls: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        if request.url.host != SIM.graph_host:
            raise httpx.ConnectError(f"not routed: {request.url.host}", request=request)
        # A copy: the SDK's retry handler sends the same request again, which must still name the Graph host.
        routed = httpx.Request(request.method, request.url.copy_with(
            scheme=self._target.scheme, host=self._target.host, port=self._target.port),
            headers=request.headers, stream=request.stream, extensions=request.extensions)
        return await self._inner.handle_async_request(routed)

    async def aclose(self) -> None:
        await self._inner.aclose()


def sdk_client(sim: RunningSimulator, token: str) -> tuple[GraphServiceClient, GraphRequestAdapter,
                                                            AsyncSimulatorRouting]:
    transport = AsyncSimulatorRouting(sim.base_url)
    http = httpx.AsyncClient(transport=transport, base_url=f"{SIM.graph_base_url}/v1.0")
    # The SDK's default middleware (retry, redirect, headers, telemetry) on top of the routing transport.
    http = GraphClientFactory.create_with_default_middleware(client=http)
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(StaticToken(token)), client=http)
    adapter.base_url = f"{SIM.graph_base_url}/v1.0"
    return GraphServiceClient(request_adapter=adapter), adapter, transport


def graph_client(sim: RunningSimulator, token: str) -> GraphClient:
    http = httpx.Client(transport=SimulatorRoutingTransport(sim.base_url), timeout=30)
    return GraphClient(SIM, lambda: token, http, tenant_id=TENANT, client_id=APP, budgets=RequestBudgets())


def attribute(model: Parsable, json_name: str) -> Any:
    """The SDK model's value for a JSON property (its generator maps azureADDeviceId to azure_a_d_device_id)."""
    name = re.sub(r"([A-Z])", r"_\1", json_name).lower()
    assert hasattr(model, name), f"{type(model).__name__} has no attribute for {json_name}"
    value = getattr(model, name)
    return value.value if isinstance(value, Enum) else value


def normalized(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    return value


async def read_devices_with_the_sdk(client: GraphServiceClient, adapter: GraphRequestAdapter,
                                    select: list[str]) -> list[ManagedDevice]:
    query = ManagedDevicesRequestBuilder.ManagedDevicesRequestBuilderGetQueryParameters(select=select, top=TOP)
    first = await client.device_management.managed_devices.get(
        request_configuration=RequestConfiguration(query_parameters=query))
    devices: list[ManagedDevice] = []

    def keep(device: ManagedDevice) -> bool:
        devices.append(device)
        return True

    iterator = PageIterator(first, adapter)
    await iterator.iterate(keep)
    return devices


def test_the_sdk_reads_the_same_managed_devices_as_graph_client(sim: RunningSimulator, token: str) -> None:
    select = list(load_contracts()["managedDevices.list"].select)
    sdk, adapter, transport = sdk_client(sim, token)
    sdk_devices = run_coroutine(read_devices_with_the_sdk(sdk, adapter, select))
    with graph_client(sim, token) as graph:
        ours = list(graph.iter_items("managedDevices.list", params={"$top": TOP}))

    assert len(ours) == len(sdk_devices) == DEVICES
    assert all(isinstance(d, ManagedDevice) for d in sdk_devices)
    assert [d.id for d in sdk_devices] == [item["id"] for item in ours]
    pages = [u for u in transport.urls if "managedDevices" in u]
    assert len(pages) == 3 and all(u.startswith("https://graph.sim.atlas.invalid/v1.0/") for u in pages)
    for device, item in zip(sdk_devices, ours, strict=True):
        assert not device.additional_data, f"the SDK did not recognise {sorted(device.additional_data)}"
        for field in ["id", *select]:
            assert normalized(attribute(device, field)) == normalized(item[field]), (device.id, field)
    # Enums and timestamps were parsed into the SDK's types, not left as text.
    assert type(sdk_devices[0].compliance_state).__name__ == "ComplianceState"
    assert isinstance(sdk_devices[0].last_sync_date_time, datetime)


def test_the_sdk_understands_every_property_of_a_full_device_and_the_summaries(sim: RunningSimulator,
                                                                               token: str) -> None:
    sdk, _, _ = sdk_client(sim, token)

    async def read() -> tuple[Any, Any, Any, Any]:
        query = ManagedDevicesRequestBuilder.ManagedDevicesRequestBuilderGetQueryParameters(top=25)
        devices = await sdk.device_management.managed_devices.get(
            request_configuration=RequestConfiguration(query_parameters=query))
        overview = await sdk.device_management.managed_device_overview.get()
        summary = await sdk.device_management.device_compliance_policy_device_state_summary.get()
        configurations = await sdk.device_management.device_configurations.get()
        return devices, overview, summary, configurations

    devices, overview, summary, configurations = run_coroutine(read())
    assert len(devices.value) == 25 and devices.odata_next_link
    assert all(not d.additional_data for d in devices.value)
    with graph_client(sim, token) as graph:
        ours_overview = graph.get_entity("managedDeviceOverview.get")
        ours_summary = graph.get_entity("deviceCompliancePolicyDeviceStateSummary.get")
        ours_configurations = list(graph.iter_items("deviceConfigurations.list"))
    assert overview.enrolled_device_count == ours_overview["enrolledDeviceCount"] == DEVICES
    assert overview.device_operating_system_summary.windows_count == \
        ours_overview["deviceOperatingSystemSummary"]["windowsCount"]
    assert summary.compliant_device_count == ours_summary["compliantDeviceCount"]
    assert summary.non_compliant_device_count == ours_summary["nonCompliantDeviceCount"]
    # Derived types arrive as the SDK's derived classes, matching @odata.type.
    assert [type(c).__name__ for c in configurations.value] == [
        c["@odata.type"].removeprefix("#microsoft.graph.")[:1].upper()
        + c["@odata.type"].removeprefix("#microsoft.graph.")[1:] for c in ours_configurations]


# -- issue 14: Graph's rough shapes, read by the SDK and by GraphClient alike -----------------------------------------

SHAPED_TENANT = "e5e5e5e5-0000-4000-8000-0000000000e6"
SHAPED_DEVICES = 150


@pytest.fixture(scope="module")
def shaped_sim() -> Iterator[RunningSimulator]:
    scenario = parse_scenario({"name": "fidelity-shapes", "seed": 14, "tenants": [{
        "id": SHAPED_TENANT, "display_name": "Shaped", "verified_domains": [{"name": "shaped.example"}],
        "apps": [{"client_id": APP, "display_name": "Atlas", "secrets": [{"value": SECRET}],
                  "permissions": ["DeviceManagementManagedDevices.Read.All"]}],
        "intune": {"devices": SHAPED_DEVICES, "mobile_apps": 3},
        "shapes": {"empty_pages": True, "count_unasked": True, "naive_error_dates": True,
                   "empty_error_code": True}}]})
    with start_in_thread(scenario) as running:
        yield running


@pytest.fixture(scope="module")
def shaped_token(shaped_sim: RunningSimulator) -> str:
    return str(httpx.post(f"{shaped_sim.base_url}/{SHAPED_TENANT}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": APP, "client_secret": SECRET,
        "scope": "https://graph.microsoft.com/.default"}).json()["access_token"])


def shaped_graph_client(sim: RunningSimulator, token: str) -> GraphClient:
    http = httpx.Client(transport=SimulatorRoutingTransport(sim.base_url), timeout=30)
    return GraphClient(SIM, lambda: token, http, tenant_id=SHAPED_TENANT, client_id=APP, budgets=RequestBudgets())


def test_empty_pages_and_an_unasked_count_read_alike_by_the_sdk_and_graph_client(shaped_sim: RunningSimulator,
                                                                                 shaped_token: str) -> None:
    sdk, adapter, _ = sdk_client(shaped_sim, shaped_token)

    async def read() -> tuple[Any, list[int], list[str], int]:
        query = ManagedDevicesRequestBuilder.ManagedDevicesRequestBuilderGetQueryParameters(select=["id"], top=TOP)
        first = await sdk.device_management.managed_devices.get(
            request_configuration=RequestConfiguration(query_parameters=query))
        page, sizes, ids = first, [len(first.value)], [d.id for d in first.value]
        while page.odata_next_link:  # every nextLink, whatever the page held
            page = await sdk.device_management.managed_devices.with_url(page.odata_next_link).get()
            sizes.append(len(page.value))
            ids.extend(d.id for d in page.value)
        iterated: list[ManagedDevice] = []
        await PageIterator(first, adapter).iterate(lambda device: iterated.append(device) or True)
        return first, sizes, ids, len(iterated)

    first, sizes, sdk_ids, page_iterator_count = run_coroutine(read())
    with shaped_graph_client(shaped_sim, shaped_token) as graph:
        pages = list(graph.iter_pages("managedDevices.list", select=["id"], params={"$top": TOP}))

    assert first.odata_count == pages[0].count == SHAPED_DEVICES  # sent unasked; both read it
    assert sizes == [len(p.items) for p in pages] == [TOP, 0, TOP, 0, SHAPED_DEVICES - 2 * TOP, 0]
    assert sdk_ids == [item["id"] for p in pages for item in p.items] and len(set(sdk_ids)) == SHAPED_DEVICES
    # The hazard the shape exists for: the SDK's PageIterator takes an empty page for the end of the listing (as
    # msgraph-sdk-javascript #129 reports of Graph itself), so it stops after the first page.
    assert page_iterator_count == TOP


def test_an_error_with_a_naive_date_and_an_empty_code_reads_alike(shaped_sim: RunningSimulator,
                                                                   shaped_token: str) -> None:
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError

    sdk, _, _ = sdk_client(shaped_sim, shaped_token)
    with pytest.raises(ODataError) as caught:
        run_coroutine(sdk.device_app_management.mobile_apps.get())  # the app lacks DeviceManagementApps.Read.All
    error = caught.value
    assert error.response_status_code == 403 and error.error.code == ""
    assert isinstance(error.error.inner_error.date, datetime) and error.error.inner_error.date.tzinfo is None
    with pytest.raises(GraphRequestError) as ours, shaped_graph_client(shaped_sim, shaped_token) as graph:
        list(graph.iter_pages("mobileApps.list"))
    assert ours.value.code == ReasonCode.PERMISSION_MISSING and ours.value.graph_code is None
    assert ours.value.missing_permissions == ("DeviceManagementApps.Read.All", "DeviceManagementApps.ReadWrite.All")


# -- throttled and truncated listings (issue 14) -----------------------------------------------------------------------

def _token_for(sim: RunningSimulator) -> str:
    return str(httpx.post(f"{sim.base_url}/{TENANT}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": APP, "client_secret": SECRET,
        "scope": "https://graph.microsoft.com/.default"}).json()["access_token"])


def test_the_sdk_reads_a_rate_limited_listing_through_its_retry_middleware_like_graph_client() -> None:
    # One device request per 2 s: the SDK's next pages meet 429s with Retry-After and its RetryHandler waits.
    scenario = parse_scenario({"name": "fidelity-throttled", "seed": 99,
                               "rate_limits": {"window_seconds": 2, "intune_devices": 1}, "tenants": [{
        "id": TENANT, "display_name": "Fidelity", "verified_domains": [{"name": "fidelity.example"}],
        "apps": [{"client_id": APP, "display_name": "Atlas", "secrets": [{"value": SECRET}],
                  "permissions": ["DeviceManagementManagedDevices.Read.All"]}],
        "intune": {"devices": DEVICES}}]})
    select = list(load_contracts()["managedDevices.list"].select)
    with start_in_thread(scenario) as throttled:
        token = _token_for(throttled)
        sdk, adapter, _ = sdk_client(throttled, token)
        sdk_devices = run_coroutine(read_devices_with_the_sdk(sdk, adapter, select))
        refused_sdk = len(throttled.fault_book.fired("rate_limit"))
        with graph_client(throttled, token) as graph:
            ours = list(graph.iter_items("managedDevices.list", params={"$top": TOP}))
            throttled_ours = graph.stats.throttled
        refused_total = len(throttled.fault_book.fired("rate_limit"))
    assert refused_sdk >= 1  # the SDK met the limit and got through by waiting as told
    assert refused_total - refused_sdk == throttled_ours
    assert [d.id for d in sdk_devices] == [item["id"] for item in ours] and len(ours) == DEVICES


def test_the_sdk_reads_intunes_429_body_and_finds_the_json_in_its_message() -> None:
    scenario = parse_scenario({"name": "fidelity-429", "seed": 99,
                               "rate_limits": {"window_seconds": 600, "intune_devices": 1, "retry_after": False},
                               "tenants": [{
        "id": TENANT, "display_name": "Fidelity", "verified_domains": [{"name": "fidelity.example"}],
        "apps": [{"client_id": APP, "display_name": "Atlas", "secrets": [{"value": SECRET}],
                  "permissions": ["DeviceManagementManagedDevices.Read.All"]}],
        "intune": {"devices": 5}}]})
    with start_in_thread(scenario) as throttled:
        sdk, _, transport = sdk_client(throttled, _token_for(throttled))

        async def read_twice() -> Any:
            await sdk.device_management.managed_devices.get()
            config = RequestConfiguration[Any](options=[RetryHandlerOption(max_retries=0, should_retry=False)])
            return await sdk.device_management.managed_devices.get(request_configuration=config)

        with pytest.raises(ODataError) as caught:
            run_coroutine(read_twice())
    assert caught.value.response_status_code == 429
    assert caught.value.error is not None and caught.value.error.code == "TooManyRequests"
    inner = json.loads(caught.value.error.message or "")
    assert inner["_version"] == 3 and "Operation ID" in inner["Message"]
    assert len(transport.urls) == 2  # no retry was sent


def test_the_sdk_takes_a_truncated_listing_at_its_word_while_its_count_says_more(sim: RunningSimulator,
                                                                                 token: str) -> None:
    sdk, adapter, _ = sdk_client(sim, token)
    select = list(load_contracts()["managedDevices.list"].select)

    async def read() -> tuple[Any, list[ManagedDevice]]:
        query = ManagedDevicesRequestBuilder.ManagedDevicesRequestBuilderGetQueryParameters(select=select, top=TOP)
        first = await sdk.device_management.managed_devices.get(
            request_configuration=RequestConfiguration(query_parameters=query))
        devices: list[ManagedDevice] = []

        def keep(device: ManagedDevice) -> bool:
            devices.append(device)
            return True

        await PageIterator(first, adapter).iterate(keep)
        return first, devices

    with sim.faults([{"kind": "truncate_listing", "paths": ["/deviceManagement/managedDevices"], "drop": 4}]):
        page, sdk_devices = run_coroutine(read())
        with graph_client(sim, token) as graph:
            ours = list(graph.iter_pages("managedDevices.list", params={"$top": TOP}))
    # The SDK parses the count and stops where the nextLink stops: the listing looks complete to it.
    assert page.odata_count == DEVICES and page.odata_next_link is None and len(page.value) == TOP - 4
    assert len(sdk_devices) == TOP - 4
    # GraphClient reads the same page and keeps the count, which is what lets inventory notice the shortfall.
    assert [(p.count, p.has_next, len(p.items)) for p in ours] == [(DEVICES, False, TOP - 4)]
    assert [d.id for d in sdk_devices] == [item["id"] for item in ours[0].items]
