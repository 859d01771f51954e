"""Inventory throughput: Atlas's full inventory sync beside msgraph-sdk and a bare httpx loop over the same pages.

One simulator (a thread of this process, which only waits while a case runs) serves a tenant of 10,000 and one of
100,000 managed devices, plus policies and apps, in Graph-sized pages of 1,000 with each contract's $select. Every
case runs in a child process of its own, so its peak RSS (VmHWM) is that case's alone:

* ``floor``: a bare httpx loop that GETs each page, decodes its JSON and follows ``@odata.nextLink``; the least
  any reader can do, and a check that the simulator is not the bottleneck;
* ``msgraph-sdk``: Microsoft's SDK (fetch only) reading the first pages of the device list (its model parsing is
  so slow that the whole list would take minutes; throughput is what it is judged by);
* ``atlas fetch``: GraphClient.iter_pages over the four lists, as the inventory capability calls it, storing
  nothing;
* ``atlas sync``: the worker's own ``execute_run`` of an ``inventory_sync`` run on a scratch database (MSAL token,
  gateway, provider, store); ``first`` into an empty store, then re-syncs (upserts over what is there).

Modules are imported before a case's clock starts (a worker has them loaded); token acquisition is timed.
Figures are the median of repetitions with their spread ((max - min) / median); ``x floor`` is wall time over the
floor's, ``x sdk`` devices/s over the SDK's. Targets (issue 15): fetch >= 2x the SDK's throughput and <= 1.25x the
floor; fetch + store <= 2x the floor; worker peak RSS < 300 MB and flat from 10,000 to 100,000 devices.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import json
import logging
import os
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench._backing import scratch_database
from bench._measure import median_spread

if TYPE_CHECKING:  # the children import no simulator
    from atlas_sim.server import RunningSimulator

TENANT = "f4f4f4f4-0000-4000-8000-0000000000{:02d}"
APP = "f4f4f4f4-1111-4111-8111-00000000000f"
SECRET = "BENCH-ONLY~inventory~secret"  # noqa: S105 - a simulator credential that exists only in this run
PERMISSIONS = ["DeviceManagementManagedDevices.Read.All", "DeviceManagementConfiguration.Read.All",
               "DeviceManagementApps.Read.All"]
CONTRACTS = ("managedDevices.list", "deviceConfigurations.list", "deviceCompliancePolicies.list", "mobileApps.list")
# Besides the devices, one page each of policies and apps: the shape of the demo scenario's inventory.
OTHERS = {"configurations": 60, "compliance_policies": 15, "mobile_apps": 150}
SIZES = (10_000, 100_000)
SMOKE_SIZES = (1_000,)
LATENCY_S = 0.2  # a Graph-like time to answer a page, for the latency rows
SMOKE_PAGE = 100  # smoke mode pages devices by 100, so a few pages (and the SDK's one) take seconds
REPEATS = 3
SDK_PAGES = 2  # pages of 1,000 devices the SDK reads (about 10 s a page)


# -- the child processes ----------------------------------------------------------------------------------------

def _rss_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (the peak) of this process, in MB. Not ``ru_maxrss``: Linux carries that over from
    the parent across fork and exec, so a child would report the parent's peak."""
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"no {field} in /proc/self/status")


def _token(sim_url: str, tenant_id: str) -> str:
    import httpx

    return str(httpx.post(f"{sim_url}/{tenant_id}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": APP, "client_secret": SECRET,
        "scope": "https://graph.microsoft.com/.default"}).json()["access_token"])


def _first_urls() -> list[str]:
    """The first-page URL of each list, exactly as GraphClient builds it (the contract's path and $select)."""
    from urllib.parse import urlencode

    from atlas_services.graph.clouds import CLOUDS
    from atlas_services.graph.contracts import load_contracts

    contracts = load_contracts()
    base = CLOUDS["simulator"].graph_base_url
    return [f"{base}/{c.version}{c.render_path(None)}?{urlencode({'$select': ','.join(c.select)})}"
            for c in (contracts[key] for key in CONTRACTS)]


