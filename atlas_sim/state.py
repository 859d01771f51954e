"""What every simulator endpoint shares: the scenario, the token signer, the hosts it pretends to be, and helpers
for the response headers real Microsoft endpoints send."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from atlas_sim.consistency import Consistency
from atlas_sim.directory import Directory
from atlas_sim.faults import FaultBook
from atlas_sim.id_tokens import IdTokenSigner
from atlas_sim.intune import IntuneData, reference_time
from atlas_sim.jwt import TokenSigner
from atlas_sim.pages import PageCache
from atlas_sim.scenario import Scenario, SimTenant
from atlas_sim.token_faults import token_fault_book

# Fake https hosts: MSAL insists on https authorities, so Atlas addresses these names and its transport routes
# them to the simulator. `.invalid` (RFC 2606) guarantees they can never resolve to a real machine.
AUTHORITY_HOST = "login.sim.atlas.invalid"
GRAPH_HOST = "graph.sim.atlas.invalid"


@dataclass
class SimState:
    scenario: Scenario
    signer: TokenSigner = field(default_factory=TokenSigner)
    id_tokens: IdTokenSigner = field(default_factory=IdTokenSigner)
    # Authorization codes issued by /authorize (atlas_sim.sign_in), by code; a redeemed code stays, marked used.
    auth_codes: dict[str, Any] = field(default_factory=dict)
    authority_host: str = AUTHORITY_HOST
    graph_host: str = GRAPH_HOST
    reference: datetime = field(default_factory=reference_time)
    faults: FaultBook = field(init=False)
    token_faults: FaultBook = field(init=False)
    consistency: Consistency = field(init=False)
    pages: PageCache = field(default_factory=PageCache)
    graph_requests: int = 0
    token_requests: int = 0
    # Per Entra tenant id (what /_sim/stats reports): a run executed twice shows up as twice the requests.
    token_requests_by_tenant: Counter[str] = field(default_factory=Counter)
    graph_requests_by_tenant: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.faults = FaultBook(self.scenario)
        self.token_faults = token_fault_book(self.scenario)
        self.consistency = Consistency(self.scenario)
        self._intune: dict[str, IntuneData] = {}
        self._directory: dict[str, Directory] = {}

    def intune(self, tenant: SimTenant) -> IntuneData:
        data = self._intune.get(tenant.id)
        if data is None:
            data = self._intune[tenant.id] = IntuneData(tenant, self.scenario.seed, self.reference)
        return data

    def directory(self, tenant: SimTenant) -> Directory:
        data = self._directory.get(tenant.id)
        if data is None:
            data = self._directory[tenant.id] = Directory(tenant, self.reference)
        return data

    @property
    def authority_base(self) -> str:
        return f"https://{self.authority_host}"

    @property
    def graph_base(self) -> str:
        return f"https://{self.graph_host}"


def sim_state(request: Request) -> SimState:
    state: SimState = request.app.state.sim
    return state


def request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


def client_request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("client_request_id", ""))


def utc_now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def json_response(payload: dict[str, Any], status_code: int = 200,
                  headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(payload, status_code=status_code, headers=headers)


class RequestIdMiddleware:
    """Give every response `request-id` and `client-request-id` headers, as Entra and Graph do; the ids are also
    put in the request state so error bodies can quote them."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        req_id = str(uuid.uuid4())
        client_req_id = incoming.get("client-request-id") or str(uuid.uuid4())
        scope.setdefault("state", {}).update(request_id=req_id, client_request_id=client_req_id)

        async def send_with_ids(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"request-id", req_id.encode("latin-1")))
                headers.append((b"client-request-id", client_req_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_ids)
