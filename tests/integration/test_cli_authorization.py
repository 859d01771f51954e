"""Every CLI command declares its capability, and acting as each role gets exactly what the role table allows.

Commands run in-process (typer's runner) against the test database; another tenant's ids are answered
exactly like random ids.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from atlas_cli.commands.base import SYSTEM
from atlas_cli.main import app
from atlas_services.authz import ROLE_CAPABILITIES, Capability
from atlas_services.config import get_settings
from atlas_services.invitations import invite_member
from atlas_services.models import Role
from atlas_services.runs.start import start_operation
from tests.support.factories import create_connection, join_tenant, make_actor

runner = CliRunner()


def _commands(group: Any = None, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    group = group or get_command(app)
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _commands(command, (*prefix, name))
        else:
            yield (*prefix, name), command.callback


def test_every_cli_command_declares_a_capability() -> None:
    undeclared = [" ".join(path) for path, callback in _commands()
                  if getattr(callback, "__atlas_capability__", None) not in {*Capability, SYSTEM}]
    assert undeclared == []


@pytest.fixture
def world(db: None, huey_queue: Any) -> dict[str, Any]:
    owner = make_actor("owner")
    actors = {role: make_actor(role.value, tenant_name=owner.tenant_name) for role in Role if role != Role.OWNER}
    actors[Role.OWNER] = owner
    connection = create_connection(owner, name="Contoso", secret="secret-value-1")
    spare = create_connection(owner, name="Spare", secret="secret-value-2")
    run = start_operation(owner, "health_check", connection.id, enqueue=lambda run_id: None)
    member = join_tenant(owner, email=f"m-{uuid.uuid4().hex[:6]}@example.test", role="readonly",
                        password="long enough pw")
    foreign_owner = make_actor("owner")
    foreign = create_connection(foreign_owner, name="Foreign", secret="secret-value-3")
    return {"actors": actors, "tenant": owner.tenant_name, "connection": str(connection.id),
            "spare": str(spare.id), "run": str(run.run_id), "member": str(member.user_id),
            "foreign_connection": str(foreign.id),
            "invitation": str(invite_member(owner, email=f"i-{uuid.uuid4().hex[:6]}@example.test", role="readonly",
                                            password="long enough pw").id)}


# command path -> (arguments after the path, stdin) built from the world
CASES: dict[tuple[str, ...], Callable[[dict[str, Any]], tuple[list[str], str | None]]] = {
    ("connection", "list"): lambda w: ([], None),
    ("connection", "create"): lambda w: (["--name", "New", "--entra-tenant-id", str(uuid.uuid4()), "--client-id",
                                          str(uuid.uuid4()), "--cloud", "simulator"], "another-secret"),
    ("connection", "set-default"): lambda w: ([w["spare"]], None),
    ("connection", "disable"): lambda w: ([w["spare"]], None),
    ("connection", "enable"): lambda w: ([w["spare"]], None),
    ("connection", "delete"): lambda w: ([w["spare"]], None),
    ("connection", "rotate-credential"): lambda w: ([w["spare"]], "rotated-secret-value"),
    ("connection", "consent-url"): lambda w: ([w["spare"]], None),
    ("op", "start"): lambda w: (["health_check", "--connection", w["spare"]], None),
    ("op", "show"): lambda w: ([w["run"]], None),
    ("member", "list"): lambda w: ([], None),
    ("member", "add"): lambda w: (["--email", f"n-{uuid.uuid4().hex[:6]}@example.test", "--role", "readonly"],
                                  "long enough pw"),
    ("member", "set-role"): lambda w: ([w["member"], "--role", "operator"], None),
    ("member", "remove"): lambda w: ([w["member"]], None),
    ("member", "revoke"): lambda w: ([w["invitation"]], None),
    ("audit", "list"): lambda w: ([], None),
    ("audit", "export"): lambda w: (["--format", "csv"], None),
    ("op", "export"): lambda w: (["--format", "json", "--connection", w["spare"]], None),
    ("inventory", "export"): lambda w: ([w["spare"], "--format", "csv"], None),
    ("alerts", "set"): lambda w: (["--kind", "slack"], "https://hooks.example.test/services/T0/B0/TOKEN"),
    ("alerts", "show"): lambda w: ([], None),
    ("alerts", "clear"): lambda w: ([], None),
    ("alerts", "list"): lambda w: ([], None),
    ("schedule", "set"): lambda w: ([w["spare"], "health_check", "--every", "2h"], None),
    ("schedule", "list"): lambda w: ([], None),
    ("schedule", "clear"): lambda w: ([w["spare"], "health_check"], None),
    ("schedule", "defaults"): lambda w: ([], None),
    ("schedule", "default-set"): lambda w: (["inventory_sync", "--daily", "03:00", "--tz", "Europe/Berlin"], None),
    ("schedule", "default-reset"): lambda w: (["inventory_sync"], None),
    ("mfa", "policy", "show"): lambda w: ([], None),
    ("mfa", "policy", "set"): lambda w: (["on"], None),
    ("mfa", "reset"): lambda w: ([w["member"]], None),
    ("sso", "show"): lambda w: ([], None),
    ("sso", "set"): lambda w: (["--entra-tenant-id", str(uuid.uuid4()), "--client-id", str(uuid.uuid4()),
                                "--cloud", "simulator"], "sign-in-app-secret-value"),
    ("sso", "require"): lambda w: (["off"], None),
    ("sso", "clear"): lambda w: ([], None),
}


@pytest.fixture(autouse=True)
def _alert_hosts(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`alerts set` needs its host on the allow-list."""
    monkeypatch.setenv("ATLAS_ALERT_HOSTS", "hooks.example.test")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def test_the_matrix_covers_every_tenant_scoped_command() -> None:
    scoped = {path for path, callback in _commands() if callback.__atlas_capability__ != SYSTEM}
    assert scoped == set(CASES)


def _invoke(path: tuple[str, ...], args: list[str], tenant: str, email: str, stdin: str | None) -> Any:
    return runner.invoke(app, [*path, *args, "--tenant", tenant, "--as", email, "--json"], input=stdin)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("path", sorted(CASES))
def test_each_role_gets_exactly_its_capabilities(world: dict[str, Any], role: Role, path: tuple[str, ...]) -> None:
    declared = dict(_commands())[path].__atlas_capability__
    args, stdin = CASES[path](world)
    result = _invoke(path, args, world["tenant"], world["actors"][role].email, stdin)
    allowed = declared in ROLE_CAPABILITIES[role]
    assert (result.exit_code == 0) == allowed, result.output
    if not allowed:
        assert json.loads(result.output)["error"] == f"you lack the '{declared}' permission for this action"


@pytest.mark.parametrize("path", [("connection", "set-default"), ("connection", "disable"),
                                  ("connection", "delete"), ("connection", "rotate-credential"), ("op", "start"),
                                  ("connection", "consent-url"), ("schedule", "set"), ("schedule", "clear"),
                                  ("op", "export"), ("inventory", "export")])
def test_another_tenants_ids_look_exactly_like_random_ids(world: dict[str, Any], path: tuple[str, ...]) -> None:
    owner = world["actors"][Role.OWNER]
    answers = []
    for target in (world["foreign_connection"], str(uuid.uuid4())):
        args, stdin = CASES[path]({**world, "spare": target})
        result = _invoke(path, args, world["tenant"], owner.email, stdin)
        assert result.exit_code == 1
        answers.append(result.output)
    assert answers[0] == answers[1] == json.dumps({"error": "connection not found"}) + "\n"
