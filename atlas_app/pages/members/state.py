"""The members page's state: members and pending invitations; change role, remove, revoke (tenant.manage).

Inviting is a plain form post to ``atlas_app.invite_routes`` (its password must never be an event argument);
this state only shows the fixed message named by the ``?outcome=`` that route redirects back with.
Removing a member ends their sessions in this tenant at once.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx

from atlas_app.state.guard import PAGE_DENIED, choice_arg, requires_capability, uuid_arg
from atlas_app.state.messages import when
from atlas_app.state.session import FAILED, SessionState
from atlas_services.authz import Actor, Capability
from atlas_services.invitations import InvitationView, list_invitations, revoke_invitation
from atlas_services.members import MemberView, change_role, list_members, remove_member
from atlas_services.models import Role

ROUTE = "/members"
# The roles a member can be given (labels only: what each role may do is decided in atlas_services.authz).
ROLE_CHOICES = [role.value for role in Role]

# What the invite route's ?outcome= may say (anything else in the query string shows nothing).
INVITE_OUTCOMES: dict[str, tuple[str, str]] = {
    "invited": ("Invitation created. Give the person the initial password: they join when they sign in with it "
                "(or, if they already have an account, when they enter it under Invitations).", "success"),
    "email": ("Enter a valid email address in its plain ASCII form.", "error"),
    "role": ("Pick one of the roles.", "error"),
    "password": ("The initial password must be 8 to 1024 characters.", "error"),
    "exists": ("That email is already a member of this tenant, or already invited to it.", "error"),
    "denied": ("You do not have permission to invite members.", "error"),
    "invalid": ("That request was not valid.", "error"),
    "error": ("Inviting is unavailable right now. Try again in a moment.", "error"),
}


@dataclasses.dataclass
class MemberRow:
    user_id: str = ""
    email: str = ""
    role: str = ""
    joined: str = ""
    is_you: bool = False


@dataclasses.dataclass
class InvitationRow:
    id: str = ""
    email: str = ""
    role: str = ""
    invited: str = ""


def _member_row(view: MemberView, actor: Actor) -> MemberRow:
    return MemberRow(user_id=str(view.user_id), email=view.email, role=str(view.role), joined=when(view.joined_at),
                     is_you=view.user_id == actor.user_id)


def _invitation_row(view: InvitationView) -> InvitationRow:
    return InvitationRow(id=str(view.id), email=view.email, role=view.role, invited=when(view.invited_at))


class MembersState(SessionState):
    members: rx.Field[list[MemberRow]] = rx.field(default_factory=list)
    invitations: rx.Field[list[InvitationRow]] = rx.field(default_factory=list)
    loaded: rx.Field[bool] = rx.field(False)

    # ---- private helpers ----

    def _clear_page(self) -> None:
        self.members = []
        self.invitations = []
        self.loaded = False

    async def _refresh(self, actor: Actor) -> None:
        views = await self._call(list_members, actor)
        pending = await self._call(list_invitations, actor)
        if views is FAILED or pending is FAILED:
            return
        self.members = [_member_row(view, actor) for view in views]
        self.invitations = [_invitation_row(view) for view in pending]
        self.loaded = True

    def _email_of(self, user_id: str) -> str:
        return next((row.email for row in self.members if row.user_id == user_id), "The member")

    # ---- events ----

    @requires_capability(Capability.TENANT_MANAGE, denied=PAGE_DENIED)
    async def on_page_load(self, actor: Actor) -> None:
        # The query string comes from the browser: only the fixed messages above can be shown.
        outcome = self.router.url.query_parameters.get("outcome", "")
        message, kind = INVITE_OUTCOMES.get(outcome, ("", "info")) if isinstance(outcome, str) else ("", "info")
        self._say(message, kind)
        await self._refresh(actor)

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

    @requires_capability(Capability.TENANT_MANAGE, invitation_id=uuid_arg)
    async def revoke_invitation(self, actor: Actor, invitation_id: Any) -> None:
        view = await self._call(revoke_invitation, actor, invitation_id)
        if view is not FAILED:
            self._say(f"The invitation of {view.email} was revoked.", "success")
        await self._refresh(actor)
