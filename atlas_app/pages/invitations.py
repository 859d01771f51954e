"""/invitations: the signed-in user's own pending invitations to other suite tenants; accept or decline.

Accepting needs the password the inviter gave out, so it is a native form posting to
``invite_routes.ACCEPT_PATH`` (never a Reflex event); declining needs nothing and is an event.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx

from atlas_app.components.layout import page_frame
from atlas_app.components.native_form import native_form
from atlas_app.invite_routes import ACCEPT_PATH
from atlas_app.state.guard import SIGNED_IN, requires_capability, uuid_arg
from atlas_app.state.messages import when
from atlas_app.state.session import FAILED, SessionState
from atlas_services.authz import Actor
from atlas_services.invitations import decline_invitation, my_invitations

ROUTE = "/invitations"

# What the accept route's ?outcome= may say (anything else in the query string shows nothing).
ACCEPT_OUTCOMES: dict[str, tuple[str, str]] = {
    "accepted": ("Invitation accepted. Pick the tenant in the tenant switcher.", "success"),
    "wrong": ("That is not the invitation's password. After five wrong tries the invitation is void.", "error"),
    "gone": ("That invitation no longer exists.", "error"),
    "invalid": ("That request was not valid.", "error"),
    "error": ("Accepting is unavailable right now. Try again in a moment.", "error"),
}


@dataclasses.dataclass
class MyInvitationRow:
    id: str = ""
    tenant_name: str = ""
    role: str = ""
    invited: str = ""


class InvitationsState(SessionState):
    pending: rx.Field[list[MyInvitationRow]] = rx.field(default_factory=list)
    loaded: rx.Field[bool] = rx.field(False)

    def _clear_page(self) -> None:
        self.pending = []
        self.loaded = False

    async def _refresh(self, actor: Actor) -> None:
        views = await self._call(my_invitations, actor.user_id)
        if views is FAILED:
            return
        self.pending = [MyInvitationRow(id=str(v.id), tenant_name=v.tenant_name, role=v.role,
                                        invited=when(v.invited_at)) for v in views]
        self.loaded = True

    @requires_capability(SIGNED_IN)
    async def on_page_load(self, actor: Actor) -> None:
        # The query string comes from the browser: only the fixed messages above can be shown.
        outcome = self.router.url.query_parameters.get("outcome", "")
        message, kind = ACCEPT_OUTCOMES.get(outcome, ("", "info")) if isinstance(outcome, str) else ("", "info")
        self._say(message, kind)
        await self._refresh(actor)

    @requires_capability(SIGNED_IN, invitation_id=uuid_arg)
    async def decline(self, actor: Actor, invitation_id: Any) -> None:
        view = await self._call(decline_invitation, actor.user_id, invitation_id)
        if view is not FAILED:
            self._say(f"You declined the invitation to {view.tenant_name}.", "success")
        await self._refresh(actor)


def _invitation_card(row: MyInvitationRow) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(rx.text(row.tenant_name, weight="bold"), rx.badge(row.role, variant="soft"),
                      rx.text(row.invited, size="1", color_scheme="gray"), align="center", spacing="3"),
            native_form(
                rx.hstack(
                    rx.el.input(type="hidden", name="invitation_id", value=row.id),
                    rx.input(name="password", type="password", required=True, placeholder="Invitation password",
                             auto_complete="off", custom_attrs={"data-testid": "accept-password"}),
                    rx.button("Accept", type="submit", custom_attrs={"data-testid": "accept-invitation"}),
                    rx.button("Decline", type="button", variant="soft", color_scheme="gray",
                              on_click=InvitationsState.decline(row.id),
                              custom_attrs={"data-testid": "decline-invitation"}),
                    spacing="2",
                    align="center",
                ),
                action=ACCEPT_PATH,
                method="post",
            ),
            spacing="2",
        ),
        width="100%",
        custom_attrs={"data-testid": "my-invitation", "data-tenant": row.tenant_name},
    )


def invitations_page() -> rx.Component:
    return page_frame(
        rx.heading("Invitations", size="6"),
        rx.text("Invitations to other suite tenants. To accept, enter the password the person who invited you "
                "gave you (not your own).", size="2", color_scheme="gray"),
        rx.cond(
            InvitationsState.pending.length() > 0,
            rx.vstack(rx.foreach(InvitationsState.pending, _invitation_card), width="100%"),
            rx.cond(InvitationsState.loaded,
                    rx.text("You have no pending invitations.", color_scheme="gray",
                            custom_attrs={"data-testid": "no-invitations"})),
        ),
    )
