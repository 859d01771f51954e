"""Zero outbound: rendering and polling a page reaches nothing but PostgreSQL and Redis, loopback included.

The design card asks for "a test harness [that] intercepts httpx to assert zero outbound calls during render
and poll". For every page the app registers and every visitor (each role, and someone signed out), the page's
load handlers and every handler a timer on the page calls run in-process, as Reflex would run them, against
real PostgreSQL holding connections, runs, members and audit events, with the outbound recorder armed
(tests/support/outbound_recorder.py). The recorder must stay empty.

Pages and handlers come from the app itself, not from a list here: the pages are ``rx.App``'s, their load
handlers are the pages' ``on_load`` (plus any ``on_mount``), and the timers are the ``rx.moment`` components
in each page's rendered tree, so a new page or a new poll is covered without anyone adding it. Events a
handler returns are run too (a load that chains a server event).

The harness is proven once at the end: a deliberately broken page whose poll calls the simulator over
loopback goes through the very same functions, and the recorder reports the call, on whichever layer it used.
"""

from __future__ import annotations

import asyncio
import contextvars
import http.client
import inspect
import socket
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Coroutine, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import pytest
import redis
import reflex as rx
from reflex.state import BaseState, State
from reflex_base.components.component import BaseComponent
from reflex_base.event import EventChain, EventHandler, EventSpec
from reflex_base.registry import RegistrationContext
from reflex_base.vars.base import LiteralVar
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import select

import atlas_app.atlas_app as web
from atlas_services import change_stamps, sessions
from atlas_services.authz import Actor
from atlas_services.config import get_settings
from atlas_services.connections import create_connection
from atlas_services.db import session_scope
from atlas_services.directory import actor_for, create_tenant, create_user
from atlas_services.models import OperationRun, Role, RunStatus, User
from atlas_services.secrets import SecretValue
from tests.support.factories import join_tenant
from tests.support.outbound_recorder import Attempt, backing_from_environment, describe, recording

T = TypeVar("T")

PASSWORD = "correct horse battery"
MOMENT = type(rx.moment())
TICK = "2024-01-01T00:00:00.000Z"  # what a timer's on_change sends (the handlers ignore it)
FOLLOW_LIMIT = 20  # returned events followed per visit; a handler that chains forever is a bug of its own

# What the app registers today (as Reflex names routes), with at least this many timers each: the session
# heartbeat on every signed-in page, plus a poll on the live ones. Discovery must find all of this.
KNOWN_PAGES = {"index": 0, "login": 0, "connections": 2, "connections/[connection_id]": 2, "operations": 2,
               "runs/[run_id]": 2, "members": 1, "audit": 1}


# ---------------------------------------------------------------- discovery


@dataclass(frozen=True)
class Call:
    """One server event as the browser would send it: a handler and its arguments."""

    handler: EventHandler
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> type[BaseState]:
        return self.handler.state  # type: ignore[return-value]

    @property
    def name(self) -> str:
        return f"{self.state.__name__}.{self.handler.fn.__name__}"


@dataclass(frozen=True)
class Page:
    route: str  # as Reflex keeps it: "runs/[run_id]"
    loads: tuple[Call, ...]  # on_load, then on_mount handlers: what rendering the page runs
    timers: tuple[Call, ...]  # what the page's timers call

    def path(self, arguments: Mapping[str, str]) -> str:
        parts = []
        for part in self.route.split("/"):
            if part.startswith("[") and part.endswith("]"):
                name = part.strip("[]")
                if name not in arguments:
                    raise LookupError(f"page {self.route}: the zero-outbound harness has nothing to put in "
                                      f"[{name}]; add a seeded id for it to World.route_arguments")
                part = arguments[name]
            parts.append(part)
        return "/" + "/".join(parts)


def _server_call(spec: EventSpec | EventHandler) -> Call | None:
    """The call a browser would make for this event, or None for a client-side one (a redirect, a script)."""
    if isinstance(spec, EventHandler):
        spec = spec()
    if getattr(spec.handler, "state", None) is None:
        return None
    kwargs = {}
    for name, value in spec.args:
        # A literal is sent as written; anything else is filled in by the browser (a timer's tick).
        kwargs[str(name)] = value._var_value if isinstance(value, LiteralVar) else TICK
    return Call(spec.handler, kwargs)