def _floor(sim_url: str, tenant_id: str) -> tuple[int, int]:
    import httpx

    from atlas_services.graph.http import SimulatorRoutingTransport

    headers = {"Authorization": f"Bearer {_token(sim_url, tenant_id)}", "Accept": "application/json"}
    items = pages = 0
    with httpx.Client(transport=SimulatorRoutingTransport(sim_url), timeout=60) as http:
        for url in _first_urls():
            next_url: str | None = url
            while next_url:
                response = http.get(next_url, headers=headers)
                response.raise_for_status()
                body = json.loads(response.content)
                items += len(body["value"])
                pages += 1
                next_url = body.get("@odata.nextLink")
    return items, pages


def _atlas_fetch(sim_url: str, tenant_id: str) -> tuple[int, int]:
    from atlas_services.graph.client import GraphClient
    from atlas_services.graph.clouds import CLOUDS
    from atlas_services.secrets import SecretValue

    items = pages = 0
    with GraphClient.for_app(CLOUDS["simulator"], tenant_id, APP, SecretValue(SECRET)) as graph:
        for key in CONTRACTS:
            for page in graph.iter_pages(key):
                items += len(page.items)
                pages += 1
    return items, pages


def _atlas_sync(run_id: str) -> tuple[int, int]:
    from atlas_services.db import session_scope
    from atlas_services.models import OperationRun
    from atlas_services.runs.execute import execute_run

    execute_run(uuid.UUID(run_id))
    with session_scope() as session:
        run = session.get(OperationRun, uuid.UUID(run_id))
        assert run is not None
        if run.status != "succeeded":
            raise RuntimeError(f"the sync ended {run.status}: {run.reason_code} {run.message}")
        summary = dict(run.summary or {})
    return int(summary["items_stored"]), int(summary["pages_fetched"])


def _sdk(sim_url: str, tenant_id: str, max_pages: int) -> tuple[int, int]:
    import httpx

    from atlas_services.graph.clouds import CLOUDS
    from atlas_services.graph.contracts import load_contracts

    with warnings.catch_warnings():  # the SDK's generated modules warn about their own deprecated classes
        warnings.simplefilter("ignore", DeprecationWarning)
        from kiota_abstractions.authentication import (
            AccessTokenProvider,
            AllowedHostsValidator,
            BaseBearerTokenAuthenticationProvider,
        )
        from kiota_abstractions.base_request_configuration import RequestConfiguration
        from msgraph import GraphRequestAdapter, GraphServiceClient
        from msgraph.generated.device_management.managed_devices.managed_devices_request_builder import (
            ManagedDevicesRequestBuilder,
        )
        from msgraph.generated.models.managed_device_collection_response import ManagedDeviceCollectionResponse
        from msgraph_core import GraphClientFactory
    warnings.simplefilter("ignore", DeprecationWarning)
    cloud = CLOUDS["simulator"]
    token = _token(sim_url, tenant_id)
    target = httpx.URL(sim_url)

    class Token(AccessTokenProvider):  # type: ignore[misc]
        async def get_authorization_token(self, uri: str, additional_authentication_context: Any = None) -> str:
            return token

        def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
            return AllowedHostsValidator([cloud.graph_host])

    class Routing(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self._inner = httpx.AsyncHTTPTransport()

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            request.url = request.url.copy_with(scheme=target.scheme, host=target.host, port=target.port)
            return await self._inner.handle_async_request(request)

    async def read() -> tuple[int, int]:
        http = GraphClientFactory.create_with_default_middleware(
            client=httpx.AsyncClient(transport=Routing(), base_url=f"{cloud.graph_base_url}/v1.0", timeout=60))
        adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(Token()), client=http)
        adapter.base_url = f"{cloud.graph_base_url}/v1.0"
        client = GraphServiceClient(request_adapter=adapter)
        select = list(load_contracts()["managedDevices.list"].select)
        query = ManagedDevicesRequestBuilder.ManagedDevicesRequestBuilderGetQueryParameters(select=select)
        page = await client.device_management.managed_devices.get(
            request_configuration=RequestConfiguration(query_parameters=query))
        items = pages = 0
        while page is not None:
            items += len(page.value or [])
            pages += 1
            if not page.odata_next_link or pages >= max_pages:
                break
            page = await client.device_management.managed_devices.with_url(page.odata_next_link).get()
            assert page is None or isinstance(page, ManagedDeviceCollectionResponse)
        return items, pages

    return asyncio.run(read())


