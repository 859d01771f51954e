"""Invitations: how anyone joins a suite tenant. An invitation grants nothing until its invitee accepts it.

The inviter always gives an initial password, and always gets the same answer after the same work (one
argon2 hash), whether or not the email already had an account: an invitation tells nobody who exists.

- A new email gets an account with that password; its first sign-in accepts the invitation.
- An account that belongs to no tenant is treated as new (see ``_reissue_if_unused``).
- An account in some tenant sees the invitation once signed in, and accepts it by entering the password the
  inviter gave out. Whoever controls the account (even someone who created it in their own tenant, with
  a password they chose, for somebody else's email) cannot join without that password.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from atlas_services import audit, validation
from atlas_services.authz import Actor, Capability, requires
from atlas_services.db import session_scope
from atlas_services.errors import InvalidInput, NotFound
from atlas_services.models import Invitation, Membership, Tenant, User
from atlas_services.passwords import hash_password, verify_password

# Wrong invitation passwords before the invitation is void (the inviter then invites again).
MAX_ACCEPT_FAILURES = 5
_WRONG_PASSWORD = "That is not the invitation's password"  # noqa: S105  (a message, not a password)


class AlreadyInvited(InvalidInput):
    """The email already belongs to the tenant, or already has an invitation to it."""

    def __init__(self, message: str) -> None:
        super().__init__("email", message)


@dataclass(frozen=True)
class InvitationView:
    id: uuid.UUID
    email: str
    role: str
    invited_at: datetime


@dataclass(frozen=True)
class MyInvitationView:
    id: uuid.UUID
    tenant_name: str
    role: str
    invited_at: datetime


def _key(value: object, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound(what) from None


@requires(Capability.TENANT_MANAGE)
def invite_member(actor: Actor, *, email: str, role: str, password: object) -> InvitationView:
    """Invite ``email`` with ``role``; the answer is the same whether or not the account exists."""
    clean_email = validation.email(email)
    clean_role = validation.role(role)
    # Hashed before the lookup, for everyone: the timing says nothing about the account.
    password_hash = hash_password(validation.password(password))
    with session_scope() as session:
        user = session.exec(select(User).where(User.email == clean_email).with_for_update()).first()
        if user is None:
            user = User(email=clean_email, password_hash=password_hash)
            session.add(user)
            session.flush()
            new_account = True
        elif session.exec(select(Membership.id).where(Membership.user_id == user.id,
                                                      Membership.tenant_id == actor.tenant_id)).first():
            raise AlreadyInvited(f"{clean_email} is already a member")
        else:
            new_account = _reissue_if_unused(session, user, password_hash)
        invitation = Invitation(user_id=user.id, tenant_id=actor.tenant_id, role=clean_role,
                                password_hash=password_hash, new_account=new_account, invited_by=actor.user_id)
        session.add(invitation)
        try:
            session.flush()
        except IntegrityError:
            raise AlreadyInvited(f"{clean_email} already has a pending invitation") from None
        audit.record(session, tenant_id=actor.tenant_id, actor_user_id=actor.user_id, action="member.invite",
                     target_type="invitation", target_id=invitation.id,
                     details={"email": clean_email, "role": clean_role.value})
        return InvitationView(invitation.id, clean_email, clean_role.value, invitation.created_at)


@requires(Capability.TENANT_MANAGE)
def list_invitations(actor: Actor) -> list[InvitationView]:
    """The tenant's pending invitations, by email."""
    with session_scope() as session:
        rows = session.exec(select(Invitation, User.email).join(User, col(User.id) == col(Invitation.user_id))
                            .where(Invitation.tenant_id == actor.tenant_id).order_by(col(User.email))).all()
        return [InvitationView(row.id, email, row.role, row.created_at) for row, email in rows]


@requires(Capability.TENANT_MANAGE)
def revoke_invitation(actor: Actor, invitation_id: object) -> InvitationView:
    """Withdraw a pending invitation; an account it created that never joined anything goes with it."""
    key = _key(invitation_id, "invitation")
    with session_scope() as session:
        row = session.exec(select(Invitation, User).join(User, col(User.id) == col(Invitation.user_id)).where(
            Invitation.id == key, Invitation.tenant_id == actor.tenant_id).with_for_update()).first()
        if row is None:
            raise NotFound("invitation")
        invitation, user = row
        view = InvitationView(invitation.id, user.email, invitation.role, invitation.created_at)
        session.delete(invitation)
        session.flush()
        if invitation.new_account and not _belongs_anywhere(session, user.id):
            session.delete(user)  # nobody ever signed in to it; leaving it would keep the inviter's password alive
        audit.record(session, tenant_id=actor.tenant_id, actor_user_id=actor.user_id, action="member.revoke",
                     target_type="invitation", target_id=key, details={"email": view.email, "role": view.role})
        return view


