"""The signed-in page frame: a header (navigation, tenant switcher, who you are, sign out), the page's
message line, and the session heartbeat."""

from __future__ import annotations

import reflex as rx

from atlas_app.components.native_form import native_form
from atlas_app.state.session import HEARTBEAT_SECONDS, SessionState


def logout_button() -> rx.Component:
    # A plain form post: the server ends the session and clears the HttpOnly cookie.
    return native_form(
        rx.button(rx.icon("log_out", size=16), "Sign out", type="submit", variant="soft",
                  custom_attrs={"data-testid": "logout"}),
        action="/auth/logout",
        method="post",
    )


def _nav_link(label: str, href: str, test_id: str) -> rx.Component:
    return rx.link(label, href=href, size="2", custom_attrs={"data-testid": test_id})


def navigation() -> rx.Component:
    """Only what the actor may use (the flags come from ``can()``; the pages check again). On a narrow screen it
    takes a row of its own under the brand and the user, and wraps there."""
    return rx.flex(
        rx.cond(SessionState.can_view, _nav_link("Connections", "/connections", "nav-connections")),
        rx.cond(SessionState.can_view, _nav_link("Operations", "/operations", "nav-operations")),
        rx.cond(SessionState.can_view, _nav_link("Alerts", "/alerts", "nav-alerts")),
        rx.cond(SessionState.can_manage_tenant, _nav_link("Members", "/members", "nav-members")),
        rx.cond(SessionState.can_manage_tenant, _nav_link("Sign-in", "/settings/sign-in", "nav-sign-in")),
        rx.cond(SessionState.can_audit, _nav_link("Audit log", "/audit", "nav-audit")),
        _nav_link("Invitations", "/invitations", "nav-invitations"),
        _nav_link("Security", "/account/security", "nav-security"),
        column_gap="1em",
        row_gap="0.25em",
        wrap="wrap",
        align="center",
        order=["3", "3", "0"],
        width=["100%", "100%", "auto"],
        custom_attrs={"data-testid": "navigation"},
    )


def tenant_switcher() -> rx.Component:
    """For users in several suite tenants: pick which one this session works in."""
    return rx.cond(
        SessionState.tenants.length() > 1,
        rx.select.root(
            rx.select.trigger(placeholder="Tenant", custom_attrs={"data-testid": "tenant-switcher"}),
            rx.select.content(
                rx.foreach(SessionState.tenants, lambda tenant: rx.select.item(
                    tenant.name, value=tenant.id, custom_attrs={"data-testid": "tenant-option"})),
            ),
            value=SessionState.tenant_id,
            on_change=SessionState.switch_tenant,
            size="1",
        ),
    )


def header() -> rx.Component:
    """Brand, navigation, then who you are: one row on a wide screen; on a narrow one the brand and the user share
    the first row and the navigation wraps in a row of its own (nothing wider than the screen)."""
    return rx.flex(
        rx.hstack(rx.icon("globe", size=22), rx.heading("Atlas", size="5"), align="center", spacing="2",
                  flex_shrink="0"),
        navigation(),
        rx.hstack(
            tenant_switcher(),
            rx.vstack(
                rx.text(SessionState.user_email, size="2", weight="medium", max_width="100%", overflow="hidden",
                        text_overflow="ellipsis", white_space="nowrap", custom_attrs={"data-testid": "user-email"}),
                rx.text(SessionState.tenant_name, " · ", SessionState.user_role, size="1", color_scheme="gray",
                        max_width="100%", overflow="hidden", text_overflow="ellipsis", white_space="nowrap",
                        custom_attrs={"data-testid": "tenant-name"}),
                spacing="0",
                align="end",
                min_width="0",
            ),
            logout_button(),
            align="center",
            spacing="3",
            margin_left="auto",
            min_width="0",
        ),
        column_gap="2em",
        row_gap="0.5em",
        wrap="wrap",
        width="100%",
        padding_x=["0.75em", "1em", "1.5em"],
        padding_y="0.75em",
        border_bottom="1px solid var(--gray-a5)",
        align="center",
        custom_attrs={"data-testid": "page-header"},
    )


def notice() -> rx.Component:
    return rx.cond(
        SessionState.notice != "",
        rx.hstack(
            rx.callout(
                SessionState.notice,
                icon=rx.match(SessionState.notice_kind, ("error", "triangle_alert"), ("success", "circle_check"),
                              "info"),
                color_scheme=rx.match(SessionState.notice_kind, ("error", "red"), ("success", "green"), "blue"),
                width="100%",
                custom_attrs={"data-testid": "notice", "data-kind": SessionState.notice_kind},
            ),
            rx.icon_button(rx.icon("x", size=14), variant="ghost", size="2", on_click=SessionState.dismiss_notice,
                           aria_label="Dismiss", custom_attrs={"data-testid": "notice-dismiss"}),
            width="100%",
            align="center",
        ),
    )


def page_frame(*children: rx.Component) -> rx.Component:
    """A signed-in page: header, message line, then the page's content."""
    return rx.box(
        header(),
        rx.box(
            rx.vstack(notice(), *children, spacing="5", width="100%"),
            padding=["0.75em", "1em", "1.5em"], max_width="1200px", margin_x="auto",
        ),
        # The session heartbeat: a page left open is sent to /login soon after its session ends.
        rx.moment(interval=int(HEARTBEAT_SECONDS * 1000), on_change=SessionState.heartbeat, display="none"),
        width="100%",
    )
