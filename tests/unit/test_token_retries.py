"""The token path's HTTP client: what it retries, how long it waits, when it gives up, and what it reads from
discovery; and the mapping of the cases no HTTP fake reaches (certificate expiry, the give-up codes)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from atlas_services.graph.clouds import CLOUDS
from atlas_services.graph.token_errors import CLOUD_INSTANCE_NAMES, busy, refusal
from atlas_services.graph.token_http import SignInBusy, TenantCloud, TokenHttpClient, TokenRetryPolicy, tenant_cloud
from atlas_services.secrets import CertificateCredential, SecretValue
from tests.support.certificates import make_certificate

TOKEN_URL = "https://login.microsoftonline.com/t/oauth2/v2.0/token"
POLICY = TokenRetryPolicy(max_attempts=4, base_delay=1.0, max_backoff=10.0, max_retry_after=60.0,
                          max_total_wait=90.0, max_timeouts=2)
NOW = 1_800_000_000.0


def _client(answers: Iterator[httpx.Response | Exception], waits: list[float],
            policy: TokenRetryPolicy = POLICY) -> tuple[TokenHttpClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    client = TokenHttpClient(httpx.Client(transport=httpx.MockTransport(handler)), policy=policy,
                             sleep=waits.append, wall_clock=lambda: NOW, rng=random.Random(7))
    return client, seen


def _post(client: TokenHttpClient) -> httpx.Response:
    return client.post(TOKEN_URL, data={"client_id": "c", "client_assertion": b"eyJ"})


def test_a_429_waits_exactly_its_retry_after_then_succeeds() -> None:
    waits: list[float] = []
    client, seen = _client(iter([httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(200)]), waits)
    assert _post(client).status_code == 200
    assert waits == [3.0]
    assert len(seen) == 2
    assert seen[1].content == b"client_id=c&client_assertion=eyJ"  # the bytes assertion still decoded on retry


def test_a_retry_after_http_date_is_read_as_seconds_from_now() -> None:
    when = format_datetime(datetime.fromtimestamp(NOW, UTC) + timedelta(seconds=12), usegmt=True)
    waits: list[float] = []
    client, _ = _client(iter([httpx.Response(503, headers={"Retry-After": when}), httpx.Response(200)]), waits)
    assert _post(client).status_code == 200
    assert waits == [12.0]


def test_without_retry_after_the_backoff_is_jittered_under_an_exponential_cap() -> None:
    waits: list[float] = []
    client, _ = _client(iter([httpx.Response(500), httpx.Response(502), httpx.Response(504), httpx.Response(200)]),
                        waits)
    assert _post(client).status_code == 200
    caps = [1.0, 2.0, 4.0]
    assert len(waits) == 3 and all(0 <= wait <= cap for wait, cap in zip(waits, caps, strict=True))
    assert len(set(waits)) == 3  # jitter: not the same wait each time


def test_it_gives_up_after_max_attempts_with_the_last_status() -> None:
    waits: list[float] = []
    client, seen = _client(iter([httpx.Response(429, headers={"Retry-After": "1"})] * 10), waits)
    with pytest.raises(SignInBusy) as caught:
        _post(client)
    assert (caught.value.status, caught.value.attempts, caught.value.retry_after) == (429, 4, 1.0)
    assert len(seen) == 4 and waits == [1.0, 1.0, 1.0]


def test_a_retry_after_beyond_the_policy_or_the_total_budget_is_not_waited_for() -> None:
    waits: list[float] = []
    client, seen = _client(iter([httpx.Response(429, headers={"Retry-After": "61"})]), waits)
    with pytest.raises(SignInBusy):
        _post(client)
    assert waits == [] and len(seen) == 1
    budget = TokenRetryPolicy(max_total_wait=50.0)
    client, seen = _client(iter([httpx.Response(503, headers={"Retry-After": "30"})] * 3), waits, budget)
    with pytest.raises(SignInBusy) as caught:
        _post(client)
    assert waits == [30.0] and caught.value.attempts == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_refusals_are_handed_to_msal_at_once(status: int) -> None:
    waits: list[float] = []
    client, seen = _client(iter([httpx.Response(status, json={"error": "invalid_client"})]), waits)
    assert _post(client).status_code == status
    assert waits == [] and len(seen) == 1


def test_a_timeout_is_retried_once_then_raised() -> None:
    waits: list[float] = []
    timeout = httpx.ReadTimeout("slow")
    client, seen = _client(iter([timeout, timeout, httpx.Response(200)]), waits)
    with pytest.raises(httpx.ReadTimeout):
        _post(client)
    assert len(seen) == 2 and len(waits) == 1


def test_discovery_is_retried_and_its_cloud_facts_are_kept() -> None:
    document = {"token_endpoint": "x", "authorization_endpoint": "y", "cloud_instance_name": "microsoftonline.us",
                "tenant_region_scope": "USGov", "tenant_region_sub_scope": "DODCON"}
    waits: list[float] = []
    client, _ = _client(iter([httpx.Response(503), httpx.Response(200, json=document)]), waits)
    client.get("https://login.microsoftonline.com/t/v2.0/.well-known/openid-configuration")
    assert client.discovered == TenantCloud("microsoftonline.us", "USGov", "DODCON")
    assert client.discovered.region == "USGov/DODCON"


def test_discovery_facts_from_outside_are_kept_only_when_they_look_like_names() -> None:
    assert tenant_cloud({"cloud_instance_name": "MicrosoftOnline.com"}) == TenantCloud("microsoftonline.com")
    assert tenant_cloud({"cloud_instance_name": "<script>", "tenant_region_scope": "NA"}) is None
    assert tenant_cloud({"cloud_instance_name": "microsoftonline.com", "tenant_region_scope": "N A"}) == TenantCloud(
        "microsoftonline.com", None, None)
    assert tenant_cloud(["not", "a", "document"]) is None


def test_every_cloud_atlas_offers_has_its_discovery_instance_name() -> None:
    assert set(CLOUD_INSTANCE_NAMES) == set(CLOUDS)


GLOBAL = CLOUDS["global"]


def _cert_refusal(credential: CertificateCredential, description: str) -> str:
    result = {"error": "invalid_client", "error_codes": [700027], "correlation_id": str(uuid.uuid4()),
              "error_description": f"AADSTS700027: {description}\r\nTrace ID: x\r\nCorrelation ID: y\r\nTimestamp: z"}
    return refusal(result, cloud=GLOBAL, credential=credential, discovered=None).code


def _credential(expired: bool) -> CertificateCredential:
    cert = make_certificate("atlas-unit", expired=expired, key_index=1)
    return CertificateCredential(SecretValue(cert.private_key_pem), cert.certificate_pem, "t")


@pytest.mark.parametrize(("expired", "description", "code"), [
    (True, "Client assertion failed signature validation.", "auth.certificate_expired"),
    (False, "The certificate with identifier used to sign the client assertion is expired on application.",
     "auth.certificate_expired"),
    (False, "The certificate with identifier used to sign the client assertion is not registered on application. "
            "[Reason - The key was not found.]", "auth.certificate_not_registered"),
])
def test_700027_is_expired_when_the_certificate_or_entra_says_so(expired: bool, description: str,
                                                                  code: str) -> None:
    assert _cert_refusal(_credential(expired), description) == code


def test_700027_for_a_secret_is_never_a_certificate_expiry() -> None:
    result = {"error": "invalid_client", "error_codes": [700027], "error_description": "AADSTS700027: expired"}
    assert refusal(result, cloud=GLOBAL, credential=SecretValue("s"), discovered=None).code == (
        "auth.certificate_not_registered")


@pytest.mark.parametrize(("status", "code"), [(429, "signin.throttled"), (503, "signin.unavailable"),
                                              (500, "signin.unavailable")])
def test_giving_up_is_a_sign_in_code_never_a_credential_one(status: int, code: str) -> None:
    error = busy(SignInBusy(status, 4, 30.0))
    assert error.code == code and not error.code.startswith("auth.")
    assert "4 attempts" in error.detail
