"""The Reflex app: pages, plus the sign-in routes mounted in front of Reflex's own on the same origin."""

from __future__ import annotations

import reflex as rx

from atlas_app.auth_routes import build_auth_api
from atlas_app.cookie_shield import CookieShield
from atlas_app.pages import connections, login
from atlas_app.state.session import SessionState
from atlas_services.netguard import install_outbound_guard

# The sign-in routes go in front of Reflex's; CookieShield wraps everything, so the event socket's
# Cookie header carries only the session digest by the time Reflex stores it.
app = rx.App(api_transformer=[build_auth_api(), CookieShield])
# In the serving process only (not while `reflex run` compiles): HTTP may reach loopback and nothing else.
app.register_lifespan_task(install_outbound_guard)


def index() -> rx.Component:
    return rx.center(rx.text("Loading…"), min_height="50vh")


class IndexState(SessionState):
    @rx.event
    async def route(self):
        """/ sends signed-in users to their connections and everyone else to the login page."""
        if await self._actor() is None:
            return rx.redirect("/login")
        return rx.redirect("/connections")


app.add_page(index, route="/", title="Atlas", on_load=IndexState.route)
app.add_page(login.login_page, route=login.ROUTE, title="Sign in · Atlas", on_load=login.LoginState.on_page_load)
app.add_page(connections.connections_page, route=connections.ROUTE, title="Connections · Atlas",
             on_load=connections.ConnectionsState.on_page_load)
