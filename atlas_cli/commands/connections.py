"""`atlas connection`: the tenant's Microsoft provider connections and their credentials."""

from __future__ import annotations

from typing import Annotated

import typer

from atlas_cli.commands.base import AsEmail, Json, TenantName, acting_as, declares
from atlas_cli.output import emit, guarded, read_secret
from atlas_services.authz import Capability
from atlas_services.connections import create_connection, delete_connection, list_connections, set_default, set_enabled
from atlas_services.credential_input import CredentialInput, CredentialSource, from_fields
from atlas_services.errors import InvalidInput
from atlas_services.onboarding import connection_onboarding
from atlas_services.secrets import SecretValue

connection_app = typer.Typer(no_args_is_help=True, help="Microsoft provider connections.")

SecretFile = Annotated[str | None, typer.Option(help="Read the client secret from this file (else stdin).")]
CertificateFile = Annotated[str | None, typer.Option(help="PEM file with the certificate and its private key.")]
PfxFile = Annotated[str | None, typer.Option(help="PFX (PKCS#12) file with the certificate and its key.")]
PassphraseFile = Annotated[str | None, typer.Option(help="File holding the PFX passphrase.")]
SecretExpires = Annotated[str | None, typer.Option(help="The client secret's expiry date (YYYY-MM-DD).")]
AllowGuidSecret = Annotated[bool, typer.Option(help="Accept a secret shaped like a GUID (usually a Secret ID).")]
ConnectionId = Annotated[str, typer.Argument(help="Connection id (see `atlas connection list`).")]


def _credential_from_options(secret_file: str | None, certificate_file: str | None, pfx_file: str | None,
                             passphrase_file: str | None, secret_expires: str | None,
                             allow_guid_secret: bool) -> CredentialInput:
    """A credential from files or stdin (secrets and keys never travel on the command line), shaped by the same
    ``from_fields`` as the web form."""
    if certificate_file and pfx_file:
        raise InvalidInput("certificate", "give either --certificate-file or --pfx-file, not both")
    if certificate_file:
        return from_fields(CredentialSource.PEM, pem=SecretValue(read_secret(certificate_file, "PEM bundle")))
    if pfx_file:
        with open(pfx_file, "rb") as handle:
            pfx = handle.read()
        passphrase = read_secret(passphrase_file, "PFX passphrase").rstrip("\r\n") if passphrase_file else ""
        return from_fields(CredentialSource.PFX, pfx=pfx, passphrase=SecretValue(passphrase))
    return from_fields(CredentialSource.CLIENT_SECRET, secret=SecretValue(read_secret(secret_file, "Client secret")),
                       expires_on=secret_expires or "", allow_guid_shaped=allow_guid_secret)


@connection_app.command("create")
@declares(Capability.PROVIDER_MANAGE)
def connection_create(
    tenant: TenantName,
    actor_email: AsEmail,
    name: Annotated[str, typer.Option(help="Display name, unique in the tenant.")],
    entra_tenant_id: Annotated[str, typer.Option(help="The customer's Entra tenant id (GUID).")],
    client_id: Annotated[str, typer.Option(help="The app registration's client id (GUID).")],
    cloud: Annotated[str, typer.Option(help="global, usgov, usgov_dod, china or simulator.")] = "global",
    default: Annotated[bool | None, typer.Option("--default/--no-default", help="Make it the default.")] = None,
    secret_file: SecretFile = None,
    certificate_file: CertificateFile = None,
    pfx_file: PfxFile = None,
    passphrase_file: PassphraseFile = None,
    secret_expires: SecretExpires = None,
    allow_guid_secret: AllowGuidSecret = False,
    as_json: Json = False,
) -> None:
    """Create a connection with a client secret (stdin or --secret-file) or a certificate (PEM or PFX file)."""
    with guarded(as_json):
        actor = acting_as(tenant, actor_email)
        credential = _credential_from_options(secret_file, certificate_file, pfx_file, passphrase_file,
                                              secret_expires, allow_guid_secret)
        view = create_connection(actor, name=name, entra_tenant_id=entra_tenant_id, client_id=client_id,
                                 credential=credential, cloud=cloud, make_default=default)
        lines = [f"created connection {view.name} ({view.id})" + (" [default]" if view.is_default else "")]
        lines += [f"notice: {notice}" for notice in view.notices]
        emit(as_json, {"connection": view}, "\n".join(lines))


@connection_app.command("set-default")
@declares(Capability.PROVIDER_MANAGE)
def connection_set_default(connection_id: ConnectionId, tenant: TenantName, actor_email: AsEmail,
                           as_json: Json = False) -> None:
    """Make a connection the tenant's default."""
    with guarded(as_json):
        view = set_default(acting_as(tenant, actor_email), connection_id)
        emit(as_json, {"connection": view}, f"{view.name} is now the default connection")


