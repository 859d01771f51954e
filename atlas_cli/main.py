"""The `atlas` operator CLI: the same use cases as the UI, with the same authorization."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, TypeVar

import typer

from atlas_cli.output import emit, guarded, read_secret
from atlas_services.authz import Actor, Capability
from atlas_services.credential_input import CertificateInput, ClientSecretInput, CredentialInput
from atlas_services.credentials import KeyUsage
from atlas_services.errors import InvalidInput
from atlas_services.secrets import SecretValue

# Pretty tracebacks would print local variables, and locals can hold secrets.
app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Atlas: Microsoft tenant management.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
tenant_app = typer.Typer(no_args_is_help=True, help="Suite tenants.")
user_app = typer.Typer(no_args_is_help=True, help="Users and their memberships.")
connection_app = typer.Typer(no_args_is_help=True, help="Microsoft provider connections.")
op_app = typer.Typer(no_args_is_help=True, help="Operation runs.")
app.add_typer(db_app, name="db")
app.add_typer(tenant_app, name="tenant")
app.add_typer(user_app, name="user")
app.add_typer(connection_app, name="connection")
app.add_typer(op_app, name="op")
keys_app = typer.Typer(no_args_is_help=True, help="Encryption keys that seal credentials.")
app.add_typer(keys_app, name="keys")
member_app = typer.Typer(no_args_is_help=True, help="Members of a suite tenant (needs tenant.manage).")
app.add_typer(member_app, name="member")
audit_app = typer.Typer(no_args_is_help=True, help="The audit log (needs audit.view).")
app.add_typer(audit_app, name="audit")

Json = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
TenantName = Annotated[str, typer.Option("--tenant", help="Suite tenant name.")]
AsEmail = Annotated[str, typer.Option("--as", help="Act as this user (their role applies).")]


F = TypeVar("F", bound=Callable[..., Any])
# Commands that act with the machine's own access (database URL, encryption keys), not as a tenant's user.
SYSTEM = "system"


def declares(capability: Capability | str) -> Callable[[F], F]:
    """Name the capability a command needs (the services enforce it); a registry test checks every command."""

    def mark(command: F) -> F:
        command.__atlas_capability__ = capability  # type: ignore[attr-defined]
        return command

    return mark


def _actor(tenant: str, email: str) -> Actor:
    from atlas_services.db import session_scope
    from atlas_services.directory import actor_for

    with session_scope() as session:
        return actor_for(session, email=email, tenant_name=tenant)


@db_app.command("upgrade")
@declares(SYSTEM)
def db_upgrade(as_json: Json = False) -> None:
    """Apply every Alembic migration to ATLAS_DATABASE_URL."""
    from atlas_services.migrations import upgrade

    with guarded(as_json):
        revision = upgrade()
        emit(as_json, {"revision": revision}, f"database at revision {revision}")


@tenant_app.command("create")
@declares(SYSTEM)
def tenant_create(name: str, as_json: Json = False) -> None:
    """Create a suite tenant."""
    from atlas_services.db import session_scope
    from atlas_services.directory import create_tenant

    with guarded(as_json), session_scope() as session:
        tenant = create_tenant(session, name)
        emit(as_json, {"id": tenant.id, "name": tenant.name}, f"created tenant {tenant.name} ({tenant.id})")


@user_app.command("create")
@declares(SYSTEM)
def user_create(
    email: Annotated[str, typer.Option(help="Sign-in email.")],
    tenant: TenantName,
    role: Annotated[str, typer.Option(help="owner, manager, operator or readonly.")],
    password_file: Annotated[str | None, typer.Option(help="Read the password from this file (else stdin).")] = None,
    as_json: Json = False,
) -> None:
    """Create a user with a role in a tenant; the password comes from stdin or a file."""
    from atlas_services.db import session_scope
    from atlas_services.directory import create_user

    with guarded(as_json):
        password = read_secret(password_file, "Password").rstrip("\r\n")
        with session_scope() as session:
            user = create_user(session, email=email, password=password, tenant_name=tenant, role=role)
            payload = {"id": user.id, "email": user.email, "tenant": tenant, "role": role}
        emit(as_json, payload, f"created user {payload['email']} as {role} in {tenant}")


def _credential_from_options(secret_file: str | None, certificate_file: str | None, pfx_file: str | None,
                             passphrase_file: str | None, secret_expires: str | None,
                             allow_guid_secret: bool) -> CredentialInput:
    """A credential from files or stdin: secrets and keys never travel on the command line."""
    if certificate_file and pfx_file:
        raise InvalidInput("certificate", "give either --certificate-file or --pfx-file, not both")
    if certificate_file:
        return CertificateInput(pem=SecretValue(read_secret(certificate_file, "PEM bundle")))
    if pfx_file:
        with open(pfx_file, "rb") as handle:
            pfx = handle.read()
        passphrase = read_secret(passphrase_file, "PFX passphrase").rstrip("\r\n") if passphrase_file else ""
        return CertificateInput(pfx=pfx, passphrase=SecretValue(passphrase))
    expires = None
    if secret_expires:
        try:
            expires = date.fromisoformat(secret_expires)
        except ValueError:
            raise InvalidInput("expires_on", "--secret-expires must be a date like 2027-06-30") from None
    return ClientSecretInput(SecretValue(read_secret(secret_file, "Client secret")), expires_on=expires,
                             allow_guid_shaped=allow_guid_secret)


SecretFile = Annotated[str | None, typer.Option(help="Read the client secret from this file (else stdin).")]
CertificateFile = Annotated[str | None, typer.Option(help="PEM file with the certificate and its private key.")]
PfxFile = Annotated[str | None, typer.Option(help="PFX (PKCS#12) file with the certificate and its key.")]
PassphraseFile = Annotated[str | None, typer.Option(help="File holding the PFX passphrase.")]
SecretExpires = Annotated[str | None, typer.Option(help="The client secret's expiry date (YYYY-MM-DD).")]
AllowGuidSecret = Annotated[bool, typer.Option(help="Accept a secret shaped like a GUID (usually a Secret ID).")]
ConnectionId = Annotated[str, typer.Argument(help="Connection id (see `atlas connection list`).")]


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
    from atlas_services.connections import create_connection

    with guarded(as_json):
        actor = _actor(tenant, actor_email)
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
    from atlas_services.connections import set_default

    with guarded(as_json):
        view = set_default(_actor(tenant, actor_email), connection_id)
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
    from atlas_services.connections import set_enabled

    with guarded(as_json):
        view = set_enabled(_actor(tenant, actor_email), connection_id, enabled)
        emit(as_json, {"connection": view}, f"{view.name} is {'enabled' if enabled else 'disabled'}")


@connection_app.command("delete")
@declares(Capability.PROVIDER_MANAGE)
def connection_delete(connection_id: ConnectionId, tenant: TenantName, actor_email: AsEmail,
                      as_json: Json = False) -> None:
    """Delete a connection: its credentials are destroyed, its run history is kept."""
    from atlas_services.connections import delete_connection

    with guarded(as_json):
        delete_connection(_actor(tenant, actor_email), connection_id)
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
    from atlas_jobs.dispatch import rotate_credential

    with guarded(as_json):
        credential = _credential_from_options(secret_file, certificate_file, pfx_file, passphrase_file,
                                              secret_expires, allow_guid_secret)
        started = rotate_credential(_actor(tenant, actor_email), connection_id, credential)
        lines = [f"verifying the new credential in run {started.run_id}; it replaces the current one only "
                 "if the check succeeds (see `atlas op show`)"] + [f"notice: {n}" for n in started.notices]
        emit(as_json, {"credential_id": started.credential_id, "run_id": started.run_id}, "\n".join(lines))


@connection_app.command("list")
@declares(Capability.PROVIDER_VIEW)
def connection_list(tenant: TenantName, actor_email: AsEmail, as_json: Json = False) -> None:
    """List the tenant's connections."""
    from atlas_services.connections import list_connections

    with guarded(as_json):
        views = list_connections(_actor(tenant, actor_email))
        lines = [f"{v.id}  {v.name}{' [default]' if v.is_default else ''}  {v.cloud}  {v.health_status}"
                 for v in views] or ["no connections yet: create one with `atlas connection create`"]
        emit(as_json, {"connections": views}, "\n".join(lines))


