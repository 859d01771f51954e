"""/login/second-factor: the code after a right password, an ordinary HTML form posting to /auth/second-factor.

The challenge travels in its own HttpOnly cookie (scoped to /auth), so this page knows nothing about it: it only
shows the form and the fixed message named by ``?error=``.
"""

from __future__ import annotations

import reflex as rx
from reflex_base.event import EventSpec

from atlas_app.components.native_form import native_form
from atlas_app.mfa_routes import SECOND_FACTOR_PATH
from atlas_app.state.guard import public_handler
from atlas_app.state.session import HOME_ROUTE, SessionState

ROUTE = "/login/second-factor"

_MESSAGES = {
    "1": "That code is not valid. Enter the code your authenticator shows now, or an unused recovery code.",
    "2": "Sign-in is unavailable right now. Try again in a moment.",
    "3": "Too many attempts. Wait a few minutes and try again.",
}


class SecondFactorState(SessionState):
    error_message: rx.Field[str] = rx.field("")

    @public_handler()
    async def on_page_load(self) -> EventSpec | None:
        """Show the message named by ``?error=``; someone already signed in has nothing to do here."""
        code = self.router.url.query_parameters.get("error", "")
        self.error_message = _MESSAGES.get(code, "") if isinstance(code, str) else ""
        if await self._actor() is not None:
            return rx.redirect(HOME_ROUTE)
        return None


def second_factor_page() -> rx.Component:
    return rx.center(
        rx.card(
            rx.vstack(
                rx.hstack(rx.icon("shield_check", size=24), rx.heading("Second step", size="6"), align="center"),
                rx.text("Enter the 6-digit code from your authenticator app, or one of your recovery codes.",
                        size="2", color_scheme="gray"),
                rx.cond(
                    SecondFactorState.error_message != "",
                    rx.callout(SecondFactorState.error_message, icon="triangle_alert", color_scheme="red",
                               width="100%", custom_attrs={"data-testid": "second-factor-error"}),
                ),
                native_form(
                    rx.vstack(
                        rx.el.label(rx.text("Code", size="2", weight="medium"), html_for="code"),
                        rx.input(id="code", name="code", required=True, auto_complete="one-time-code",
                                 max_length=24, width="100%", custom_attrs={"data-testid": "second-factor-code"}),
                        rx.button("Verify", type="submit", width="100%", margin_top="0.5em",
                                  custom_attrs={"data-testid": "second-factor-submit"}),
                        spacing="2",
                        width="100%",
                    ),
                    action=SECOND_FACTOR_PATH,
                    method="post",
                    width="100%",
                ),
                rx.link("Start again", href="/login", size="2"),
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
