"""A health check run whose sign-in fails: each token-endpoint diagnosis reaches the run and the connection's
health, and a busy sign-in service reads as a sign-in problem, never as a credential one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from atlas_services.audit import list_events
from atlas_services.connection_health import connection_health
from atlas_services.connections import list_connections
from atlas_services.credential_input import ClientSecretInput
from atlas_services.credential_rotation import rotate_credential
from atlas_services.runs.execute import execute_run
from atlas_services.runs.queries import get_run
from atlas_services.secrets import SecretValue
from atlas_sim.server import RunningSimulator
from tests.support.capabilities import connect, run_now, scenario, secret_for, serving
from tests.support.factories import make_actor
from tests.support.token_scenario import fast_token_retries

RETRIES = fast_token_retries()


@pytest.fixture(scope="module")
def sim(simulator: RunningSimulator) -> Iterator[RunningSimulator]:
    with serving(scenario(), simulator.base_url) as running:
        yield running


@pytest.fixture
def owner(db: None, sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr("atlas_services.graph.token_http.RETRY", RETRIES)
    return make_actor("owner")


@pytest.mark.parametrize(("fault", "code", "fix"), [
    ({"kind": "throttle", "retry_after": 0.01}, "signin.throttled", "Nothing is wrong with the credential"),
    ({"kind": "server_error", "status": 503}, "signin.unavailable", "Nothing is wrong with the credential"),
    ({"kind": "app_disabled"}, "auth.app_disabled", "Enabled for users to sign in"),
    ({"kind": "no_service_principal"}, "auth.no_service_principal", "atlas connection consent-url"),
])
def test_a_failed_sign_in_ends_the_run_and_the_health_with_its_diagnosis(
        owner: Any, sim: RunningSimulator, fault: dict[str, Any], code: str, fix: str) -> None:
    connection = connect(owner, "full")
    with sim.token_faults([fault]):
        run = run_now(owner, "health_check", connection.id)
    assert (run.status, run.reason_code) == ("failed", code), run.message
    assert fix in (run.remediation or "")
    health = connection_health(owner, connection.id)
    assert (health.health_status, health.reason_code) == ("unhealthy", code)
    assert fix in (health.remediation or "")
    # Once Microsoft answers again, the next check signs in: nothing of the failure was cached.
    assert run_now(owner, "health_check", connection.id).status == "succeeded"


def test_a_rotation_checked_during_a_sign_in_outage_is_not_called_a_failed_credential(
        owner: Any, sim: RunningSimulator) -> None:
    """The new credential is set aside (the old one keeps serving), and the audit says its check could not run,
    not that the credential failed it: Microsoft's sign-in service was down, nothing was learnt about the secret."""
    connection = connect(owner, "full")
    started = rotate_credential(owner, connection.id, ClientSecretInput(SecretValue("rotated~secret~value-5678")),
                                enqueue=lambda run_id: None)
    with sim.token_faults([{"kind": "server_error", "status": 503}]):
        execute_run(started.run_id)
    assert get_run(owner, started.run_id).reason_code == "signin.unavailable"
    event = list_events(owner)[0]
    assert event.action == "credential.verification_incomplete"
    assert event.details["reason_code"] == "signin.unavailable"
    assert list_connections(owner)[0].secret_hint == "…" + secret_for("full")[-4:]  # the old one still serves