@op_app.command("start")
@declares(Capability.PROVIDER_RUN)
def op_start(
    op_type: Annotated[str, typer.Argument(help="health_check, inventory_sync, compliance_snapshot, ...")],
    tenant: TenantName,
    actor_email: AsEmail,
    connection: Annotated[str | None, typer.Option(help="Connection id (default: the tenant's default).")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the run finishes.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait with --wait.")] = 120.0,
    as_json: Json = False,
) -> None:
    """Start an operation run (or find the active one on its scope)."""
    from atlas_jobs.dispatch import start_operation
    from atlas_services.runs.queries import get_run

    with guarded(as_json):
        actor = _actor(tenant, actor_email)
        result = start_operation(actor, op_type, connection)
        payload: dict[str, object] = {"outcome": result.outcome, "run_id": result.run_id,
                                      "active_run_id": result.active_run_id}
        if wait:
            deadline = time.monotonic() + timeout
            run = get_run(actor, result.run_id)
            while run.status in ("queued", "running") and time.monotonic() < deadline:
                time.sleep(0.5)
                run = get_run(actor, result.run_id)
            payload.update(status=run.status, reason_code=run.reason_code)
        text = f"{result.outcome}: run {result.run_id}"
        if result.outcome == "scope_busy":
            text += f" (another operation is active on this scope: {result.active_run_id})"
        if wait:
            text += f" -> {payload['status']}" + (f" ({payload['reason_code']})" if payload["reason_code"] else "")
        emit(as_json, payload, text)


@op_app.command("show")
@declares(Capability.PROVIDER_VIEW)
def op_show(run_id: str, tenant: TenantName, actor_email: AsEmail, as_json: Json = False) -> None:
    """Show one run."""
    from atlas_services.runs.queries import get_run

    with guarded(as_json):
        run = get_run(_actor(tenant, actor_email), run_id)
        text = f"{run.id}  {run.op_type}  {run.status}  on {run.connection_name}"
        if run.reason_code:
            text += f"\n  {run.reason_code}: {run.message}\n  fix: {run.remediation}"
        emit(as_json, {"run": run}, text)


@member_app.command("list")
@declares(Capability.TENANT_MANAGE)
def member_list(tenant: TenantName, actor_email: AsEmail, as_json: Json = False) -> None:
    """List the tenant's members and their roles."""
    from atlas_services.members import list_members

    with guarded(as_json):
        members = list_members(_actor(tenant, actor_email))
        emit(as_json, {"members": members}, "\n".join(f"{m.user_id}  {m.email}  {m.role}" for m in members))


@member_app.command("add")
@declares(Capability.TENANT_MANAGE)
def member_add(
    tenant: TenantName, actor_email: AsEmail,
    email: Annotated[str, typer.Option(help="The member's sign-in email.")],
    role: Annotated[str, typer.Option(help="owner, manager, operator or readonly.")],
    password_file: Annotated[str | None, typer.Option(help="Initial password for a new user (else stdin).")]
    = None,
    as_json: Json = False,
) -> None:
    """Add a user to the tenant (a new user gets the initial password from stdin or a file)."""
    from atlas_services.members import add_member

    with guarded(as_json):
        actor = _actor(tenant, actor_email)
        password = None
        if password_file or not sys.stdin.isatty():  # an existing user needs none: don't prompt
            password = read_secret(password_file, "Initial password").rstrip("\r\n") or None
        member = add_member(actor, email=email, role=role, password=password)
        emit(as_json, {"member": member}, f"{member.email} is now {member.role} in {tenant}")


@member_app.command("set-role")
@declares(Capability.TENANT_MANAGE)
def member_set_role(user_id: str, tenant: TenantName, actor_email: AsEmail,
                    role: Annotated[str, typer.Option(help="The new role.")], as_json: Json = False) -> None:
    """Change a member's role."""
    from atlas_services.members import change_role

    with guarded(as_json):
        member = change_role(_actor(tenant, actor_email), user_id, role)
        emit(as_json, {"member": member}, f"{member.email} is now {member.role}")


@member_app.command("remove")
@declares(Capability.TENANT_MANAGE)
def member_remove(user_id: str, tenant: TenantName, actor_email: AsEmail, as_json: Json = False) -> None:
    """Remove a member; their sessions in this tenant end at once."""
    from atlas_services.members import remove_member

    with guarded(as_json):
        remove_member(_actor(tenant, actor_email), user_id)
        emit(as_json, {"removed": user_id}, f"removed {user_id}")


@audit_app.command("list")
@declares(Capability.AUDIT_VIEW)
def audit_list(tenant: TenantName, actor_email: AsEmail,
               limit: Annotated[int, typer.Option(min=1, max=500)] = 50, as_json: Json = False) -> None:
    """The newest audit events of the tenant."""
    from atlas_services.audit import list_events

    with guarded(as_json):
        events = list_events(_actor(tenant, actor_email), limit=limit)
        lines = [f"{e.at:%Y-%m-%d %H:%M:%S}  {e.actor_email or '-'}  {e.action}  {e.target_type} {e.target_id or ''}"
                 for e in events] or ["no audit events yet"]
        emit(as_json, {"events": events}, "\n".join(lines))


@keys_app.command("status")
@declares(SYSTEM)
def keys_status(as_json: Json = False) -> None:
    """How many credentials each encryption key seals."""
    from atlas_services.credentials import key_usage

    with guarded(as_json):
        usage = key_usage()
        emit(as_json, {"keys": usage}, "\n".join(_usage_line(u) for u in usage))


def _usage_line(usage: KeyUsage) -> str:
    role = "primary" if usage.primary else ("configured" if usage.configured else "NOT CONFIGURED")
    advice = ""
    if not usage.primary:
        advice = ("  safe to remove from ATLAS_ENCRYPTION_KEYS" if usage.rows == 0
                  else f"  still used by {usage.rows} row(s): run `atlas keys rotate` before removing it")
    return f"{usage.key_id}: {usage.rows} credential(s), {role}{advice}"


@keys_app.command("rotate")
@declares(SYSTEM)
def keys_rotate(batch_size: Annotated[int, typer.Option(min=1, max=10_000)] = 200, as_json: Json = False) -> None:
    """Re-seal every credential under the primary key (batched and resumable)."""
    from rich.progress import Progress

    from atlas_services.credentials import key_usage, reseal_all

    with guarded(as_json):
        with Progress(disable=as_json, transient=True) as progress:
            task = progress.add_task("re-sealing credentials", total=None)
            report = reseal_all(batch_size, on_batch=lambda done, total: progress.update(
                task, completed=done, total=total))
        usage = key_usage()
        lines = [f"re-sealed {report.resealed} credential(s) under the primary key"]
        if report.unavailable:
            lines.append(f"{report.unavailable} credential(s) could not be opened (their key is not configured); "
                         "rotate those connections' credentials")
        lines += [_usage_line(u) for u in usage]
        emit(as_json, {"resealed": report.resealed, "unavailable": report.unavailable, "keys": usage},
             "\n".join(lines))


@app.command("worker")
@declares(SYSTEM)
def worker(workers: Annotated[int, typer.Option(help="Worker threads.")] = 2) -> None:
    """Run the job consumer."""
    from atlas_cli.services import run_worker

    with guarded(False):
        run_worker(workers)


@app.command("web")
@declares(SYSTEM)
def web() -> None:
    """Serve the web UI (frontend and backend on one port)."""
    from atlas_cli.services import run_web

    with guarded(False):
        raise typer.Exit(run_web())


@app.command("simulator")
@declares(SYSTEM)
def simulator(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8765,
    scenario: Annotated[str | None, typer.Option(help="Scenario YAML (default: the demo).")] = None,
) -> None:
    """Serve the Microsoft cloud simulator."""
    from atlas_sim.server import serve

    serve("127.0.0.1", port, scenario)


@app.command("demo")
@declares(SYSTEM)
def demo(as_json: Json = False) -> None:
    """Seed (idempotently) a demo tenant, a user per role and connections against the simulator."""
    from atlas_cli.demo import seed_demo

    with guarded(as_json):
        made = seed_demo()
        lines = [f"tenant {t['name']}" for t in made["tenants"]]
        lines += [f"user {u['email']} ({u['role']}) password {u['password']}" for u in made["users"]]
        lines += [f"connection {c['name']}{' [default]' if c['default'] else ''}" for c in made["connections"]]
        emit(as_json, made, "\n".join(lines))


@app.command("run")
@declares(SYSTEM)
def run() -> None:
    """Run everything on this machine: database, simulator, worker and web UI, with demo data."""
    from atlas_cli.services import run_all

    with guarded(False):
        raise typer.Exit(run_all())


def main() -> None:
    app()


if __name__ == "__main__":
    main()
