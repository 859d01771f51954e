"""Certificate credentials end to end: MSAL signs a client assertion, the simulator verifies it against the
certificate registered on the app, and a connection created from a PEM or a PFX passes its health check."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from atlas_services.connections import list_connections
from atlas_services.credential_input import CertificateInput
from atlas_services.errors import ProviderError
from atlas_services.graph.clouds import get_cloud
from atlas_services.graph.tokens import acquire_graph_token
from atlas_services.runs.execute import execute_run
from atlas_services.runs.queries import get_run
from atlas_services.runs.start import start_operation
from atlas_services.secrets import CertificateCredential, SecretValue
from atlas_sim.scenario import parse_scenario
from tests.support.certificates import GeneratedCertificate, make_certificate
from tests.support.factories import create_connection, make_actor
from tests.support.token_scenario import serving

TENANT = "3f2c6b1e-7d4a-4c1b-9e55-2a1f0c9d8e71"
CLIENT = "8b9d2e4f-1a3c-4d5e-8f70-9a1b2c3d4e5f"
REGISTERED = make_certificate("atlas-registered", key_index=2)
UNREGISTERED = make_certificate("atlas-unregistered", key_index=3)


@pytest.fixture(scope="module")
def cert_simulator() -> Iterator[Any]:
    scenario = parse_scenario({"name": "certificates", "tenants": [{
        "id": TENANT, "display_name": "Woodgrove", "verified_domains": [{"name": "woodgrove.onmicrosoft.com"}],
        "apps": [{"client_id": CLIENT, "display_name": "Atlas (certificate)", "permissions": [
            "Organization.Read.All"], "certificates": [REGISTERED.certificate_pem]}]}]})
    with serving(scenario) as running:
        yield running


def _credential(cert: GeneratedCertificate) -> CertificateCredential:
    return CertificateCredential(SecretValue(cert.private_key_pem), cert.certificate_pem, "thumbprint")


def test_a_registered_certificate_gets_a_token_through_real_msal(cert_simulator: Any) -> None:
    token = acquire_graph_token(get_cloud("simulator"), TENANT, CLIENT, _credential(REGISTERED))
    assert token.count(".") == 2


def test_an_unregistered_certificate_is_refused_with_its_reason(cert_simulator: Any) -> None:
    with pytest.raises(ProviderError) as caught:
        acquire_graph_token(get_cloud("simulator"), TENANT, CLIENT, _credential(UNREGISTERED))
    assert caught.value.code == "auth.certificate_not_registered"
    assert "PRIVATE KEY" not in str(caught.value) + caught.value.detail


def test_a_key_that_does_not_match_the_certificate_fails_the_signature(cert_simulator: Any) -> None:
    forged = CertificateCredential(SecretValue(UNREGISTERED.private_key_pem), REGISTERED.certificate_pem, "x")
    with pytest.raises(ProviderError) as caught:
        acquire_graph_token(get_cloud("simulator"), TENANT, CLIENT, forged)
    assert caught.value.code == "auth.certificate_not_registered"


@pytest.mark.parametrize("form", ["pem", "pfx"])
def test_a_certificate_connection_passes_its_health_check(db: None, cert_simulator: Any, form: str) -> None:
    owner = make_actor("owner")
    credential = (CertificateInput(pem=SecretValue(REGISTERED.bundle)) if form == "pem" else
                  CertificateInput(pfx=REGISTERED.pfx(b"pfx pass"), passphrase=SecretValue("pfx pass")))
    view = create_connection(owner, name=f"Woodgrove {uuid.uuid4().hex[:4]}", entra_tenant_id=TENANT,
                             client_id=CLIENT, credential=credential)
    assert view.credential_kind == "certificate" and view.secret_hint.endswith("…")
    run_id = start_operation(owner, "health_check", view.id, enqueue=lambda run_id: None).run_id
    execute_run(run_id)
    run = get_run(owner, run_id)
    assert (run.status, run.reason_code) == ("succeeded", None), run.message
    assert list_connections(owner)[0].health_status == "healthy"
