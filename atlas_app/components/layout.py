"""The signed-in page frame: a header with who and where you are, and a sign-out button."""

from __future__ import annotations

import reflex as rx

from atlas_app.components.native_form import native_form
from atlas_app.state.session import SessionState


def logout_button() -> rx.Component:
    # A plain form post: the server ends the session and clears the HttpOnly cookie.
    return native_form(
        rx.button(rx.icon("log_out", size=16), "Sign out", type="submit", variant="soft",
                  custom_attrs={"data-testid": "logout"}),
        action="/auth/logout",
        method="post",
    )


def header() -> rx.Component:
    return rx.hstack(
        rx.hstack(
            rx.icon("globe", size=22),
            rx.heading("Atlas", size="5"),
            rx.link("Connections", href="/connections", size="2"),
            align="center",
            spacing="3",
        ),
        rx.spacer(),
        rx.hstack(
            rx.vstack(
                rx.text(SessionState.user_email, size="2", weight="medium",
                        custom_attrs={"data-testid": "user-email"}),
                rx.text(SessionState.tenant_name, " · ", SessionState.user_role, size="1", color_scheme="gray",
                        custom_attrs={"data-testid": "tenant-name"}),
                spacing="0",
                align="end",
            ),
            logout_button(),
            align="center",
            spacing="3",
        ),
        width="100%",
        padding_x="1.5em",
        padding_y="0.75em",
        border_bottom="1px solid var(--gray-a5)",
        align="center",
    )


def page_frame(*children: rx.Component) -> rx.Component:
    """A signed-in page: header, then the page's content."""
    return rx.box(
        header(),
        rx.box(*children, padding="1.5em", max_width="1200px", margin_x="auto"),
        width="100%",
    )
