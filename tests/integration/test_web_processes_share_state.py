"""Several `atlas web` processes behind one address share each tab's Reflex state through Redis (issue 13,
"Several processes"; README "Beyond one machine": set REFLEX_REDIS_URL for every `atlas web`).

Two real backend processes (the Reflex app under uvicorn; no frontend build: the tab is a Socket.IO client speaking
Reflex's event protocol, as bench/live_tabs.py does) share a private redis-server. A tab filters the operations
page on process A; its next event, sent to process B (as a load balancer may route a reconnect), works on the same
state: B shows only the runs the filter set on A lets through. Each process keeps its own in-memory state instead
when REFLEX_REDIS_URL is unset, and B then shows every run; ``test_..._without_redis_`` shows that contrast, so
the first test can fail."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from atlas_cli.supervisor import stop_process_group, web_environment
from atlas_services.db import session_scope
from atlas_services.models import OperationRun, RunStatus, RunTrigger, User
from tests.support.aio import run_coroutine
from tests.support.factories import PASSWORD, create_connection, make_actor
from tests.support.processes import ROOT
from tests.support.queue import free_port, private_redis_server, queued_run, wait_for

SERVE = ("import sys, uvicorn; uvicorn.run('atlas_app.atlas_app:app', factory=True, host='127.0.0.1', "
         "port=int(sys.argv[1]), log_level='warning', ws='wsproto')")


def _ready(port: int) -> bool:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", "/ping")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


@contextmanager
def web_process(log: Path, redis_url: str | None) -> Iterator[str]:
    """One backend process of the web tier as `atlas web` runs it (its own state folder); yields its base URL."""
    port = free_port()
    env = web_environment()
    env.update(ATLAS_WEB_PORT=str(port), ATLAS_WEB_HOST="127.0.0.1", REFLEX_ENV_MODE="prod", PYTHONUNBUFFERED="1",
               REFLEX_SKIP_COMPILE="true", REFLEX_STATES_WORKDIR=str(log.parent / f"states-{port}"))
    env.pop("REFLEX_REDIS_URL", None)
    if redis_url:
        env["REFLEX_REDIS_URL"] = redis_url
    else:
        env["REFLEX_STATE_MANAGER_MODE"] = "memory"
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-c", SERVE, str(port)], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(f"the web process on port {port} (log {log})", lambda: proc.poll() is None and _ready(port), 180,
                 0.25)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process_group(proc, grace=5)  # type: ignore[arg-type]


async def _sign_in(base: str, email: str) -> str:
    import httpx

    async with httpx.AsyncClient(base_url=base, follow_redirects=False) as client:
        response = await client.post("/auth/login", data={"email": email, "password": PASSWORD},
                                     headers={"Origin": base})
    assert response.status_code in (302, 303), response.status_code
    return response.headers["set-cookie"].split(";", 1)[0]


async def _send(base: str, cookie: str, token: str, events: list[tuple[str, dict[str, Any], str]]
                ) -> list[dict[str, Any]]:
    """Open a tab with ``token`` on ``base`` and send each (handler, payload, var) event, waiting for the update that
    carries ``var``; returns the page's state as shown after each event (its deltas merged)."""
    import socketio

    from atlas_app.pages.operations import OperationsState

    state = OperationsState.get_full_name()
    client = socketio.AsyncClient(reconnection=False)
    shown: dict[str, Any] = {}
    awaited = {"var": ""}
    done = asyncio.Event()

    async def on_update(update: dict[str, Any]) -> None:
        delta = ((update or {}).get("delta") or {}).get(state) or {}
        shown.update(delta)
        if any(_is(key, awaited["var"]) for key in delta):
            done.set()

    client.on("event", on_update, namespace="/_event")
    await client.connect(f"{base}?token={token}", headers={"Cookie": cookie, "Origin": base},
                         transports=["websocket"], namespaces=["/_event"], socketio_path="/_event", wait_timeout=60)
    seen = []
    try:
        for handler, payload, var in events:
            done.clear()
            awaited["var"] = var
            await client.emit("event", {"name": f"{state}.{handler}", "payload": payload,
                                        "router_data": {"pathname": "/operations", "asPath": "/operations"}},
                              namespace="/_event")
            await asyncio.wait_for(done.wait(), timeout=60)
            seen.append(dict(shown))
    finally:
        await client.disconnect()
    return seen


def _is(key: str, name: str) -> bool:
    """Whether a delta key is the var ``name`` (Reflex may suffix the keys; no var of the page extends another's
    name with "_")."""
    return key == name or key.startswith(f"{name}_")


def _field(shown: dict[str, Any], name: str) -> Any:
    """A var of the page's delta (Reflex suffixes the keys with the var's type)."""
    return next(value for key, value in shown.items() if _is(key, name))


@pytest.fixture
def tenant_with_two_runs(db: None) -> str:
    """An operator of a tenant with a failed and a succeeded health check; returns the operator's email."""
    owner = make_actor("owner")
    connection = create_connection(owner)
    for status in (RunStatus.FAILED, RunStatus.SUCCEEDED):
        run_id = queued_run(owner, connection.id, trigger=RunTrigger.PERSON)
        with session_scope() as session:
            run = session.get(OperationRun, run_id)
            assert run is not None
            run.status = status
    with session_scope() as session:
        email = session.exec(select(User.email).where(User.id == owner.user_id)).one()
    return str(email)


def _filter_on_a_then_act_on_b(email: str, tmp_path: Path, redis_url: str | None) -> list[Any]:
    """The runs process B shows to a tab whose status filter was set on process A."""
    with ExitStack() as stack:
        a = stack.enter_context(web_process(tmp_path / "web-a.log", redis_url))
        b = stack.enter_context(web_process(tmp_path / "web-b.log", redis_url))

        async def scenario() -> list[Any]:
            cookie = await _sign_in(a, email)
            token = str(uuid.uuid4())  # one browser tab's token, kept across its reconnects
            on_a = await _send(a, cookie, token, [("on_page_load", {}, "loaded"),
                                                   ("filter_by_status", {"status": "failed"}, "runs")])
            assert len(_field(on_a[-1], "runs")) == 1 and _field(on_a[-1], "filter_status") == "failed"
            on_b = await _send(b, cookie, token, [("filter_by_operation", {"op_type": "health_check"}, "runs")])
            return list(_field(on_b[-1], "runs"))

        return run_coroutine(scenario())


def test_web_processes_sharing_redis_serve_a_tab_from_the_same_state(
        tenant_with_two_runs: str, tmp_path: Path) -> None:
    with private_redis_server() as redis_url:
        runs = _filter_on_a_then_act_on_b(tenant_with_two_runs, tmp_path, redis_url)
    assert len(runs) == 1  # the status filter set on A still holds on B


def test_without_redis_each_web_process_keeps_its_own_state(tenant_with_two_runs: str, tmp_path: Path) -> None:
    runs = _filter_on_a_then_act_on_b(tenant_with_two_runs, tmp_path, None)
    assert len(runs) == 2  # B never saw the filter: the contrast that makes the shared-state test meaningful