def _events(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [item for part in value for item in _events(part)]
    if isinstance(value, EventChain):
        return list(value.events)
    return [value]


def _calls(events: list[Any], where: str) -> list[Call]:
    calls = []
    for item in events:
        if not isinstance(item, EventSpec | EventHandler):
            raise TypeError(f"{where}: the zero-outbound harness cannot run {item!r}")
        call = _server_call(item)
        if call is not None:
            calls.append(call)
    return calls


def _tree(component: BaseComponent) -> Iterator[BaseComponent]:
    yield component
    for child in component.children:
        yield from _tree(child)


def pages_of(app: rx.App) -> list[Page]:
    """Every page of ``app`` with what its rendering and its timers call."""
    pages = []
    for route, page in app._unevaluated_pages.items():
        component = page.component if isinstance(page.component, BaseComponent) else page.component()
        if not isinstance(component, BaseComponent):
            raise TypeError(f"{route}: the zero-outbound harness cannot walk {component!r}")
        loads, timers = _calls(_events(page.on_load), f"{route} on_load"), []
        for node in _tree(component):
            for trigger, chain in getattr(node, "event_triggers", {}).items():
                if isinstance(node, MOMENT):
                    timers += _calls(_events(chain), f"{route} timer")
                elif trigger == "on_mount":
                    loads += _calls(_events(chain), f"{route} on_mount")
        unique_timers = {call.name: call for call in timers}  # the heartbeat, say, may be on a page twice
        pages.append(Page(route, tuple(loads), tuple(unique_timers.values())))
    return sorted(pages, key=lambda p: p.route)


def _atlas_states() -> Iterator[type[BaseState]]:
    pending: list[type[BaseState]] = [rx.State]
    while pending:
        cls = pending.pop()
        pending.extend(cls.get_substates())
        if cls.__module__.startswith("atlas_app"):
            yield cls


PAGES = pages_of(web.app)


# ---------------------------------------------------------------- running a page


@dataclass
class Visit:
    """What one visitor's visit of one page did: per call, the outbound attempts and the SQL statements."""

    route: str
    visitor: str
    root: State
    attempts: dict[str, list[Attempt]] = field(default_factory=dict)
    statements: dict[str, int] = field(default_factory=dict)

    def state(self, cls: type[BaseState]) -> Any:
        return self.root.get_substate(cls.get_full_name().split(".")[1:])

    def all_attempts(self) -> list[Attempt]:
        return [attempt for attempts in self.attempts.values() for attempt in attempts]


def assert_no_outbound(visit: Visit) -> None:
    attempts = visit.all_attempts()
    assert not attempts, (f"page {visit.route} as {visit.visitor} reached out during render or poll:\n"
                          f"{describe(attempts)}")


def _in_fresh_thread(coroutine: Coroutine[Any, Any, T]) -> T:
    # A fresh thread has no running event loop (Playwright keeps one in the main thread once a browser test ran);
    # the copied context keeps Reflex's registration context.
    context = contextvars.copy_context()
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(context.run, asyncio.run, coroutine).result()


def _root_state(digest: str | None, path: str) -> State:
    """A fresh state tree with the router an event from the page's socket would carry."""
    root = State()
    headers = {"origin": "http://atlas.test", "host": "atlas.test"}
    if digest:
        headers["cookie"] = f"atlas_session_hash={digest}"
    root._update_router_vars({"headers": headers, "sid": uuid.uuid4().hex, "token": uuid.uuid4().hex,
                              "pathname": path, "asPath": path}, {})
    return root


def visit_page(page: Page, visitor: str, digest: str | None, route_arguments: Mapping[str, str]) -> Visit:
    """Render the page (its loads) and let each of its timers fire once, with the outbound recorder armed.

    Every attempt is attributed: to the handler running when it was made, or to the gaps around them.
    """
    root = _root_state(digest, page.path(route_arguments))
    visit = Visit(page.route, visitor, root)
    recorder = recording()
    statements: list[str] = []
    taken = 0

    def attribute(name: str) -> None:
        nonlocal taken
        fresh = recorder.attempts[taken:]
        taken += len(fresh)
        if fresh or not name.startswith("("):  # gaps are listed only when something happened in them
            visit.attempts.setdefault(name, []).extend(fresh)

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    async def run_all() -> None:
        pending = [*page.loads, *page.timers]
        followed = 0
        while pending:
            call = pending.pop(0)
            change_stamps.forget_stamps()  # so a poll of an unchanged page reads its tenant's stamp, at least
            attribute("(between handlers)")
            statements_before = len(statements)
            result = await _outcome(call.handler.fn(visit.state(call.state), **call.kwargs))
            attribute(call.name)
            visit.statements[call.name] = visit.statements.get(call.name, 0) + len(statements) - statements_before
            chained = _calls(_events(result), f"{page.route} {call.name} result")
            followed += len(chained)
            assert followed <= FOLLOW_LIMIT, f"{page.route}: handlers keep chaining events"
            pending = chained + pending

    event.listen(Engine, "before_cursor_execute", count)
    try:
        with recorder.armed():
            _in_fresh_thread(run_all())
            attribute("(after the handlers)")  # a task or thread a handler left running
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    return visit


async def _outcome(invocation: Any) -> Any:
    """What a handler returned, or everything it yielded (Reflex handlers may be async generators)."""
    if inspect.isasyncgen(invocation):
        return [item async for item in invocation]
    return await invocation


# ---------------------------------------------------------------- the world


@dataclass
class World:
    digests: dict[str, str | None]  # visitor → the session digest its socket carries (None: signed out)
    route_arguments: dict[str, str]  # a route's [name] → a seeded id of that kind


def _seed_run(owner: Actor, connection_id: uuid.UUID, status: RunStatus, op_type: str) -> uuid.UUID:
    # Written directly (not through the start gate) so this seed does not depend on where the gate lives;
    # only the rows matter to the pages.
    with session_scope() as session:
        run = OperationRun(tenant_id=owner.tenant_id, connection_id=connection_id, op_type=op_type,
                           scope_key=f"zero-outbound:{connection_id}", status=status, started_by=owner.user_id)
        session.add(run)
        session.flush()
        return run.id


@pytest.fixture(scope="module")
def world() -> World:
    """One tenant with a user per role, two connections with active runs, a member and the audit trail."""
    tenant = f"zero-outbound-{uuid.uuid4().hex[:8]}"
    emails = {role.value: f"{role.value}-{uuid.uuid4().hex[:8]}@example.test" for role in Role}
    with session_scope() as session:
        create_tenant(session, tenant)
        for role, email in emails.items():
            create_user(session, email=email, password=PASSWORD, tenant_name=tenant, role=role)
    with session_scope() as session:
        actors = {role: actor_for(session, email=email, tenant_name=tenant) for role, email in emails.items()}
    owner = actors[Role.OWNER.value]
    connections = [create_connection(owner, name=f"zero-outbound-{n}", entra_tenant_id=str(uuid.uuid4()),
                                     client_id=str(uuid.uuid4()), client_secret=SecretValue("a~good~secret~value-42"),
                                     cloud="simulator").id for n in range(2)]
    queued = _seed_run(owner, connections[0], RunStatus.QUEUED, "health_check")
    _seed_run(owner, connections[1], RunStatus.RUNNING, "inventory_sync")
    join_tenant(owner, email=f"member-{uuid.uuid4().hex[:8]}@example.test", role=Role.READONLY.value,
               password=PASSWORD)
    digests: dict[str, str | None] = {role: sessions.token_digest(sessions.authenticate(actor.email, PASSWORD))
                                      for role, actor in actors.items()}
    digests["signed-out"] = None
    return World(digests, {"connection_id": str(connections[0]), "run_id": str(queued)})


VISITORS = [role.value for role in Role] + ["signed-out"]


# ---------------------------------------------------------------- the tests


def test_discovery_finds_every_page_we_know_and_their_timers() -> None:
    found = {page.route: page for page in PAGES}
    assert found, "no pages discovered: the harness would check nothing"
    assert set(KNOWN_PAGES) <= set(found)
    for route, timers in KNOWN_PAGES.items():
        assert found[route].loads, f"{route}: no load handler discovered"
        assert len(found[route].timers) >= timers, f"{route}: timers discovered: {found[route].timers}"


def test_every_timer_handler_the_app_declares_is_on_some_page() -> None:
    # Timer ticks are declared temporal (dropped while the socket is down); one that no page's tree shows would
    # be a timer the walk above misses.
    declared = {f"{cls.__name__}.{name}" for cls in _atlas_states() for name, handler in cls.event_handlers.items()
                if handler.event_actions.get("temporal")}
    on_pages = {call.name for page in PAGES for call in page.timers}
    assert declared, "no temporal handlers found: the cross-check would check nothing"
    assert declared <= on_pages


@pytest.mark.parametrize("visitor", VISITORS)
@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.route)
def test_rendering_and_polling_a_page_reaches_nothing_outside(world: World, page: Page, visitor: str) -> None:
    visit = visit_page(page, visitor, world.digests[visitor], world.route_arguments)
    assert set(visit.statements) >= {call.name for call in (*page.loads, *page.timers)}
    assert_no_outbound(visit)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.route)
