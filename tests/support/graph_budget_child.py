"""One process syncing one tenant's device list against the simulator, for the shared-budget tests.

``python -m tests.support.graph_budget_child '<json>'``: reads its settings from the JSON argument, gets a token,
prints ``ready``, waits for a line on stdin (so that the parent starts every process's sync at once, after their
imports), syncs (the first ``pages`` pages only, when given), and prints its counters as one JSON line.
``budget`` is ``redis`` (graph.budget_redis, the namespace given) or ``process`` (graph.budget, this process's
own buckets); both use the scaled figures given.
"""

from __future__ import annotations

import json
import logging
import sys

import httpx

from atlas_services.graph.budget import Budgets, RequestBudgets
from atlas_services.graph.budget_redis import RedisRequestBudgets
from atlas_services.graph.client import GraphClient
from atlas_services.graph.clouds import CLOUDS
from atlas_services.graph.contracts import THROTTLE_CLASSES, ThrottleClass
from atlas_services.graph.http import SimulatorRoutingTransport


def budgets(options: dict[str, object]) -> Budgets:
    window = float(str(options["window"]))
    classes = {name: ThrottleClass(name, int(str(options["per_tenant"])), window, "scaled for the test")
               for name in THROTTLE_CLASSES}
    global_limit = ThrottleClass("global_per_app", int(str(options["global"])), window, "scaled for the test")
    if options["budget"] == "redis":
        return RedisRequestBudgets.from_url(str(options["redis_url"]), namespace=str(options["namespace"]),
                                            classes=classes, global_limit=global_limit)
    return RequestBudgets(classes=classes, global_limit=global_limit)


def main(options: dict[str, object]) -> None:
    logging.disable(logging.WARNING)
    sim_url, tenant, app = str(options["sim_url"]), str(options["tenant"]), str(options["app"])
    token = httpx.post(f"{sim_url}/{tenant}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": app, "client_secret": str(options["secret"]),
        "scope": "https://graph.microsoft.com/.default"}).json()["access_token"]
    shared = budgets(options)
    http = httpx.Client(transport=SimulatorRoutingTransport(sim_url), timeout=30)
    print("ready", flush=True)
    sys.stdin.readline()
    with GraphClient(CLOUDS["simulator"], lambda: token, http, tenant_id=tenant, client_id=app,
                     budgets=shared) as graph:
        devices = 0
        for number, page in enumerate(graph.iter_pages("managedDevices.list"), start=1):
            devices += len(page.items)
            if number == options.get("pages"):
                break
    stats = graph.stats
    print(json.dumps({"devices": devices, "requests": stats.requests, "throttled": stats.throttled,
                      "budget_wait": stats.budget_wait_seconds, "retry_wait": stats.retry_wait_seconds}),
          flush=True)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
