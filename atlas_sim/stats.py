"""``GET /_sim/stats``: how many token and Graph requests the simulator answered, in total and per Entra tenant.

For tests and benchmarks that run the simulator as a separate process (``atlas simulator``) and cannot read its
counters in memory: the scale-out test proves no run was executed twice from these counts. Loopback callers
only; it holds no secret (tenant ids and counts).
"""

from __future__ import annotations

import ipaddress

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from atlas_sim.state import sim_state


def _from_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def stats(request: Request) -> JSONResponse:
    if not _from_loopback(request):
        return JSONResponse({"error": "loopback only"}, status_code=403)
    state = sim_state(request)
    return JSONResponse({
        "token_requests": state.token_requests,
        "graph_requests": state.graph_requests,
        "token_requests_by_tenant": dict(state.token_requests_by_tenant),
        "graph_requests_by_tenant": dict(state.graph_requests_by_tenant),
    })


ROUTES = [Route("/_sim/stats", stats, methods=["GET"])]
