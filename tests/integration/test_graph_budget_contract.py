"""One contract for the request budget, run against both implementations: the in-process token buckets
(graph.budget.RequestBudgets) and the same buckets in real Redis (graph.budget_redis.RedisRequestBudgets, its
Lua scripts). Both get the same fake clock, so the arithmetic is compared exactly.

Then what only the Redis one has: keys without ids, keys that expire, the fallback when Redis is away (and the
way back), and which one GraphClient gets by default.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import cast

import pytest
import redis

from atlas_services.config import get_settings
from atlas_services.graph.budget import PROCESS_BUDGETS, Budgets, RequestBudgets
from atlas_services.graph.budget_redis import RedisRequestBudgets, default_budgets
from atlas_services.graph.client import GraphClient
from atlas_services.graph.clouds import CLOUDS
from atlas_services.graph.contracts import THROTTLE_CLASSES, ThrottleClass

TENANT = "9B9B9B9B-0000-4000-8000-0000000000A1"
OTHER_TENANT = "9b9b9b9b-0000-4000-8000-0000000000a2"
APP = "9b9b9b9b-1111-4111-8111-0000000000b1"
DEVICES = THROTTLE_CLASSES["intune_devices"]
APPS = THROTTLE_CLASSES["intune_apps"]
# 100 per 10 s: a sustained 8 requests/s (80 %) with a burst of 10.
SCALED = {name: ThrottleClass(name, 100, 10.0, "test") for name in THROTTLE_CLASSES}
GLOBAL = ThrottleClass("global_per_app", 150, 10.0, "test")  # 12/s, burst 15


def near(expected: float) -> object:
    """Redis keeps the buckets' figures as decimal strings, to the nanosecond."""
    return pytest.approx(expected, abs=1e-6)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def redis_url() -> str:
    return os.environ["ATLAS_REDIS_URL"]


Factory = Callable[[Clock], Budgets]


def in_process(clock: Clock) -> Budgets:
    return RequestBudgets(clock, classes=SCALED, global_limit=GLOBAL)


def in_redis(clock: Clock) -> Budgets:
    return RedisRequestBudgets.from_url(redis_url(), namespace=f"contract-{uuid.uuid4().hex}", classes=SCALED,
                                        global_limit=GLOBAL, clock=clock)


@pytest.fixture(params=[in_process, in_redis], ids=["in-process", "redis"])
def make(request: pytest.FixtureRequest) -> Factory:
    factory: Factory = request.param
    return factory


def key(tenant: str = TENANT, throttle: ThrottleClass = DEVICES) -> tuple[str, str, str, str]:
    return "simulator", tenant, APP, throttle.name


def test_the_burst_is_free_then_permits_come_at_the_sustained_rate(make: Factory) -> None:
    clock = Clock()
    budget = make(clock).budget(key(), DEVICES)
    assert [budget.reserve() for _ in range(10)] == [0.0] * 10
    assert budget.reserve() == near(1 / 8)
    assert budget.reserve() == near(2 / 8)
    clock.now += 1.0  # 8 permits come back; two were reserved ahead
    assert [budget.reserve() for _ in range(6)] == [0.0] * 6
    assert budget.reserve() == near(1 / 8)


def test_a_refilled_bucket_holds_no_more_than_its_burst(make: Factory) -> None:
    clock = Clock()
    budget = make(clock).budget(key(), DEVICES)
    budget.reserve()
    clock.now += 3600
    assert [budget.reserve() for _ in range(10)] == [0.0] * 10
    assert budget.reserve() > 0


def test_a_pause_holds_every_caller_and_is_never_shortened(make: Factory) -> None:
    clock = Clock()
    budgets = make(clock)
    budgets.budget(key(), DEVICES).pause(5)
    budgets.budget(key(), DEVICES).pause(1)
    other_client_same_budget = budgets.budget(key(TENANT.lower()), DEVICES)
    assert other_client_same_budget.reserve() == near(5)
    clock.now += 4
    assert other_client_same_budget.reserve() == near(1)
    clock.now += 1
    assert other_client_same_budget.reserve() == 0.0


def test_a_pause_holds_only_its_tenant_and_class(make: Factory) -> None:
    clock = Clock()
    budgets = make(clock)
    budgets.budget(key(), DEVICES).pause(5)
    assert budgets.budget(key(OTHER_TENANT), DEVICES).reserve() == 0.0
    assert budgets.budget(key(throttle=APPS), APPS).reserve() == 0.0