def _reissue_if_unused(session: Session, user: User, password_hash: str) -> bool:
    """An account in no tenant guards nothing: the invitation's password becomes its password, as for a new one.

    Only the newest such invitation is accepted by the first sign-in; earlier ones wait for an explicit accept
    with their own password. So an account squatted on someone else's email, then left tenant-less, passes to
    whoever the next inviter gives the password to.
    """
    if session.exec(select(Membership.id).where(Membership.user_id == user.id)).first():
        return False
    user.password_hash = password_hash
    for earlier in session.exec(select(Invitation).where(Invitation.user_id == user.id)).all():
        earlier.new_account = False
    return True


def _belongs_anywhere(session: Session, user_id: uuid.UUID) -> bool:
    memberships = session.exec(select(func.count()).select_from(Membership).where(Membership.user_id == user_id)).one()
    invitations = session.exec(select(func.count()).select_from(Invitation).where(Invitation.user_id == user_id)).one()
    return bool(memberships or invitations)


def my_invitations(user_id: uuid.UUID) -> list[MyInvitationView]:
    """The signed-in user's own pending invitations (any tenant), oldest first."""
    with session_scope() as session:
        rows = session.exec(select(Invitation, Tenant.name).join(Tenant, col(Tenant.id) == col(Invitation.tenant_id))
                            .where(Invitation.user_id == user_id).order_by(col(Invitation.created_at))).all()
        return [MyInvitationView(row.id, name, row.role, row.created_at) for row, name in rows]


def _own_invitation(session: Session, user_id: uuid.UUID, invitation_id: object) -> Invitation:
    key = _key(invitation_id, "invitation")
    invitation = session.exec(select(Invitation).where(Invitation.id == key, Invitation.user_id == user_id)
                              .with_for_update()).first()
    if invitation is None:
        raise NotFound("invitation")
    return invitation


def _join(session: Session, invitation: Invitation) -> None:
    session.add(Membership(user_id=invitation.user_id, tenant_id=invitation.tenant_id, role=invitation.role))
    session.delete(invitation)
    audit.record(session, tenant_id=invitation.tenant_id, actor_user_id=invitation.user_id, action="member.accept",
                 target_type="invitation", target_id=invitation.id, details={"role": invitation.role})


def accept_invitation(user_id: uuid.UUID, invitation_id: object, password: object) -> MyInvitationView:
    """The signed-in ``user_id`` joins the tenant, given the password its inviter gave out.

    Wrong passwords raise InvalidInput; after MAX_ACCEPT_FAILURES of them the invitation is void.
    """
    if not isinstance(password, str) or not password or len(password) > 1024:
        raise InvalidInput("password", _WRONG_PASSWORD)
    with session_scope() as session:
        invitation = _own_invitation(session, user_id, invitation_id)
        if not verify_password(invitation.password_hash, password):
            invitation.failed_attempts += 1
            if invitation.failed_attempts >= MAX_ACCEPT_FAILURES:
                session.delete(invitation)
                audit.record(session, tenant_id=invitation.tenant_id, actor_user_id=user_id, action="member.void",
                             target_type="invitation", target_id=invitation.id,
                             details={"reason": "too many wrong passwords"})
            failed = True
        else:
            failed = False
            tenant_name = session.exec(select(Tenant.name).where(Tenant.id == invitation.tenant_id)).one()
            view = MyInvitationView(invitation.id, tenant_name, invitation.role, invitation.created_at)
            _join(session, invitation)
    if failed:  # raised after the commit, so the failure is counted
        raise InvalidInput("password", _WRONG_PASSWORD)
    return view


def decline_invitation(user_id: uuid.UUID, invitation_id: object) -> MyInvitationView:
    with session_scope() as session:
        invitation = _own_invitation(session, user_id, invitation_id)
        tenant_name = session.exec(select(Tenant.name).where(Tenant.id == invitation.tenant_id)).one()
        session.delete(invitation)
        audit.record(session, tenant_id=invitation.tenant_id, actor_user_id=user_id, action="member.decline",
                     target_type="invitation", target_id=invitation.id, details={"role": invitation.role})
        return MyInvitationView(invitation.id, tenant_name, invitation.role, invitation.created_at)


def accept_on_first_sign_in(session: Session, user_id: uuid.UUID) -> None:
    """The invitation that created this account is accepted by its first sign-in (with that very password).

    Called by ``sessions.authenticate`` once the password is verified, in the same transaction.
    """
    for invitation in session.exec(select(Invitation).where(Invitation.user_id == user_id,
                                                            col(Invitation.new_account).is_(True))
                                   .with_for_update()).all():
        _join(session, invitation)
    session.flush()



def join_by_verified_email(session: Session, email: str, tenant_id: uuid.UUID) -> uuid.UUID | None:
    """Sign in with Microsoft's first sign-in: the user whose pending invitation to ``tenant_id`` was sent to this
    (verified) email joins the tenant; their id, or None when no such invitation is pending."""
    if not email:
        return None
    invitation = session.exec(select(Invitation).join(User, col(User.id) == col(Invitation.user_id)).where(
        User.email == validation.email_key(email)[:254], Invitation.tenant_id == tenant_id,
        col(User.disabled).is_(False)).with_for_update(of=Invitation)).first()
    if invitation is None:
        return None
    user_id = invitation.user_id
    _join(session, invitation)
    session.flush()
    return user_id
