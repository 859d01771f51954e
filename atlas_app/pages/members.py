"""/members: who belongs to this suite tenant, with which role; invite, change role, remove (tenant.manage).

Removing a member ends their sessions in this tenant at once; a page they still have open is sent to the
login page by its next event or heartbeat. The initial password of an invited user goes straight to the
service and its input is cleared; it is never kept in state.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import reflex as rx

from atlas_app.components.layout import page_frame
from atlas_app.state.guard import (
    PAGE_DENIED,
    choice_arg,
    form_arg,
    requires_capability,
    secret_field,
    text_field,
    uuid_arg,
)
from atlas_app.state.messages import user_message, when
from atlas_app.state.session import FAILED, SessionState
from atlas_services.authz import Actor, Capability
from atlas_services.errors import InvalidInput
from atlas_services.members import MemberView, add_member, change_role, list_members, remove_member
from atlas_services.models import Role

ROUTE = "/members"
# The roles a member can be given (labels only: what each role may do is decided in atlas_services.authz).
ROLE_CHOICES = [role.value for role in Role]

INVITE_FORM = form_arg(
    email=text_field("Email", 254),
    role=text_field("Role", 20),
    password=secret_field("The initial password", 1024),
)


@dataclasses.dataclass
class MemberRow:
    user_id: str = ""
    email: str = ""
    role: str = ""
    joined: str = ""
    is_you: bool = False


def _member_row(view: MemberView, actor: Actor) -> MemberRow:
    return MemberRow(user_id=str(view.user_id), email=view.email, role=str(view.role), joined=when(view.joined_at),
                     is_you=view.user_id == actor.user_id)


class MembersState(SessionState):
    members: rx.Field[list[MemberRow]] = rx.field(default_factory=list)
    loaded: rx.Field[bool] = rx.field(False)
    invite_field: rx.Field[str] = rx.field("")
    invite_error: rx.Field[str] = rx.field("")

    # ---- private helpers ----

    def _clear_page(self) -> None:
        self.members = []
        self.loaded = False

    async def _refresh(self, actor: Actor) -> None:
        views = await self._call(list_members, actor)
        if views is FAILED:
            return
        self.members = [_member_row(view, actor) for view in views]
        self.loaded = True

    def _email_of(self, user_id: str) -> str:
        return next((row.email for row in self.members if row.user_id == user_id), "The member")

    # ---- events ----

    @requires_capability(Capability.TENANT_MANAGE, denied=PAGE_DENIED)
    async def on_page_load(self, actor: Actor) -> None:
        self.notice = ""
        self.invite_field, self.invite_error = "", ""
        await self._refresh(actor)

    @requires_capability(Capability.TENANT_MANAGE, form_data=INVITE_FORM)
    async def invite_member(self, actor: Actor, form_data: Any) -> Any:
        """Add a user to the tenant (creating them with the initial password when they are new)."""
        self.invite_field, self.invite_error = "", ""
        password = form_data["password"]
        try:
            view = await asyncio.to_thread(add_member, actor, email=form_data["email"], role=form_data["role"],
                                           password=password.reveal() if password is not None else None)
        except InvalidInput as exc:
            self.invite_field, self.invite_error = exc.field, str(exc)
            return None
        except Exception as exc:  # noqa: BLE001 - translated for the user
            self.invite_error = user_message(exc)
            return None
        self._say(f"{view.email} is now a member ({view.role}).", "success")
        await self._refresh(actor)
        return rx.set_value("invite_email", "")

    @requires_capability(Capability.TENANT_MANAGE, user_id=uuid_arg, role=choice_arg(*ROLE_CHOICES))
    async def change_member_role(self, actor: Actor, user_id: Any, role: Any) -> None:
        view = await self._call(change_role, actor, user_id, role)
        if view is not FAILED:
            self._say(f"{view.email} is now {view.role}.", "success")
        await self._refresh(actor)

    @requires_capability(Capability.TENANT_MANAGE, user_id=uuid_arg)
    async def remove_member(self, actor: Actor, user_id: Any) -> None:
        email = self._email_of(user_id)
        if await self._call(remove_member, actor, user_id) is not FAILED:
            self._say(f"{email} was removed; their sessions in this tenant have ended.", "success")
        await self._refresh(actor)


# ---------------------------------------------------------------- view


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


def _invite_error(field: str) -> rx.Component:
    return rx.cond(MembersState.invite_field == field,
                   rx.text(MembersState.invite_error, size="1", color_scheme="red",
                           custom_attrs={"data-testid": f"invite-error-{field}"}))


def _invite_form() -> rx.Component:
    return rx.card(
        rx.heading("Invite a member", size="4", margin_bottom="0.75em"),
        rx.form(
            rx.vstack(
                rx.grid(
                    rx.vstack(
                        rx.el.label(rx.text("Email", size="2", weight="medium"), html_for="invite_email"),
                        rx.input(id="invite_email", name="email", type="email", required=True, width="100%",
                                 custom_attrs={"data-testid": "invite-email"}),
                        _invite_error("email"),
                        spacing="1",
                    ),
                    rx.vstack(
                        rx.el.label(rx.text("Role", size="2", weight="medium")),
                        rx.select(ROLE_CHOICES, name="role", default_value="readonly",
                                  custom_attrs={"data-testid": "invite-role"}),
                        _invite_error("role"),
                        spacing="1",
                    ),
                    rx.vstack(
                        rx.el.label(rx.text("Initial password (new users only)", size="2", weight="medium"),
                                    html_for="password"),
                        rx.input(id="password", name="password", type="password", auto_complete="new-password",
                                 width="100%", custom_attrs={"data-testid": "invite-password"}),
                        _invite_error("password"),
                        spacing="1",
                    ),
                    columns="3",
                    spacing="3",
                    width="100%",
                ),
                rx.cond(
                    (MembersState.invite_error != "")
                    & ~rx.Var.create(["email", "role", "password"]).contains(MembersState.invite_field),
                    rx.text(MembersState.invite_error, size="2", color_scheme="red",
                            custom_attrs={"data-testid": "invite-error"}),
                ),
                rx.button("Invite", type="submit", custom_attrs={"data-testid": "invite-submit"}),
                spacing="3",
                width="100%",
            ),
            on_submit=MembersState.invite_member,
            reset_on_submit=False,
            id="invite-form",
        ),
        width="100%",
    )


def members_page() -> rx.Component:
    return page_frame(
        rx.heading("Members", size="6"),
        rx.cond(SessionState.can_manage_tenant, rx.fragment(_members_table(), _invite_form())),
    )