def test_each_handler_of_a_page_really_reads_for_the_owner(world: World, page: Page) -> None:
    # Zero outbound means something only when the handlers did their work: each handler of the page's own state
    # (its load, its poll) ran SQL for the owner. The session heartbeat may answer from its cache.
    visit = visit_page(page, "owner", world.digests["owner"], world.route_arguments)
    own = {call.name for call in (*page.loads, *page.timers) if call.state is page.loads[0].state}
    idle = sorted(name for name in own if visit.statements[name] == 0)
    assert idle == [], f"{page.route}: these handlers read nothing, so the check proves little"


# ---------------------------------------------------------------- proving the harness


def _reach_with_httpx(url: str) -> int:
    return httpx.get(f"{url}/common/discovery/instance").status_code


def _reach_with_httpx_via_name(url: str) -> int:
    port = urllib.parse.urlsplit(url).port
    return httpx.get(f"http://localhost:{port}/common/discovery/instance").status_code


async def _reach_with_async_httpx(url: str) -> int:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"{url}/common/discovery/instance")).status_code


def _reach_with_urllib(url: str) -> int:
    try:
        with urllib.request.urlopen(f"{url}/common/discovery/instance", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def _reach_with_http_client(url: str) -> int:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        conn.request("GET", "/common/discovery/instance")
        return conn.getresponse().status
    finally:
        conn.close()


def _reach_with_a_socket(url: str) -> int:
    parts = urllib.parse.urlsplit(url)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect((parts.hostname, parts.port))
        sock.sendall(b"GET /common/discovery/instance HTTP/1.0\r\nHost: sim\r\n\r\n")
        return int(sock.recv(64).split()[1])


async def _reach_with_asyncio(url: str) -> int:
    parts = urllib.parse.urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(b"GET /common/discovery/instance HTTP/1.0\r\nHost: sim\r\n\r\n")
    status = int((await reader.readline()).split()[1])
    writer.close()
    await writer.wait_closed()
    return status


def _reach_with_a_datagram(url: str) -> int:
    parts = urllib.parse.urlsplit(url)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        return sock.sendto(b"ping", (parts.hostname, parts.port))


Reach = Callable[[str], Any]
# Each way of reaching the simulator, and the layers the recorder must see it on.
WAYS: dict[str, tuple[Reach, set[str]]] = {
    "httpx": (_reach_with_httpx, {"httpx", "socket.connect"}),
    "httpx-localhost": (_reach_with_httpx_via_name, {"httpx", "name lookup", "socket.connect"}),
    "httpx-async": (_reach_with_async_httpx, {"httpx async", "socket.connect"}),
    "urllib": (_reach_with_urllib, {"urllib", "http.client", "socket.connect"}),
    "http-client": (_reach_with_http_client, {"http.client", "socket.connect"}),
    "socket": (_reach_with_a_socket, {"socket.connect"}),
    "asyncio": (_reach_with_asyncio, {"socket.connect"}),
    "datagram": (_reach_with_a_datagram, {"socket.sendto"}),
}


@dataclass(frozen=True)
class BrokenApp:
    app: rx.App
    state: type[BaseState]


@pytest.fixture(scope="module")
def broken_app() -> Iterator[BrokenApp]:
    """An app with one page whose poll calls the simulator, the way named in its URL (/broken/<way>).

    It lives in a fork of Reflex's registration context, so neither its state nor its app touch the real one.
    """
    with RegistrationContext.get().fork():

        class BrokenPageState(rx.State):
            reached: int = 0  # what the simulator answered: proof that the call really went out

            @rx.event
            async def on_load(self) -> None:
                return None

            @rx.event
            async def poll(self, tick: str) -> None:
                way = self.router.url.path.rstrip("/").rsplit("/", 1)[-1]
                reach, url = WAYS[way][0], get_settings().simulator_url
                if asyncio.iscoroutinefunction(reach):
                    self.reached = await reach(url)
                else:
                    self.reached = await asyncio.to_thread(reach, url)

        def broken_page() -> rx.Component:
            return rx.box(rx.text("broken"), rx.moment(interval=2000, on_change=BrokenPageState.poll, display="none"))

        app = rx.App()
        app.add_page(broken_page, route="/broken/[way]", on_load=BrokenPageState.on_load)
        yield BrokenApp(app, BrokenPageState)


@pytest.mark.parametrize("way", sorted(WAYS))
def test_the_harness_catches_a_page_that_calls_the_simulator_over_loopback(
    broken_app: BrokenApp, simulator: Any, way: str
) -> None:
    (page,) = pages_of(broken_app.app)
    assert [call.name for call in page.timers] == ["BrokenPageState.poll"]
    visit = visit_page(page, "signed-out", None, {"way": way})
    assert visit.state(broken_app.state).reached > 0, "the broken page did not reach the simulator"

    with pytest.raises(AssertionError, match="reached out during render or poll") as failure:
        assert_no_outbound(visit)
    attempts = visit.attempts["BrokenPageState.poll"]
    assert {attempt.layer for attempt in attempts} == WAYS[way][1], describe(attempts)
    port = str(urllib.parse.urlsplit(simulator.base_url).port)
    assert all(port in attempt.target for attempt in attempts if attempt.layer != "name lookup")
    origins = {attempt.origin.split(":")[0] for attempt in attempts if attempt.origin}
    assert origins == {"tests/integration/test_zero_outbound.py"}, describe(attempts)
    assert f":{port}" in str(failure.value)
    assert visit.attempts["BrokenPageState.on_load"] == []


def test_the_test_s_own_postgresql_and_redis_are_not_outbound() -> None:
    recorder = recording()
    with recorder.armed():
        with session_scope() as session:
            session.exec(select(User.email).limit(1)).all()
        redis.Redis.from_url(str(get_settings().redis_url), socket_connect_timeout=3).ping()
    assert recorder.attempts == []


def test_the_allowance_is_exactly_the_backing_services_address_and_port() -> None:
    backing = backing_from_environment({"ATLAS_DATABASE_URL": "postgresql+psycopg://u@[::1]:5433/x?host=/run/pg",
                                        "ATLAS_REDIS_URL": "redis://localhost:6390/1"})
    assert backing.allows(("127.0.0.1", 6390)) and backing.allows(("localhost", 6390))
    assert backing.allows(("::1", 5433, 0, 0)) and backing.allows("/run/pg/.s.PGSQL.5433")
    assert not backing.allows(("127.0.0.1", 6391))  # loopback on any other port: the simulator, say
    assert not backing.allows(("127.0.0.1", 5433)) and not backing.allows("/run/pg/other")
    assert backing.names == {"localhost"}
