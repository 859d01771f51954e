"""The canary sweep for invitation passwords: unique values sent through the CLI (`atlas member add`) and
through the invite and accept routes the members and invitations pages post to, on their success and
refusal paths, and then no encoding of any of them in a full pg_dump, Redis, the logs or the CLI's output.

The route never hands the password to Reflex, so it cannot reach an event, the state store or a frame;
tests/e2e/test_canary_invitations.py checks the browser side.
"""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from starlette.testclient import TestClient

from atlas_app.invite_routes import ACCEPT_PATH, INVITE_PATH, build_invite_api
from atlas_services import sessions
from atlas_services.invitations import my_invitations
from tests.support.canary import encodings, pg_dump_text, redis_text
from tests.support.factories import PASSWORD, make_actor
from tests.support.processes import run_cli

CANARIES = {name: f"CANARY~{uuid.uuid4().hex}" for name in ("cli", "route", "route-existing", "wrong", "refused")}
NEEDLES = {f"{name}/{kind}": value for name, canary in CANARIES.items() for kind, value in encodings(canary).items()}


def _hits(haystack: str, where: str) -> list[str]:
    return [f"{where}: {name}" for name, needle in NEEDLES.items() if needle in haystack]


def test_invitation_passwords_are_found_nowhere(db: None, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    owner_args = ["--tenant", "Canary Invites", "--as", "owner@canary-invites.test"]
    assert run_cli("tenant", "create", "Canary Invites").returncode == 0
    assert run_cli("user", "create", "--email", "owner@canary-invites.test", "--tenant", "Canary Invites",
                   "--role", "owner", stdin=PASSWORD).returncode == 0
    outputs = []
    cli = run_cli("member", "add", *owner_args, "--email", "cli@canary-invites.test", "--role", "operator",
                  "--json", stdin=CANARIES["cli"] + "\n")
    assert cli.returncode == 0, cli.stderr
    refused = run_cli("member", "add", *owner_args, "--email", "not an email", "--role", "operator",
                      stdin=CANARIES["refused"])
    assert refused.returncode == 1
    outputs += [cli.stdout, cli.stderr, refused.stdout, refused.stderr]
    assert sessions.actor_for_session(sessions.authenticate("cli@canary-invites.test", CANARIES["cli"]))

    existing = make_actor("readonly")
    client = TestClient(build_invite_api(), follow_redirects=False)
    client.cookies.set(sessions.SESSION_COOKIE, sessions.authenticate("owner@canary-invites.test", PASSWORD))
    origin = {"origin": "http://testserver"}
    for email, canary, outcome in (("route@canary-invites.test", "route", "invited"),
                                   (existing.email, "route-existing", "invited"),
                                   ("route@canary-invites.test", "refused", "exists"),
                                   ("bad email", "refused", "email")):
        answer = client.post(INVITE_PATH, data={"email": email, "role": "manager", "password": CANARIES[canary]},
                             headers=origin)
        assert answer.headers["location"] == f"/members?outcome={outcome}"
        outputs.append(answer.text + json.dumps(dict(answer.headers)))
    client.cookies.set(sessions.SESSION_COOKIE, sessions.authenticate(existing.email, PASSWORD))
    (invitation,) = my_invitations(existing.user_id)
    for canary, outcome in (("wrong", "wrong"), ("route-existing", "accepted")):
        answer = client.post(ACCEPT_PATH, data={"invitation_id": str(invitation.id), "password": CANARIES[canary]},
                             headers=origin)
        assert answer.headers["location"] == f"/invitations?outcome={outcome}"
        outputs.append(answer.text + json.dumps(dict(answer.headers)))
    assert sessions.actor_for_session(sessions.authenticate("route@canary-invites.test", CANARIES["route"]))

    found = (_hits(pg_dump_text(), "pg_dump") + _hits(redis_text(), "redis") + _hits(caplog.text, "logs")
             + _hits("\n".join(outputs), "CLI and HTTP answers"))
    assert found == []