@connection_app.command("disable")
@declares(Capability.PROVIDER_MANAGE)
def connection_disable(connection_id: ConnectionId, tenant: TenantName, actor_email: AsEmail,
                       as_json: Json = False) -> None:
    """Disable a connection: no new runs start on it."""
    _set_enabled(connection_id, tenant, actor_email, False, as_json)


@connection_app.command("enable")
@declares(Capability.PROVIDER_MANAGE)
def connection_enable(connection_id: ConnectionId, tenant: TenantName, actor_email: AsEmail,
                      as_json: Json = False) -> None:
    """Enable a disabled connection."""
    _set_enabled(connection_id, tenant, actor_email, True, as_json)


def _set_enabled(connection_id: str, tenant: str, actor_email: str, enabled: bool, as_json: bool) -> None:
    with guarded(as_json):
        view = set_enabled(acting_as(tenant, actor_email), connection_id, enabled)
        emit(as_json, {"connection": view}, f"{view.name} is {'enabled' if enabled else 'disabled'}")


@connection_app.command("delete")
@declares(Capability.PROVIDER_MANAGE)
def connection_delete(connection_id: ConnectionId, tenant: TenantName, actor_email: AsEmail,
                      as_json: Json = False) -> None:
    """Delete a connection: its credentials are destroyed, its run history is kept."""
    with guarded(as_json):
        delete_connection(acting_as(tenant, actor_email), connection_id)
        emit(as_json, {"deleted": connection_id}, f"deleted connection {connection_id}")


@connection_app.command("rotate-credential")
@declares(Capability.PROVIDER_MANAGE)
def connection_rotate_credential(
    connection_id: ConnectionId,
    tenant: TenantName,
    actor_email: AsEmail,
    secret_file: SecretFile = None,
    certificate_file: CertificateFile = None,
    pfx_file: PfxFile = None,
    passphrase_file: PassphraseFile = None,
    secret_expires: SecretExpires = None,
    allow_guid_secret: AllowGuidSecret = False,
    as_json: Json = False,
) -> None:
    """Add a new credential and verify it with a health check; the old one stays active unless it passes."""
    # Lazy: importing atlas_jobs builds the queue from the settings (and warns about development keys), which
    # only commands that enqueue should do.
    from atlas_jobs.dispatch import rotate_credential

    with guarded(as_json):
        credential = _credential_from_options(secret_file, certificate_file, pfx_file, passphrase_file,
                                              secret_expires, allow_guid_secret)
        started = rotate_credential(acting_as(tenant, actor_email), connection_id, credential)
        lines = [f"verifying the new credential in run {started.run_id}; it replaces the current one only "
                 "if the check succeeds (see `atlas op show`)"] + [f"notice: {n}" for n in started.notices]
        emit(as_json, {"credential_id": started.credential_id, "run_id": started.run_id}, "\n".join(lines))


@connection_app.command("list")
@declares(Capability.PROVIDER_VIEW)
def connection_list(tenant: TenantName, actor_email: AsEmail, as_json: Json = False) -> None:
    """List the tenant's connections."""
    with guarded(as_json):
        views = list_connections(acting_as(tenant, actor_email))
        lines = [f"{v.id}  {v.name}{' [default]' if v.is_default else ''}  {v.cloud}  {v.health_status}"
                 for v in views] or ["no connections yet: create one with `atlas connection create`"]
        emit(as_json, {"connections": views}, "\n".join(lines))


@connection_app.command("consent-url")
@declares(Capability.PROVIDER_VIEW)
def connection_consent_url(connection_id: ConnectionId, tenant: TenantName, actor_email: AsEmail,
                           as_json: Json = False) -> None:
    """The admin-consent URL for the connection's cloud and tenant, and the Graph application permissions each
    capability needs as a requiredResourceAccess manifest fragment (paste it into the app registration's manifest,
    then open the URL as an admin of the customer tenant)."""
    with guarded(as_json):
        view = connection_onboarding(acting_as(tenant, actor_email), connection_id)
        lines = [f"admin consent: {view.consent_url}", "", "permissions (application, Microsoft Graph):"]
        lines += [f"  {need.capability_label}: {need.permission} ({need.role_id})"
                  + ("" if need.required else " [recommended]") for need in view.needs]
        lines += ["", "requiredResourceAccess (every capability):", view.manifest]
        emit(as_json, view.as_dict(), "\n".join(lines))
