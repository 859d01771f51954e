"""Sign in with Microsoft, the owners' side (DB-only; the web tier and the CLI call it): the suite tenant's
sign-in app (home Entra tenant, client id, client secret or certificate, sealed like connection credentials and
kept apart from the customer connections), and the "SSO required" policy with its named break-glass owner.

``password_refused`` is what the password login asks after a right password: members of a tenant that requires
SSO are refused, except that tenant's break-glass owner.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlmodel import Session, col, select

from atlas_services import audit, credential_input, validation
from atlas_services.authz import Actor, Capability, requires
from atlas_services.credentials import seal_sso_credential
from atlas_services.db import session_scope
from atlas_services.errors import AtlasError, InvalidInput
from atlas_services.models import Cloud, Membership, Role, User, utcnow
from atlas_services.models.sso import SsoConfig
from atlas_services.secrets import SecretValue


class SsoRequired(AtlasError):
    """A right password, but a tenant of the user requires Sign in with Microsoft (reason code sso.required)."""

    def __init__(self) -> None:
        super().__init__("This workspace requires Sign in with Microsoft")


@dataclass(frozen=True)
class SsoSettingsView:
    configured: bool
    cloud: str = ""
    entra_tenant_id: str = ""
    client_id: str = ""
    kind: str = ""
    hint: str = ""  # the secret's last 4 characters or the certificate's thumbprint, never the secret
    sso_required: bool = False
    break_glass_email: str = ""


def _view(session: Session, row: SsoConfig | None) -> SsoSettingsView:
    if row is None:
        return SsoSettingsView(configured=False)
    email = ""
    if row.break_glass_user_id is not None:
        email = session.exec(select(User.email).where(User.id == row.break_glass_user_id)).first() or ""
    return SsoSettingsView(configured=True, cloud=row.cloud, entra_tenant_id=row.entra_tenant_id,
                           client_id=row.client_id, kind=row.kind, hint=row.hint, sso_required=row.sso_required,
                           break_glass_email=email)


@requires(Capability.TENANT_MANAGE)
def settings(actor: Actor) -> SsoSettingsView:
    with session_scope() as session:
        return _view(session, session.get(SsoConfig, actor.tenant_id))


def _cloud(value: object) -> str:
    try:
        return Cloud(str(value)).value
    except ValueError:
        raise InvalidInput("cloud", "Choose a Microsoft cloud") from None


@requires(Capability.TENANT_MANAGE)
def configure(actor: Actor, *, cloud: object, entra_tenant_id: object, client_id: object,
              client_secret: object = None, certificate_pem: object = None) -> SsoSettingsView:
    """Set (or replace) the sign-in app. Exactly one of a client secret or a PEM bundle (certificate + key)."""
    clean_cloud = _cloud(cloud)
    tenant_guid = str(validation.guid("entra_tenant_id", entra_tenant_id, "Entra tenant id"))
    client_guid = str(validation.guid("client_id", client_id, "Client id"))
    given_secret = isinstance(client_secret, str) and client_secret.strip() != ""
    given_pem = isinstance(certificate_pem, str) and certificate_pem.strip() != ""
    if given_secret == given_pem:
        raise InvalidInput("client_secret", "Give either a client secret or a certificate (PEM), not both")
    if given_secret:
        prepared = credential_input.prepare(credential_input.ClientSecretInput(SecretValue(str(client_secret))))
    else:
        prepared = credential_input.prepare(credential_input.CertificateInput(pem=SecretValue(str(certificate_pem))))
    sealed = seal_sso_credential(prepared.material, tenant_id=actor.tenant_id)
    with session_scope() as session:
        row = session.get(SsoConfig, actor.tenant_id, with_for_update=True)
        if row is None:
            row = SsoConfig(tenant_id=actor.tenant_id, cloud=clean_cloud, entra_tenant_id=tenant_guid,
                            client_id=client_guid, kind=prepared.kind.value, ciphertext=sealed.ciphertext,
                            nonce=sealed.nonce, key_id=sealed.key_id)
            session.add(row)
        row.cloud, row.entra_tenant_id, row.client_id = clean_cloud, tenant_guid, client_guid
        row.kind, row.hint = prepared.kind.value, prepared.thumbprint or prepared.hint
        row.ciphertext, row.nonce, row.key_id = sealed.ciphertext, sealed.nonce, sealed.key_id
        row.updated_at, row.updated_by = utcnow(), actor.user_id
        audit.record(session, tenant_id=actor.tenant_id, actor_user_id=actor.user_id, action="sso.configured",
                     target_type="tenant", target_id=actor.tenant_id,
                     details={"cloud": clean_cloud, "entra_tenant_id": tenant_guid, "client_id": client_guid,
                              "kind": prepared.kind.value})
        session.flush()
        return _view(session, row)


@requires(Capability.TENANT_MANAGE)
def require(actor: Actor, required: object, break_glass_email: object = "") -> SsoSettingsView:
    """Turn "SSO required" on (naming the break-glass owner whose password keeps working) or off."""
    if not isinstance(required, bool):
        raise InvalidInput("required", "Choose on or off")
    with session_scope() as session:
        row = session.get(SsoConfig, actor.tenant_id, with_for_update=True)
        if row is None and not required:
            return _view(session, None)  # nothing to turn off
        if row is None:
            raise InvalidInput("required", "Configure Sign in with Microsoft first")
        glass: uuid.UUID | None = None
        if required:
            email = validation.email(break_glass_email)
            glass = session.exec(select(User.id).join(Membership, col(Membership.user_id) == col(User.id)).where(
                User.email == validation.email_key(email), Membership.tenant_id == actor.tenant_id,
                Membership.role == Role.OWNER.value)).first()
            if glass is None:
                raise InvalidInput("break_glass_email", "Name an owner of this workspace as the break-glass account")
        row.sso_required, row.break_glass_user_id = required, glass
        row.updated_at, row.updated_by = utcnow(), actor.user_id
        audit.record(session, tenant_id=actor.tenant_id, actor_user_id=actor.user_id, action="sso.policy_changed",
                     target_type="tenant", target_id=actor.tenant_id,
                     details={"sso_required": required, "break_glass_user_id": str(glass) if glass else None})
        session.flush()
        return _view(session, row)


@requires(Capability.TENANT_MANAGE)
def clear(actor: Actor) -> None:
    """Remove the sign-in app (and with it the SSO requirement); linked identities stay for a later setup.
    Removing what is not there is no error."""
    with session_scope() as session:
        row = session.get(SsoConfig, actor.tenant_id, with_for_update=True)
        if row is None:
            return
        session.delete(row)
        audit.record(session, tenant_id=actor.tenant_id, actor_user_id=actor.user_id, action="sso.cleared",
                     target_type="tenant", target_id=actor.tenant_id, details={})


def password_refused(session: Session, user_id: uuid.UUID) -> bool:
    """True when a tenant this user belongs to requires SSO and the user is not that tenant's break-glass owner
    (a password session could otherwise switch into that tenant)."""
    rows = session.exec(select(SsoConfig.break_glass_user_id).join(
        Membership, col(Membership.tenant_id) == col(SsoConfig.tenant_id)).where(
        Membership.user_id == user_id, col(SsoConfig.sso_required).is_(True))).all()
    return any(glass != user_id for glass in rows)
