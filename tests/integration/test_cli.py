"""The `atlas` console script, run as a real process against the test database."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import select

from atlas_services import sessions
from atlas_services.db import session_scope
from atlas_services.models import ProviderConnection, Tenant, User
from tests.support.processes import run_cli

TENANT_GUID = "11111111-2222-3333-4444-555555555555"
CLIENT_GUID = "66666666-7777-8888-9999-000000000000"


def _setup_owner() -> None:
    assert run_cli("tenant", "create", "Acme").returncode == 0
    created = run_cli("user", "create", "--email", "owner@acme.test", "--tenant", "Acme", "--role", "owner",
                      stdin="correct horse battery\n")
    assert created.returncode == 0, created.stderr


def _connection_args(**overrides: str) -> list[str]:
    values = {"--name": "Contoso", "--entra-tenant-id": TENANT_GUID, "--client-id": CLIENT_GUID,
              "--cloud": "simulator"}
    values.update(overrides)
    args = ["connection", "create", "--tenant", "Acme", "--as", "owner@acme.test"]
    for key, value in values.items():
        args += [key, value]
    return args


def _connection_count() -> int:
    with session_scope() as session:
        return int(session.exec(select(func.count()).select_from(ProviderConnection)).one())


def test_create_and_list_connections_with_json_output(db: None) -> None:
    _setup_owner()
    created = run_cli(*_connection_args(), "--json", stdin="the-secret-value\n")
    assert created.returncode == 0, created.stderr
    payload = json.loads(created.stdout)
    assert payload["connection"]["name"] == "Contoso" and payload["connection"]["is_default"] is True
    assert "the-secret-value" not in created.stdout + created.stderr
    listed = json.loads(run_cli("connection", "list", "--tenant", "Acme", "--as", "owner@acme.test",
                                "--json").stdout)
    assert [c["name"] for c in listed["connections"]] == ["Contoso"]


@pytest.mark.parametrize(("overrides", "stdin", "message"), [
    ({"--entra-tenant-id": "contoso.onmicrosoft.com"}, "secret", "Entra tenant id must be a GUID"),
    ({"--client-id": "12345"}, "secret", "Client id must be a GUID"),
    ({}, "   \n", "client secret is required"),
    ({}, "", "client secret is required"),
    # The same words as the web form: both go through credential_input.from_fields.
    ({"--secret-expires": "next tuesday"}, "secret", "Enter the expiry as a date (YYYY-MM-DD)"),
])
def test_bad_connection_input_gives_one_line_and_writes_nothing(
        db: None, overrides: dict[str, str], stdin: str, message: str) -> None:
    _setup_owner()
    result = run_cli(*_connection_args(**overrides), stdin=stdin)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and message in line
    assert _connection_count() == 0


def test_duplicate_connection_name_is_refused(db: None) -> None:
    _setup_owner()
    assert run_cli(*_connection_args(), stdin="secret-one").returncode == 0
    duplicate = run_cli(*_connection_args(), stdin="secret-two")
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr
    assert _connection_count() == 1


def test_unknown_tenant_and_unknown_user_are_clear_errors(db: None) -> None:
    _setup_owner()
    no_tenant = run_cli("connection", "list", "--tenant", "Nope", "--as", "owner@acme.test")
    no_user = run_cli("connection", "list", "--tenant", "Acme", "--as", "ghost@acme.test")
    assert no_tenant.returncode == 1 and no_tenant.stderr.strip() == "error: tenant 'Nope' not found"
    assert no_user.returncode == 1 and "user 'ghost@acme.test' in tenant 'Acme' not found" in no_user.stderr
    bad_user = run_cli("user", "create", "--email", "x@acme.test", "--tenant", "Nope", "--role", "owner",
                       stdin="long enough password")
    assert bad_user.returncode == 1 and "tenant 'Nope' not found" in bad_user.stderr
    with session_scope() as session:
        assert session.exec(select(func.count()).select_from(User)).one() == 1
        assert session.exec(select(func.count()).select_from(Tenant)).one() == 1


def test_op_start_prints_outcome_and_run_id_and_dedupes(db: None, huey_queue: object) -> None:
    _setup_owner()
    assert run_cli(*_connection_args(), stdin="secret").returncode == 0
    first = json.loads(run_cli("op", "start", "health_check", "--tenant", "Acme", "--as", "owner@acme.test",
                               "--json").stdout)
    second = json.loads(run_cli("op", "start", "health_check", "--tenant", "Acme", "--as", "owner@acme.test",
                                "--json").stdout)
    assert first["outcome"] == "started" and first["active_run_id"] is None
    assert second == {"outcome": "deduplicated", "run_id": first["run_id"], "active_run_id": first["run_id"]}
    shown = json.loads(run_cli("op", "show", first["run_id"], "--tenant", "Acme", "--as", "owner@acme.test",
                               "--json").stdout)
    assert shown["run"]["status"] == "queued" and shown["run"]["op_type"] == "health_check"


def test_op_start_errors_exit_non_zero_with_a_reason(db: None) -> None:
    _setup_owner()
    no_default = run_cli("op", "start", "health_check", "--tenant", "Acme", "--as", "owner@acme.test")
    assert no_default.returncode == 1 and no_default.stderr.startswith("error: connection.no_default:")
    unknown = run_cli("op", "start", "defrag", "--tenant", "Acme", "--as", "owner@acme.test")
    assert unknown.returncode == 1 and "unknown operation type" in unknown.stderr


def test_missing_database_or_redis_is_one_clear_line(db: None) -> None:
    down_db = run_cli("connection", "list", "--tenant", "Acme", "--as", "owner@acme.test",
                      env={"ATLAS_DATABASE_URL": "postgresql://atlas:pw@127.0.0.1:1/atlas"})
    assert down_db.returncode == 1
    assert down_db.stderr.strip() == "error: cannot connect to the database at postgresql+psycopg://atlas:***@127.0.0.1:1/atlas"
    down_redis = run_cli("worker", env={"ATLAS_REDIS_URL": "redis://127.0.0.1:1/0"})
    assert down_redis.returncode == 1
    assert down_redis.stderr.strip().splitlines()[-1] == "error: cannot connect to Redis at redis://127.0.0.1:1/0"


def test_connection_lifecycle_commands(db: None, tmp_path: Any) -> None:
    _setup_owner()
    created = json.loads(run_cli(*_connection_args(), "--json", stdin="first-secret").stdout)["connection"]
    second = json.loads(run_cli(*_connection_args(**{"--name": "Second"}), "--json",
                                stdin="second-secret").stdout)["connection"]
    owner = ["--tenant", "Acme", "--as", "owner@acme.test"]
    assert run_cli("connection", "set-default", second["id"], *owner).stdout.strip() == (
        "Second is now the default connection")
    assert run_cli("connection", "disable", created["id"], *owner).returncode == 0
    disabled = run_cli("op", "start", "health_check", "--connection", created["id"], *owner)
    assert disabled.returncode == 1 and "connection.disabled" in disabled.stderr
    assert run_cli("connection", "enable", created["id"], *owner).returncode == 0
    assert run_cli("connection", "delete", second["id"], *owner).returncode == 0
    listed = json.loads(run_cli("connection", "list", *owner, "--json").stdout)["connections"]
    assert [c["name"] for c in listed] == ["Contoso"]
    pem = tmp_path / "cert.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n")
    bad_cert = run_cli("connection", "rotate-credential", created["id"], *owner, "--certificate-file", str(pem))
    assert bad_cert.returncode == 1 and "No readable certificate" in bad_cert.stderr


def test_keys_status_and_rotate_report_rows_per_key(db: None) -> None:
    _setup_owner()
    assert run_cli(*_connection_args(), stdin="secret-value").returncode == 0
    status = json.loads(run_cli("keys", "status", "--json").stdout)["keys"]
    assert [(k["rows"], k["primary"]) for k in status] == [(1, True)]
    rotated = json.loads(run_cli("keys", "rotate", "--json").stdout)
    assert (rotated["resealed"], rotated["unavailable"]) == (0, 0)


def test_member_and_audit_commands(db: None) -> None:
    _setup_owner()
    owner = ["--tenant", "Acme", "--as", "owner@acme.test"]
    added = run_cli("member", "add", *owner, "--email", "op@acme.test", "--role", "operator", "--json",
                    stdin="long enough password\n")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["invitation"]["email"] == "op@acme.test"
    pending = json.loads(run_cli("member", "list", *owner, "--json").stdout)
    assert [(i["email"], i["role"]) for i in pending["invitations"]] == [("op@acme.test", "operator")]
    assert "op@acme.test" not in {m["email"] for m in pending["members"]}  # nothing granted before acceptance
    sessions.authenticate("op@acme.test", "long enough password")  # a new account's first sign-in accepts
    members = json.loads(run_cli("member", "list", *owner, "--json").stdout)
    assert members["invitations"] == []
    user_id = next(m["user_id"] for m in members["members"] if m["email"] == "op@acme.test")
    assert run_cli("member", "set-role", user_id, *owner, "--role", "readonly").returncode == 0
    members = json.loads(run_cli("member", "list", *owner, "--json").stdout)["members"]
    assert {(m["email"], m["role"]) for m in members} == {("owner@acme.test", "owner"), ("op@acme.test", "readonly")}
    denied = run_cli("member", "list", "--tenant", "Acme", "--as", "op@acme.test")
    assert denied.returncode == 1 and "tenant.manage" in denied.stderr
    events = json.loads(run_cli("audit", "list", *owner, "--json").stdout)["events"]
    assert [e["action"] for e in events] == ["member.role_change", "member.accept", "member.invite"]
    assert run_cli("member", "remove", user_id, *owner).returncode == 0
