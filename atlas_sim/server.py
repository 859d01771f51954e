"""The simulator's HTTP server: a Starlette app served by uvicorn, standalone or in a background thread."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware

from atlas_sim import consent, entra, graph, sign_in, stats
from atlas_sim.faults import FaultBook
from atlas_sim.id_tokens import ID_TOKEN_FAULTS
from atlas_sim.scenario import FaultSpec, Scenario, load_scenario, parse_faults
from atlas_sim.state import RequestIdMiddleware, SimState
from atlas_sim.token_faults import parse_token_faults

log = logging.getLogger("atlas_sim")


def create_app(scenario: Scenario | str | Path | None = None) -> Starlette:
    """A simulator app for ``scenario`` (a loaded Scenario, a path, or None for the demo)."""
    loaded = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    # Graph routes first: "/v1.0/..." would otherwise match the Entra "/{tenant}/..." patterns.
    app = Starlette(routes=[*stats.ROUTES, *graph.ROUTES, *entra.ROUTES, *sign_in.ROUTES, *consent.ROUTES],
                    middleware=[Middleware(RequestIdMiddleware)])
    app.state.sim = SimState(scenario=loaded)
    return app


def serve(host: str = "127.0.0.1", port: int = 8765, scenario: Scenario | str | Path | None = None) -> None:
    """Serve until interrupted (what `atlas simulator` and `python -m atlas_sim` run)."""
    app = create_app(scenario)
    log.info("simulator serving scenario '%s' on http://%s:%s", app.state.sim.scenario.name, host, port)
    uvicorn.run(app, host=host, port=port, log_level="warning")


@dataclass
class RunningSimulator:
    """A simulator serving from a daemon thread; ``stop()`` shuts it down and joins the thread."""

    base_url: str
    scenario: Scenario
    state: SimState = field(repr=False)
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    @property
    def fault_book(self) -> FaultBook:
        return self.state.faults

    @contextmanager
    def faults(self, faults: Sequence[Mapping[str, Any] | FaultSpec], tenant: str | None = None) -> Iterator[FaultBook]:
        """Replace the scenario's faults (for every tenant, or for ``tenant``, an id or verified domain) while the
        block runs. Faults are given in the scenario's YAML form as dicts, or as FaultSpec objects."""
        specs = [f if isinstance(f, FaultSpec) else parse_faults([f], f"override[{i}]")[0]
                 for i, f in enumerate(faults)]
        with self._override(self.state.faults, specs, tenant) as book:
            yield book

    @contextmanager
    def token_faults(self, faults: Sequence[Mapping[str, Any]], tenant: str | None = None) -> Iterator[FaultBook]:
        """Like ``faults``, for the token endpoint's faults (the YAML form of atlas_sim.token_faults)."""
        with self._override(self.state.token_faults, parse_token_faults(list(faults), "override"), tenant) as book:
            yield book

    @contextmanager
    def _override(self, book: FaultBook, specs: Sequence[FaultSpec], tenant: str | None) -> Iterator[FaultBook]:
        tenant_id = None
        if tenant is not None:
            found = self.scenario.tenant(tenant)
            if found is None:
                raise ValueError(f"the scenario has no tenant {tenant!r}")
            tenant_id = found.id
        token = book.push_override(specs, tenant_id)
        try:
            yield book
        finally:
            book.pop_override(token)

    @contextmanager
    def id_token_fault(self, fault: str) -> Iterator[None]:
        """ID tokens issued while the block runs carry ``fault`` (one of atlas_sim.id_tokens.ID_TOKEN_FAULTS)."""
        if fault not in ID_TOKEN_FAULTS:
            raise ValueError(f"unknown ID token fault {fault!r}")
        previous, self.state.id_tokens.fault = self.state.id_tokens.fault, fault
        try:
            yield
        finally:
            self.state.id_tokens.fault = previous

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_in_thread(scenario: Scenario | str | Path | None = None, host: str = "127.0.0.1", port: int = 0,
                    startup_timeout: float = 10.0) -> RunningSimulator:
    """Start a simulator in a background thread and wait until it accepts connections."""
    app = create_app(scenario)
    # Bind the socket here so port 0 resolves to a known port before the server starts.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_host, bound_port = sock.getsockname()[:2]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="atlas-sim", daemon=True)
    thread.start()
    deadline = threading.Event()
    for _ in range(int(startup_timeout / 0.02)):
        if server.started or not thread.is_alive():
            break
        deadline.wait(0.02)
    if not server.started:
        server.should_exit = True
        thread.join(2)
        sock.close()
        raise RuntimeError(f"the simulator did not start on {bound_host}:{bound_port}")
    return RunningSimulator(base_url=f"http://{bound_host}:{bound_port}", scenario=app.state.sim.scenario,
                            state=app.state.sim, _server=server, _thread=thread)
