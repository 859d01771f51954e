"""What every plain HTML form post of Atlas's own routes shares (sign-in, sign-out, invite, accept).

These routes sit in front of Reflex so that passwords never travel as event arguments. Each refuses a post
from another site, reads only a small url-encoded form, and answers with an uncached redirect.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse

MAX_FORM_BYTES = 8 * 1024


def same_origin(request: Request, *, referer_will_do: bool = False) -> bool:
    """Whether the post names this host as its Origin (or, where allowed, its Referer); neither is a refusal.

    Browsers send Origin with every form post; the sign-in form also accepts Referer for older proxies that
    strip Origin.
    """
    host = request.headers.get("host", "")
    origin = request.headers.get("origin")
    if origin is not None:
        return origin != "null" and urlsplit(origin).netloc == host
    referer = request.headers.get("referer")
    if referer_will_do and referer is not None:
        return urlsplit(referer).netloc == host
    return False


async def read_form(request: Request, *, max_fields: int) -> dict[str, str] | None:
    """The url-encoded fields, one value each; None when the body is too big, not a form, or repeats a field."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=max_fields)
    except (UnicodeDecodeError, ValueError):
        return None
    if any(len(values) != 1 for values in fields.values()):
        return None
    return {key: values[0] for key, values in fields.items()}


def redirect(path: str) -> RedirectResponse:
    response = RedirectResponse(path, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    return response
