"""Every token-endpoint diagnosis through real MSAL over real HTTP against the simulator: each Entra refusal has
its own reason code and fix, a busy or failing sign-in service is retried and never reads as a credential
problem, and a tenant that lives in another cloud is named as such."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from atlas_services.config import get_settings
from atlas_services.errors import ProviderError
from atlas_services.graph.clouds import CLOUDS
from atlas_services.graph.tokens import acquire_graph_token, clear_token_cache
from atlas_services.secrets import AppCredential, CertificateCredential, SecretValue
from atlas_sim.server import RunningSimulator
from tests.support.certificates import GeneratedCertificate, make_certificate
from tests.support.token_scenario import (
    APP,
    CERT_APP,
    GOV_APP,
    GOV_TENANT,
    SECRET,
    TENANT,
    fast_token_retries,
    serving,
    token_scenario,
)

SIM = CLOUDS["simulator"]
REGISTERED = make_certificate("atlas-diagnoses", key_index=5)
EXPIRED = make_certificate("atlas-diagnoses-expired", expired=True, key_index=6)
UNREGISTERED = make_certificate("atlas-diagnoses-unregistered", key_index=7)
RETRIES = fast_token_retries()


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    with serving(token_scenario(REGISTERED, EXPIRED)) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr("atlas_services.graph.token_http.RETRY", RETRIES)
    clear_token_cache()
    yield
    clear_token_cache()


def _refused(client_id: str = APP, tenant: str = TENANT, credential: AppCredential | None = None) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        acquire_graph_token(SIM, tenant, client_id, credential or SecretValue(SECRET))
    error = caught.value
    shown = " ".join([str(error), error.detail, error.remediation, repr(error)])
    assert SECRET not in shown and "PRIVATE KEY" not in shown
    return error


def _token(client_id: str = APP) -> str:
    return acquire_graph_token(SIM, TENANT, client_id, SecretValue(SECRET))


def _certificate(cert: GeneratedCertificate) -> CertificateCredential:
    return CertificateCredential(SecretValue(cert.private_key_pem), cert.certificate_pem, "thumbprint")


@pytest.mark.parametrize(("kind", "code", "aadsts"), [
    ("app_disabled", "auth.app_disabled", 7000112),
    ("no_service_principal", "auth.no_service_principal", 7000229),
    ("conditional_access", "auth.conditional_access_blocked", 53003),
    ("resource_not_in_tenant", "auth.resource_not_in_tenant", 500011),
    ("invalid_scope", "auth.invalid_scope", 70011),
    ("scope_not_default", "auth.invalid_scope", 1002012),
])
def test_each_entra_refusal_has_its_own_reason(sim: RunningSimulator, kind: str, code: str, aadsts: int) -> None:
    with sim.token_faults([{"kind": kind, "clients": [APP]}]):
        error = _refused()
    assert error.code == code
    assert f"AADSTS{aadsts}" in error.detail


def test_a_disabled_app_says_to_enable_it_not_that_it_is_missing(sim: RunningSimulator) -> None:
    with sim.token_faults([{"kind": "app_disabled"}]):
        error = _refused()
    assert error.code != "auth.app_not_found"
    assert "Enterprise applications" in error.remediation and "Enabled for users to sign in" in error.remediation


def test_no_service_principal_points_to_the_admin_consent_link(sim: RunningSimulator) -> None:
    with sim.token_faults([{"kind": "no_service_principal"}]):
        error = _refused()
    assert "admin consent" in error.remediation
    assert "atlas connection consent-url" in error.remediation


def test_a_conditional_access_block_names_the_sign_in_logs(sim: RunningSimulator) -> None:
    with sim.token_faults([{"kind": "conditional_access"}]):
        error = _refused()
    assert "Conditional Access" in error.remediation and "Sign-in logs" in error.remediation
    assert "correlation id" in error.detail


@pytest.mark.parametrize("kind", ["resource_not_in_tenant", "invalid_scope", "scope_not_default"])
def test_wrong_resource_and_scope_name_the_connections_cloud(sim: RunningSimulator, kind: str) -> None:
    with sim.token_faults([{"kind": kind}]):
        error = _refused()
    assert "'simulator' cloud" in error.remediation
    assert SIM.graph_scope in error.remediation


def test_a_tenant_that_lives_in_another_cloud_is_named_from_discovery(sim: RunningSimulator) -> None:
    error = _refused(GOV_APP, GOV_TENANT)
    assert error.code == "auth.wrong_cloud"
    assert "microsoftonline.us" in error.detail and "USGov" in error.detail
    assert "'simulator' cloud" in error.remediation and "'usgov'" in error.remediation


def test_an_expired_certificate_is_not_read_as_unregistered(sim: RunningSimulator) -> None:
    error = _refused(CERT_APP, credential=_certificate(EXPIRED))
    assert error.code == "auth.certificate_expired"
    assert "AADSTS700027" in error.detail
    assert _refused(CERT_APP, credential=_certificate(UNREGISTERED)).code == "auth.certificate_not_registered"
    assert acquire_graph_token(SIM, TENANT, CERT_APP, _certificate(REGISTERED)).count(".") == 2


def test_a_throttled_token_request_is_retried_until_it_succeeds(sim: RunningSimulator) -> None:
    with sim.token_faults([{"kind": "throttle", "retry_after": 0.05, "count": 2}]) as book:
        book.clear_events()
        assert _token().count(".") == 2
        assert len(book.fired("throttle")) == 2


def test_a_throttle_without_retry_after_backs_off_and_succeeds(sim: RunningSimulator) -> None:
    with sim.token_faults([{"kind": "throttle", "count": 1}]) as book:
        book.clear_events()
        assert _token().count(".") == 2
        assert len(book.fired("throttle")) == 1


def test_persistent_throttling_is_sign_in_throttling_never_a_credential_problem(sim: RunningSimulator) -> None:
    with sim.token_faults([{"kind": "throttle", "retry_after": 0.05}]) as book:
        book.clear_events()
        error = _refused()
        assert len(book.fired("throttle")) == RETRIES.max_attempts
    assert error.code == "signin.throttled"
    assert f"{RETRIES.max_attempts} attempts" in error.detail


def test_a_retry_after_beyond_the_budget_is_not_waited_for(sim: RunningSimulator) -> None:
    with sim.token_faults([{"kind": "throttle", "retry_after": 3600}]) as book:
        book.clear_events()
        error = _refused()
        assert len(book.fired("throttle")) == 1
    assert error.code == "signin.throttled"
    assert "3600 s" in error.detail


@pytest.mark.parametrize("status", [500, 503])
def test_a_failing_sign_in_service_is_retried_until_it_answers(sim: RunningSimulator, status: int) -> None:
    with sim.token_faults([{"kind": "server_error", "status": status, "count": 2}]) as book:
        book.clear_events()
        assert _token().count(".") == 2
        assert len(book.fired("server_error")) == 2


def test_a_persistent_5xx_is_sign_in_unavailable(sim: RunningSimulator) -> None:
    with sim.token_faults([{"kind": "server_error", "status": 503}]) as book:
        book.clear_events()
        error = _refused()
        assert len(book.fired("server_error")) == RETRIES.max_attempts
    assert error.code == "signin.unavailable"
    assert "HTTP 503" in error.detail


def test_slow_answers_time_out_as_sign_in_timeout_and_faster_ones_succeed(
        sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATLAS_HTTP_TIMEOUT_SECONDS", "0.5")
    get_settings.cache_clear()
    try:
        with sim.token_faults([{"kind": "slow", "seconds": 1.5}]) as book:
            book.clear_events()
            assert _refused().code == "signin.timeout"
            assert len(book.fired("slow")) == RETRIES.max_timeouts
        with sim.token_faults([{"kind": "slow", "seconds": 0.1}]):
            assert _token().count(".") == 2
    finally:
        monkeypatch.delenv("ATLAS_HTTP_TIMEOUT_SECONDS")
        get_settings.cache_clear()


def test_a_refusal_once_fixed_is_not_served_from_msal_cache(sim: RunningSimulator) -> None:
    with sim.token_faults([{"kind": "app_disabled", "count": 1}]):
        assert _refused().code == "auth.app_disabled"
        assert _token().count(".") == 2


def test_throttling_that_ended_is_not_served_from_msal_cache(sim: RunningSimulator,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with sim.token_faults([{"kind": "throttle", "retry_after": 0.01}]):
        assert _refused().code == "signin.throttled"
    assert _token().count(".") == 2
    assert SECRET not in caplog.text