# What each case imports, loaded before its clock starts: a worker has its modules loaded already.
PRELOAD = {
    "floor": ("httpx", "atlas_services.graph.http", "atlas_services.graph.contracts"),
    "fetch": ("atlas_services.graph.client", "atlas_services.graph.tokens"),
    "sync": ("atlas_services.runs.execute", "atlas_services.gateway", "atlas_services.graph.tokens",
             "atlas_services.providers.microsoft.inventory"),
    "sdk": ("msgraph", "msgraph_core", "kiota_abstractions.authentication"),
}


def child(mode: str, args: list[str]) -> None:
    """Run one case and print its figures as JSON (what ``_case`` reads)."""
    logging.disable(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for module in PRELOAD.get(mode, ()):
            importlib.import_module(module)
    rss_before = _rss_mb("VmRSS")
    started = time.perf_counter()
    if mode == "floor":
        items, pages = _floor(args[0], args[1])
    elif mode == "fetch":
        items, pages = _atlas_fetch(args[0], args[1])
    elif mode == "sync":
        items, pages = _atlas_sync(args[0])
    elif mode == "sdk":
        items, pages = _sdk(args[0], args[1], int(args[2]))
    else:
        raise SystemExit(f"unknown mode {mode}")
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "items": items, "pages": pages, "rss_before_mb": rss_before,
                      "rss_peak_mb": _rss_mb("VmHWM")}))


# -- the parent -------------------------------------------------------------------------------------------------

