"""The admin-consent page (``GET /{tenant}/adminconsent?client_id=…``): what the connection page links to for the
simulator cloud, so the onboarding flow can be walked through without Microsoft.

Like Entra's endpoint it names the tenant and the app, and answers AADSTS90002 for an unknown tenant and
AADSTS700016 for an app that is not in it. The scenario is fixed, so "accepting" changes nothing: the page shows
what is consented (and what is still propagating to tokens) and, given a ``redirect_uri``, links back with
``admin_consent=True&tenant=…`` as Entra does after an admin accepts.
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from atlas_sim.state import sim_state


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><html><head><title>{escape(title)}</title></head><body><h1>{escape(title)}"
                        f"</h1>{body}</body></html>", status_code=status)


async def admin_consent(request: Request) -> HTMLResponse:
    state = sim_state(request)
    ref = request.path_params["tenant"]
    tenant = state.scenario.tenant(ref)
    if tenant is None:
        return _page("Sign in error", f"<p data-code='90002'>AADSTS90002: Tenant '{escape(ref)}' not found.</p>", 400)
    client_id = request.query_params.get("client_id", "")
    app = tenant.app(client_id) if client_id else None
    if app is None:
        return _page("Sign in error", f"<p data-code='700016'>AADSTS700016: Application with identifier "
                     f"'{escape(client_id)}' was not found in the directory '{escape(tenant.display_name)}'.</p>", 400)
    items = "".join(f"<li data-state='in-token'>{escape(p)}</li>" for p in sorted(app.permissions))
    items += "".join(f"<li data-state='propagating'>{escape(p)} (propagating)</li>"
                     for p in sorted(app.pending_permissions))
    back = request.query_params.get("redirect_uri", "")
    href = f"{back}?{urlencode({'admin_consent': 'True', 'tenant': tenant.id})}"
    # Only web addresses: Entra also refuses redirect URIs it does not know; this page is never a script launcher.
    link = f"<a id='accept' href='{escape(href)}'>Accept</a>" if back.startswith(("https://", "http://")) else ""
    return _page(f"Permissions requested: {app.display_name}",
                 f"<p>Tenant {escape(tenant.display_name)} ({tenant.id}), app {app.client_id}.</p>"
                 f"<ul id='consented'>{items}</ul>{link}")


ROUTES = [Route("/{tenant}/adminconsent", admin_consent, methods=["GET"])]
