"""/login: an ordinary HTML form posting to /auth/login, so the browser itself stores the HttpOnly cookie."""

from __future__ import annotations

import reflex as rx
from reflex_base.event import EventSpec

from atlas_app.components.native_form import native_form
from atlas_app.state.guard import public_handler
from atlas_app.state.session import HOME_ROUTE, SessionState
from atlas_services.reasons import ReasonCode, reason

ROUTE = "/login"

_MESSAGES = {
    "1": "Wrong email or password.",
    "2": "Sign-in is unavailable right now. Try again in a moment.",
    "3": "Too many sign-in attempts. Wait a few minutes and try again.",
    "4": "Your sign-in step expired or was already used. Sign in again.",
    # Sign in with Microsoft's refusals (and a wrong sign-in app), by reason code, in the catalogue's words.
    **{code.value: reason(code).message for code in ReasonCode if code.value.startswith(("sso.", "auth.", "signin."))},
}


class LoginState(SessionState):
    error_message: rx.Field[str] = rx.field("")

    @public_handler()
    async def on_page_load(self) -> EventSpec | None:
        """Show the message named by ``?error=`` and skip the form when already signed in."""
        # The query string comes from the browser: only the fixed messages above can be shown.
        code = self.router.url.query_parameters.get("error", "")
        self.error_message = _MESSAGES.get(code, "") if isinstance(code, str) else ""
        if await self._actor() is not None:
            return rx.redirect(HOME_ROUTE)
        return None


def login_page() -> rx.Component:
    return rx.center(
        rx.card(
            rx.vstack(
                rx.hstack(rx.icon("globe", size=24), rx.heading("Sign in to Atlas", size="6"), align="center"),
                rx.cond(
                    LoginState.error_message != "",
                    rx.callout(LoginState.error_message, icon="triangle_alert", color_scheme="red", width="100%",
                               custom_attrs={"data-testid": "login-error"}),
                ),
                native_form(
                    rx.vstack(
                        rx.el.label(rx.text("Email", size="2", weight="medium"), html_for="email"),
                        rx.input(id="email", name="email", type="email", required=True, auto_complete="username",
                                 width="100%", custom_attrs={"data-testid": "login-email"}),
                        rx.el.label(rx.text("Password", size="2", weight="medium"), html_for="password"),
                        rx.input(id="password", name="password", type="password", required=True,
                                 auto_complete="current-password", width="100%",
                                 custom_attrs={"data-testid": "login-password"}),
                        rx.button("Sign in", type="submit", width="100%", margin_top="0.5em",
                                  custom_attrs={"data-testid": "login-submit"}),
                        spacing="2",
                        width="100%",
                    ),
                    action="/auth/login",
                    method="post",
                    width="100%",
                ),
                rx.divider(),
                # A plain GET form: the browser goes to /auth/sso/start, which sends it on to Microsoft.
                native_form(
                    rx.vstack(
                        rx.el.label(rx.text("Workspace", size="2", weight="medium"), html_for="sso-workspace"),
                        rx.input(id="sso-workspace", name="workspace", required=True, width="100%",
                                 custom_attrs={"data-testid": "sso-workspace"}),
                        rx.button(rx.icon("key-round", size=16), "Sign in with Microsoft", type="submit",
                                  variant="outline", width="100%", custom_attrs={"data-testid": "sso-submit"}),
                        spacing="2",
                        width="100%",
                    ),
                    action="/auth/sso/start",
                    method="get",
                    width="100%",
                ),
                spacing="4",
                width="100%",
            ),
            width="100%",
            max_width="380px",
            size="3",
        ),
        min_height="100vh",
        padding="1em",
    )