def _case(mode: str, *args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "bench.inventory_throughput", "--child", mode, *args],
                          capture_output=True, text=True, check=False, env=os.environ.copy())
    if done.returncode != 0:
        raise RuntimeError(f"the {mode} case failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@contextmanager
def _environment(sim_url: str) -> Iterator[None]:
    """Settings for this run's children: the simulator, throwaway keys, a queue of its own."""
    values = {"ATLAS_SIMULATOR_URL": sim_url, "ATLAS_ENV": "development", "ATLAS_DEFAULT_CLOUD": "simulator",
              "ATLAS_ENCRYPTION_KEYS": "bench:" + base64.b64encode(os.urandom(32)).decode(),
              "ATLAS_SECRET_KEY": base64.b64encode(os.urandom(32)).decode()}
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    from atlas_services.config import get_settings

    get_settings.cache_clear()
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()


def _connection(index: int, tenant_id: str) -> tuple[Any, uuid.UUID]:
    """A suite tenant, its owner and a connection to the simulator tenant, made through the services."""
    from atlas_services.connections import create_connection
    from atlas_services.db import session_scope
    from atlas_services.directory import actor_for, create_tenant, create_user
    from atlas_services.secrets import SecretValue

    name, email = f"bench-{index}", f"owner{index}@bench.example"
    with session_scope() as session:
        create_tenant(session, name)
        create_user(session, email=email, password="Bench-only-password-1",  # noqa: S106 - a throwaway bench user
                    tenant_name=name, role="owner")
    with session_scope() as session:
        actor = actor_for(session, email=email, tenant_name=name)
    connection = create_connection(actor, name=f"bench {index}", entra_tenant_id=tenant_id, client_id=APP,
                                   client_secret=SecretValue(SECRET), cloud="simulator")
    return actor, connection.id


def _sync_case(actor: Any, connection_id: uuid.UUID) -> dict[str, Any]:
    from atlas_services.runs.start import start_operation

    started = start_operation(actor, "inventory_sync", connection_id, enqueue=lambda run_id: None)
    if started.outcome != "started":
        raise RuntimeError(f"could not start a sync: {started}")
    return _case("sync", str(started.run_id))


def _row(size: int, case: str, results: list[dict[str, Any]], floor_s: float | None,
         sdk_rate: float | None, target: str = "") -> dict[str, Any]:
    wall, spread = median_spread([r["seconds"] for r in results])
    rate = results[0]["items"] / wall
    return {"devices": size, "case": case, "items": results[0]["items"], "pages": results[0]["pages"],
            "runs": len(results), "wall s": wall, "spread": spread, "items/s": rate,
            "x floor": wall / floor_s if floor_s else None, "x sdk": rate / sdk_rate if sdk_rate else None,
            "peak RSS MB": max(r["rss_peak_mb"] for r in results),
            "RSS growth MB": max(r["rss_peak_mb"] - r["rss_before_mb"] for r in results),
            "target": target, "met": _met(target, wall / floor_s if floor_s else None,
                                          rate / sdk_rate if sdk_rate else None,
                                          max(r["rss_peak_mb"] for r in results))}


FETCH_TARGET = "x sdk >= 2, x floor <= 1.25"
SYNC_TARGET = "x floor <= 2, RSS < 300 MB"


def _met(target: str, x_floor: float | None, x_sdk: float | None, peak_mb: float) -> bool | None:
    if target == FETCH_TARGET and x_floor is not None and x_sdk is not None:
        return x_sdk >= 2 and x_floor <= 1.25
    if target == SYNC_TARGET and x_floor is not None:
        return x_floor <= 2 and peak_mb < 300
    return None


def _with_latency(sim: RunningSimulator, size: int, tenant_id: str, actor: Any, connection_id: uuid.UUID,
                  repeats: int, sdk_rate: float, latency_s: float) -> list[dict[str, Any]]:
    """The floor and the sync again with every page answered after ``latency_s``, as Graph's are (the cached simulator
    answers in milliseconds, which no Graph tenant does): what reading ahead hides of the store."""
    slow = [{"kind": "slow", "seconds": latency_s, "paths": ["/deviceManagement", "/deviceAppManagement"]}]
    floors, syncs = [], []
    with sim.faults(slow):
        for _ in range(repeats):
            floors.append(_case("floor", sim.base_url, tenant_id))
            syncs.append(_sync_case(actor, connection_id))
    floor_s = median_spread([r["seconds"] for r in floors])[0]
    label = f"{latency_s * 1000:.0f} ms a page"
    return [_row(size, f"floor, {label}", floors, floor_s, sdk_rate),
            _row(size, f"atlas sync again, {label}", syncs, floor_s, sdk_rate, SYNC_TARGET)]


def run(*, smoke: bool = False) -> list[dict[str, Any]]:
    from atlas_sim.scenario import parse_scenario
    from atlas_sim.server import start_in_thread

    sizes = SMOKE_SIZES if smoke else SIZES
    repeats = 1 if smoke else REPEATS
    tenants = [{"id": TENANT.format(i), "display_name": f"Bench {size}",
                "verified_domains": [{"name": f"bench{size}.example"}],
                "apps": [{"client_id": APP, "display_name": "Atlas", "secrets": [{"value": SECRET}],
                          "permissions": PERMISSIONS}],
                "intune": {"devices": size, **OTHERS}} for i, size in enumerate(sizes)]
    rows: list[dict[str, Any]] = []
    scenario = {"name": "bench", "seed": 1, "tenants": tenants,
                "page_sizes": {"managedDevices": SMOKE_PAGE} if smoke else {}}
    with start_in_thread(parse_scenario(scenario)) as sim, \
            _environment(sim.base_url), scratch_database():
        for index, (tenant, size) in enumerate(zip(tenants, sizes, strict=True)):
            tenant_id = str(tenant["id"])
            actor, connection_id = _connection(index, tenant_id)
            if not smoke:
                _case("floor", sim.base_url, tenant_id)  # warm-up: the simulator renders every page once
            first = _sync_case(actor, connection_id)  # into an empty store
            floors, fetches, syncs = [], [], []
            for _ in range(repeats):  # interleaved, so a busy spell on the machine hits every case alike
                floors.append(_case("floor", sim.base_url, tenant_id))
                fetches.append(_case("fetch", sim.base_url, tenant_id))
                syncs.append(_sync_case(actor, connection_id))
            sdk = _case("sdk", sim.base_url, tenant_id, str(1 if smoke else SDK_PAGES))
            floor_s = median_spread([r["seconds"] for r in floors])[0]
            sdk_rate = sdk["items"] / sdk["seconds"]
            rows.append(_row(size, "floor (httpx + json)", floors, floor_s, sdk_rate))
            rows.append(_row(size, "msgraph-sdk (fetch, devices)", [sdk], None, sdk_rate))
            rows.append(_row(size, "atlas fetch", fetches, floor_s, sdk_rate, FETCH_TARGET))
            rows.append(_row(size, "atlas sync, first", [first], floor_s, sdk_rate))
            rows.append(_row(size, "atlas sync, again", syncs, floor_s, sdk_rate, SYNC_TARGET))
            if size == min(sizes):
                rows += _with_latency(sim, size, tenant_id, actor, connection_id, repeats, sdk_rate,
                                     0.02 if smoke else LATENCY_S)
    return rows


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3:])
    else:
        from bench.__main__ import table

        print(table(run(smoke="--smoke" in sys.argv)))