def test_the_app_bucket_is_shared_by_every_tenant_and_class(make: Factory) -> None:
    clock = Clock()
    budgets = make(clock)
    one, two = budgets.budget(key(), DEVICES), budgets.budget(key(OTHER_TENANT, APPS), APPS)
    waits = [budget.reserve() for _ in range(8) for budget in (one, two)]  # 16 requests: past the app's burst of 15
    assert waits[:15] == [0.0] * 15
    assert waits[15] == near(1 / 12)


# -- Redis only -------------------------------------------------------------------------------------------------

def test_redis_keys_name_no_tenant_or_app_and_expire() -> None:
    namespace = f"keys-{uuid.uuid4().hex}"
    budgets = RedisRequestBudgets.from_url(redis_url(), namespace=namespace)
    budget = budgets.budget(key(), DEVICES)
    budget.reserve()
    budget.pause(30)
    client = redis.Redis.from_url(redis_url())
    keys = [k.decode() for k in client.scan_iter(match=f"atlas:graph-budget:{namespace}:*")]
    assert len(keys) == 2, keys
    for stored in keys:
        lowered = stored.lower()
        assert TENANT.lower() not in lowered and APP not in lowered
        assert TENANT.lower().replace("-", "") not in lowered.replace("-", "")
        assert 0 < cast(int, client.pttl(stored)) <= 31_000
    # The app's hash tag keeps both keys of a request in one cluster slot.
    assert len({stored[stored.index("{"):stored.index("}") + 1] for stored in keys}) == 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def late_redis() -> Iterator[tuple[int, Callable[[], None]]]:
    """A port where nothing listens yet, and a way to start a redis-server on it later."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is needed for this test")
    port = free_port()
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        procs.append(subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                       "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return
            except OSError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    yield port, start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def test_without_redis_the_budget_paces_in_process_warns_once_and_comes_back(
        late_redis: tuple[int, Callable[[], None]], caplog: pytest.LogCaptureFixture) -> None:
    port, start = late_redis
    clock = Clock()
    budgets = RedisRequestBudgets.from_url(f"redis://127.0.0.1:{port}/0", classes=SCALED,
                                           global_limit=GLOBAL, clock=clock, retry_seconds=0.0)
    budget = budgets.budget(key(), DEVICES)
    with caplog.at_level(logging.WARNING, logger="atlas.graph.budget"):
        waits = [budget.reserve() for _ in range(11)]
    # Paced all the same, by the in-process bucket of the same figures.
    assert waits[:10] == [0.0] * 10 and waits[10] == near(1 / 8)
    assert budgets.degraded
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "Redis unreachable" in warnings[0], warnings
    assert "hunter2" not in warnings[0] and str(port) not in warnings[0]

    start()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="atlas.graph.budget"):
        assert budget.reserve() == 0.0  # a fresh bucket in Redis
    assert not budgets.degraded
    assert "reachable again" in caplog.text


def test_a_redis_that_goes_away_mid_pause_still_holds_the_pause(
        late_redis: tuple[int, Callable[[], None]]) -> None:
    port, start = late_redis
    start()
    clock = Clock()
    budgets = RedisRequestBudgets.from_url(f"redis://127.0.0.1:{port}/0", clock=clock, retry_seconds=60)
    budgets.budget(key(), DEVICES).pause(7)
    redis.Redis(port=port).shutdown(nosave=True)
    assert budgets.budget(key(), DEVICES).reserve() == near(7)
    assert budgets.degraded


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_graph_clients_share_the_redis_budget_when_redis_is_configured(settings_env: pytest.MonkeyPatch) -> None:
    settings_env.setenv("ATLAS_QUEUE_NAME", f"default-{uuid.uuid4().hex}")
    get_settings.cache_clear()
    chosen = default_budgets()
    assert isinstance(chosen, RedisRequestBudgets)
    assert default_budgets() is chosen  # one client pool per process
    with GraphClient(CLOUDS["simulator"], lambda: "unused", tenant_id=TENANT, client_id=APP) as graph:
        assert graph._budgets is chosen


@pytest.mark.parametrize(("redis_set", "mode"), [(False, "shared"), (True, "process")])
def test_otherwise_each_process_paces_alone(settings_env: pytest.MonkeyPatch, redis_set: bool, mode: str) -> None:
    if not redis_set:
        settings_env.delenv("ATLAS_REDIS_URL")
    settings_env.setenv("ATLAS_GRAPH_BUDGET", mode)
    get_settings.cache_clear()
    assert default_budgets() is PROCESS_BUDGETS
