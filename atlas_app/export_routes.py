"""Downloads for auditors: GET /exports/{audit,runs,inventory}?format=csv|json&<the page's filters>.

Plain HTTP routes mounted in front of Reflex like the sign-in routes. Each request is authorized afresh from its
own session cookie (HttpOnly, SameSite=Strict, so a cross-site page cannot make the browser send it), every
parameter is validated (a bad or unknown one is a 400 with a clear line), and the file is streamed page by page
from PostgreSQL as an attachment. Nothing here calls out: the rows come from the same read models as the pages.

Parameters ("all" or absent means no filter, as on the pages):
- /exports/audit: format
- /exports/runs: format, connection, status, operation
- /exports/inventory: format, connection (required), kind, search, removed (0|1)
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from atlas_app.cookie_shield import session_cookie
from atlas_services import exports, sessions
from atlas_services.authz import Actor
from atlas_services.errors import Forbidden, InvalidInput, NotFound

log = logging.getLogger(__name__)

ALL = "all"
PARAMETERS = {
    exports.AUDIT: {"format"},
    exports.RUNS: {"format", "connection", "status", "operation"},
    exports.INVENTORY: {"format", "connection", "kind", "search", "removed"},
}
_NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class BadRequest(Exception):
    pass


def _text(status: int, line: str) -> Response:
    return PlainTextResponse(line, status_code=status, headers=_NO_STORE)


def _filters(kind: str, request: Request) -> tuple[str, exports.ExportFilters]:
    """The format and filters from the query string; anything unknown, repeated or malformed is refused."""
    query = request.query_params
    unknown = sorted(set(query.keys()) - PARAMETERS[kind])
    if unknown:
        raise BadRequest(f"Unknown parameter: {unknown[0]}. This export takes: {', '.join(sorted(PARAMETERS[kind]))}.")
    for name in query.keys():
        if len(query.getlist(name)) > 1:
            raise BadRequest(f"Parameter {name} is given more than once.")

    def optional(name: str) -> str | None:
        value = query.get(name)
        return None if value in (None, "", ALL) else value

    fmt = query.get("format", "")
    if fmt not in exports.FORMATS:
        raise BadRequest(f"format must be one of: {', '.join(exports.FORMATS)}.")
    connection = optional("connection")
    if connection is not None:
        try:
            connection = str(uuid.UUID(connection))
        except ValueError:
            raise BadRequest("connection must be a connection id.") from None
    removed = query.get("removed", "0")
    if removed not in ("0", "1"):
        raise BadRequest("removed must be 0 or 1.")
    return fmt, exports.ExportFilters(connection_id=connection, status=optional("status"),
                                      op_type=optional("operation"), inventory_kind=optional("kind"),
                                      search=optional("search"), include_removed=removed == "1")


def _actor(request: Request) -> Actor | None:
    token = request.cookies.get(session_cookie(request.url.scheme).name)
    return sessions.actor_for_session(token) if token else None


def _open(request: Request, kind: str, fmt: str, filters: exports.ExportFilters) -> exports.Export | Response:
    """Blocking (the session and the first page): run in a thread."""
    actor = _actor(request)
    if actor is None:
        return _text(401, "Sign in first.")
    try:
        return exports.open_export(actor, kind, fmt, filters)
    except NotFound as missing:
        return _text(404, _sentence(missing))
    except Forbidden as refused:
        return _text(403, _sentence(refused))
    except InvalidInput as invalid:
        return _text(400, _sentence(invalid))


def _sentence(error: Exception) -> str:
    text = str(error)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _guarded(chunks: Iterator[str]) -> Iterator[bytes]:
    """The body; a failure halfway (the database gone, say) ends it, logged by type only."""
    try:
        for chunk in chunks:
            yield chunk.encode()
    except Exception as exc:
        log.error("export stopped halfway: %s", type(exc).__name__)
        raise


def _route(kind: str) -> Callable[[Request], Awaitable[Response]]:
    async def export(request: Request) -> Response:
        try:
            fmt, filters = _filters(kind, request)
        except BadRequest as bad:
            return _text(400, str(bad))
        try:
            opened = await run_in_threadpool(_open, request, kind, fmt, filters)
        except Exception as exc:  # noqa: BLE001 - the database is down, say; never show raw text
            log.error("export failed: %s", type(exc).__name__)
            return _text(503, "The export could not be read. Try again in a moment.")
        if isinstance(opened, Response):
            return opened
        # A sync iterator: Starlette reads each page in a worker thread, off the event loop.
        return StreamingResponse(_guarded(opened.chunks), media_type=opened.media_type, headers={
            "Content-Disposition": f'attachment; filename="{opened.filename}"', **_NO_STORE})

    export.__name__ = f"export_{kind}"
    return export


def build_export_api() -> Starlette:
    """The Starlette app Reflex mounts its own routes under (see atlas_app.atlas_app)."""
    return Starlette(routes=[Route(f"/exports/{kind}", _route(kind), methods=["GET"]) for kind in exports.KINDS])
