"""Operating routes on the web process: GET /healthz (liveness), /readyz (readiness), /metrics (Prometheus).

Mounted in front of Reflex like the sign-in routes. /healthz and /readyz answer anyone with plain JSON that holds
no secret and no tenant's data; /metrics wants ``Authorization: Bearer <ATLAS_METRICS_TOKEN>`` when that setting
is set, and otherwise answers loopback clients only (the client address as atlas_services.client_address
reads it, so a remote client behind a local proxy is not mistaken for a loopback one).
"""

from __future__ import annotations

import hmac

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from atlas_services import health, metrics
from atlas_services.client_address import client_address
from atlas_services.config import get_settings
from atlas_services.netguard import is_loopback

# Probes must never be cached by a proxy: a stale "ready" is worse than none.
_NO_STORE = {"Cache-Control": "no-store"}


async def healthz(request: Request) -> Response:
    return JSONResponse(health.liveness(), headers=_NO_STORE)


async def readyz(request: Request) -> Response:
    readiness = await run_in_threadpool(health.readiness)  # blocking database and Redis calls
    return JSONResponse(readiness.as_json(), status_code=200 if readiness.ready else 503, headers=_NO_STORE)


async def metrics_endpoint(request: Request) -> Response:
    if not may_scrape(request):
        return PlainTextResponse("Unauthorized", status_code=401,
                                 headers={"WWW-Authenticate": 'Bearer realm="atlas-metrics"', **_NO_STORE})
    body = await run_in_threadpool(metrics.exposition)
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers=_NO_STORE)


def may_scrape(request: Request) -> bool:
    """A right bearer token when ATLAS_METRICS_TOKEN is set (compared in constant time); else a loopback client."""
    settings = get_settings()
    if settings.metrics_token is not None:
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        expected = settings.metrics_token.get_secret_value().encode()
        return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), expected)
    peer = request.client.host if request.client else ""
    return is_loopback(client_address(peer, request.headers.getlist("x-forwarded-for"),
                                      settings.trusted_proxy_networks))


def build_ops_api() -> Starlette:
    """The Starlette app Reflex mounts its own routes under (see atlas_app.atlas_app)."""
    return Starlette(routes=[
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ])
