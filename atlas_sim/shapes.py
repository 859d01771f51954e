"""Response shapes Graph really sends and a careful client must read: empty pages that still carry a nextLink,
``@odata.count`` on Intune lists nobody asked to count, ``innerError.date`` without its ``Z``, an empty error
``code``.

Scenario option (YAML, per tenant; all false by default)::

    shapes:
      empty_pages: true          # an empty page (value: [], with a nextLink) between pages, and an empty last page
      count_unasked: true        # Intune lists send @odata.count on their first page without $count=true
      naive_error_dates: true    # error bodies' innerError.date has no Z ("2022-03-22T12:40:15")
      empty_error_code: true     # error bodies' code is ""

An empty page is a hop: the page before it points at ``$skiptoken=E<the real token>``, which answers ``value: []``
and a nextLink to the real token (an empty last page is ``$skiptoken=E`` and ends the listing).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from atlas_sim import fields
from atlas_sim.pages import is_listing

INTUNE_PREFIXES = ("/devicemanagement/", "/deviceappmanagement/")
_HOP = "E"


@dataclass(frozen=True)
class Shapes:
    empty_pages: bool = False
    count_unasked: bool = False
    naive_error_dates: bool = False
    empty_error_code: bool = False


def parse_shapes(data: object, where: str) -> Shapes:
    raw = fields.mapping(data if data is not None else {}, where, required=set(),
                         optional={"empty_pages", "count_unasked", "naive_error_dates", "empty_error_code"})
    return Shapes(**{name: fields.boolean(value, f"{where}.{name}") for name, value in raw.items()})


def counts_unasked(shapes: Shapes, path: str) -> bool:
    return shapes.count_unasked and path.lower().startswith(INTUNE_PREFIXES)


def _skiptoken(request: Request) -> str | None:
    return next((v for k, v in request.query_params.multi_items() if k.lower() == "$skiptoken"), None)


def _link(request: Request, graph_base: str, path: str, token: str) -> str:
    query = [(k, v) for k, v in request.query_params.multi_items() if k.lower() != "$skiptoken"]
    return f"{graph_base}/v1.0{path}?{urlencode([*query, ('$skiptoken', token)])}"


def empty_hop(shapes: Shapes, request: Request, graph_base: str, path: str) -> dict[str, Any] | None:
    """The empty page a hop link asks for, or None when the request is not one."""
    token = _skiptoken(request)
    if not shapes.empty_pages or token is None or not token.startswith(_HOP):
        return None
    body: dict[str, Any] = {"@odata.context": f"{graph_base}/v1.0/$metadata#{path.strip('/')}", "value": []}
    if token[len(_HOP):]:
        body["@odata.nextLink"] = _link(request, graph_base, path, token[len(_HOP):])
    return body


def add_hops(shapes: Shapes, body: dict[str, Any], request: Request, graph_base: str, path: str) -> None:
    """Route a page's nextLink through an empty page; give the last page of a paged listing an empty successor."""
    if not shapes.empty_pages or not is_listing(body.get("value")):
        return
    next_link = body.get("@odata.nextLink")
    if isinstance(next_link, str):
        parts = urlsplit(next_link)
        query = [(k, _HOP + v if k.lower() == "$skiptoken" else v) for k, v in parse_qsl(parts.query)]
        body["@odata.nextLink"] = urlunsplit(parts._replace(query=urlencode(query)))
    elif _skiptoken(request) is not None:  # a later page: the listing pages, so its end can be an empty page
        body["@odata.nextLink"] = _link(request, graph_base, path, _HOP)


def reshape_error(shapes: Shapes, response: Response) -> Response:
    """An error response with this tenant's error-body quirks."""
    if not (shapes.naive_error_dates or shapes.empty_error_code) or response.status_code < 400:
        return response
    try:
        body = json.loads(bytes(response.body))
    except ValueError:
        return response
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return response
    if shapes.empty_error_code:
        error["code"] = ""
    inner = error.get("innerError")
    if shapes.naive_error_dates and isinstance(inner, dict) and isinstance(inner.get("date"), str):
        inner["date"] = inner["date"].removesuffix("Z")
    headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")}
    return JSONResponse(body, status_code=response.status_code, headers=headers)
