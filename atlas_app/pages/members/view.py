"""The members page: the members table, pending invitations (revocable), and the invite form.

The invite form is a native HTML form posting to ``invite_routes.INVITE_PATH``: the browser sends the
password straight to that route, so it is never part of a Reflex event, of this page's state, or of a frame.
"""

from __future__ import annotations

import reflex as rx

from atlas_app.components.layout import page_frame
from atlas_app.components.native_form import native_form
from atlas_app.invite_routes import INVITE_PATH
from atlas_app.pages.members.state import ROLE_CHOICES, InvitationRow, MemberRow, MembersState
from atlas_app.state.session import SessionState


def _remove_button(row: MemberRow) -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(
            rx.button(rx.icon("user_x", size=14), "Remove", size="1", variant="soft", color_scheme="red",
                      custom_attrs={"data-testid": "remove-member", "data-email": row.email}),
        ),
        rx.alert_dialog.content(
            rx.alert_dialog.title("Remove member"),
            rx.alert_dialog.description(
                rx.text("Remove ", rx.text.strong(row.email), " from this tenant? Their sessions here end at once."),
            ),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(rx.button("Remove", color_scheme="red",
                                                 on_click=MembersState.remove_member(row.user_id),
                                                 custom_attrs={"data-testid": "confirm-remove"})),
                justify="end",
                spacing="3",
                margin_top="1em",
            ),
        ),
    )


def _member_row_view(row: MemberRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.hstack(
            rx.text(row.email, weight="medium"),
            rx.cond(row.is_you, rx.badge("you", variant="outline", color_scheme="gray")),
            align="center",
        )),
        rx.table.cell(
            rx.select(ROLE_CHOICES, value=row.role, size="1",
                      on_change=lambda role: MembersState.change_member_role(row.user_id, role),
                      custom_attrs={"data-testid": "member-role", "data-email": row.email}),
        ),
        rx.table.cell(rx.text(row.joined, size="1")),
        rx.table.cell(_remove_button(row)),
        custom_attrs={"data-testid": "member-row", "data-email": row.email, "data-role": row.role},
    )


def _members_table() -> rx.Component:
    return rx.cond(
        MembersState.members.length() > 0,
        rx.table.root(
            rx.table.header(rx.table.row(*(rx.table.column_header_cell(t) for t in ("Email", "Role", "Joined", "")))),
            rx.table.body(rx.foreach(MembersState.members, _member_row_view)),
            width="100%",
            variant="surface",
            custom_attrs={"data-testid": "members-table"},
        ),
        rx.cond(
            MembersState.loaded,
            rx.text("This tenant has no members.", color_scheme="gray", custom_attrs={"data-testid": "members-empty"}),
            rx.cond(SessionState.can_manage_tenant, rx.text("Loading…", color_scheme="gray")),
        ),
    )


def _invitation_row_view(row: InvitationRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row.email, weight="medium")),
        rx.table.cell(rx.badge(row.role, variant="soft")),
        rx.table.cell(rx.text(row.invited, size="1")),
        rx.table.cell(rx.button(rx.icon("mail_x", size=14), "Revoke", size="1", variant="soft", color_scheme="red",
                                on_click=MembersState.revoke_invitation(row.id),
                                custom_attrs={"data-testid": "revoke-invitation", "data-email": row.email})),
        custom_attrs={"data-testid": "invitation-row", "data-email": row.email, "data-role": row.role},
    )


def _invitations_table() -> rx.Component:
    return rx.cond(
        MembersState.invitations.length() > 0,
        rx.vstack(
            rx.heading("Pending invitations", size="4"),
            rx.text("Nobody below can see anything in this tenant until they accept.", size="2", color_scheme="gray"),
            rx.table.root(
                rx.table.header(rx.table.row(*(rx.table.column_header_cell(t)
                                               for t in ("Email", "Role", "Invited", "")))),
                rx.table.body(rx.foreach(MembersState.invitations, _invitation_row_view)),
                width="100%",
                variant="surface",
                custom_attrs={"data-testid": "invitations-table"},
            ),
            width="100%",
        ),
    )


def _labelled(label: str, html_for: str, control: rx.Component) -> rx.Component:
    return rx.vstack(rx.el.label(rx.text(label, size="2", weight="medium"), html_for=html_for), control, spacing="1")


def _invite_form() -> rx.Component:
    return rx.card(
        rx.heading("Invite a member", size="4", margin_bottom="0.25em"),
        rx.text("Choose an initial password and give it to the person. A new account signs in with it; "
                "someone who already has an account enters it to accept.", size="2", color_scheme="gray",
                margin_bottom="0.75em"),
        native_form(
            rx.vstack(
                rx.grid(
                    _labelled("Email", "invite_email",
                              rx.input(id="invite_email", name="email", type="email", required=True, width="100%",
                                       custom_attrs={"data-testid": "invite-email"})),
                    _labelled("Role", "invite_role",
                              rx.el.select(*(rx.el.option(role, value=role) for role in ROLE_CHOICES),
                                           id="invite_role", name="role", default_value="readonly",
                                           custom_attrs={"data-testid": "invite-role"})),
                    _labelled("Initial password", "invite_password",
                              rx.input(id="invite_password", name="password", type="password", required=True,
                                       min_length=8, auto_complete="new-password", width="100%",
                                       custom_attrs={"data-testid": "invite-password"})),
                    columns="3",
                    spacing="3",
                    width="100%",
                ),
                rx.button("Invite", type="submit", custom_attrs={"data-testid": "invite-submit"}),
                spacing="3",
                width="100%",
            ),
            action=INVITE_PATH,
            method="post",
            id="invite-form",
        ),
        width="100%",
    )


def members_page() -> rx.Component:
    return page_frame(
        rx.heading("Members", size="6"),
        rx.cond(SessionState.can_manage_tenant, rx.fragment(_members_table(), _invitations_table(), _invite_form())),
    )
