"""GraphClient's diagnoses and recoveries of issue 14, against a scripted fake Graph: Intune's three answers for a
tenant without Intune, transient 500/502, a token that expires mid-listing, and a token minted before admin consent
reached it. Timing runs on a fake clock; the real-MSAL versions of these are in tests/integration."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Collection
from typing import Any

import httpx
import pytest

from atlas_services.graph.budget import RequestBudgets
from atlas_services.graph.client import GraphClient, RetryPolicy
from atlas_services.graph.clouds import CLOUDS
from atlas_services.graph.contracts import ContractSet, parse_contracts
from atlas_services.graph.errors import GraphRequestError
from atlas_services.reasons import ReasonCode

GLOBAL = CLOUDS["global"]
TENANT = "69428f70-3c80-4e10-b63c-dc69ea0f142f"
APP = "217150f4-a636-4778-b5ec-3b57952fc53a"
DEVICES_READ = "DeviceManagementManagedDevices.Read.All"
CONTRACTS: ContractSet = parse_contracts({"contracts": [
    {"key": "organization.list", "method": "GET", "path": "/organization", "version": "v1.0",
     "select": ["id"], "permissions": ["Organization.Read.All"], "paging": False,
     "throttle_class": "directory", "capabilities": ["health_check"]},
    {"key": "devices.list", "method": "GET", "path": "/deviceManagement/managedDevices", "version": "v1.0",
     "select": ["id"], "permissions": [DEVICES_READ], "paging": True,
     "throttle_class": "intune_devices", "capabilities": ["inventory_sync"]},
]})
DEVICES = "https://graph.microsoft.com/v1.0/deviceManagement/managedDevices"


def graph_error(status: int, code: str, message: str, *, date: str = "2026-11-28T01:02:03") -> httpx.Response:
    body = {"error": {"code": code, "message": message,
                      "innerError": {"date": date, "request-id": f"rid-{status}", "client-request-id": "c"}}}
    return httpx.Response(status, json=body, headers={"request-id": f"rid-{status}"})


def fef_message(sentence: str) -> str:
    """Intune's inner document, as its front end formats it (CRLF and two-space indents)."""
    return json.dumps({"_version": 3, "Message": f"{sentence} - Operation ID (for customer support): "
                       "00000000-0000-0000-0000-000000000000 - Activity ID: 3ea1eab9-de3f-4566-853e-e21a48f28c5e - "
                       "Url: https://fef.msub06.manage.microsoft.com/StatelessDeviceFEService/deviceManagement/"
                       "managedDevices?api-version=5024-02-16", "CustomApiErrorPhrase": "", "RetryAfter": None,
                       "ErrorSourceService": "", "HttpHeaders": "{}"}, indent=2).replace("\n", "\r\n")


def unknown_error_message() -> str:
    """The doubly nested form: an OData error whose Message is Intune's own JSON document."""
    return json.dumps({"ErrorCode": "Forbidden", "Message": fef_message("An error has occurred"), "Target": None,
                       "Details": None, "InnerError": None, "InstanceAnnotations": [], "TypeAnnotation": None},
                      separators=(",", ":"))


NOT_APPLICABLE = graph_error(400, "BadRequest", fef_message("Request not applicable to target tenant."))
UNKNOWN_401 = graph_error(401, "UnknownError", unknown_error_message())
UNKNOWN_403 = graph_error(403, "UnknownError", unknown_error_message())
EXPIRED = graph_error(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
NO_SCOPE = graph_error(403, "Forbidden", fef_message(
    "Application is not authorized to perform this operation. Application must have one of the following scopes: "
    f"{DEVICES_READ}, DeviceManagementManagedDevices.ReadWrite.All"))


def page(ids: list[str], next_link: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"value": [{"id": i} for i in ids]}
    if next_link:
        body["@odata.nextLink"] = next_link
    return httpx.Response(200, json=body, headers={"request-id": "rid-ok"})


class Tokens:
    """A token source: ``current`` is what the provider answers; ``refresh`` mints a new one, as MSAL would after
    its cached token was removed."""

    def __init__(self) -> None:
        self.issued = 1
        self.refreshes = 0

    def current(self) -> str:
        return f"token-{self.issued}-" + "x" * 20

    def refresh(self) -> str:
        self.refreshes += 1
        self.issued += 1
        return self.current()


class Fake:
    def __init__(self, *script: httpx.Response | Callable[[httpx.Request], httpx.Response]) -> None:
        self.script = list(script)
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []
        self.now = 0.0
        self.tokens = Tokens()
        self.lookups = 0

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        return item(request) if callable(item) else item

    def client(self, *, refresh: bool = True, granted: Collection[str] | None = None, **kwargs: Any) -> GraphClient:
        def directory_grants(_: GraphClient) -> Collection[str] | None:
            self.lookups += 1
            return granted

        http = httpx.Client(transport=httpx.MockTransport(self.handle))
        return GraphClient(GLOBAL, self.tokens.current, http, tenant_id=TENANT, client_id=APP, contracts=CONTRACTS,
                           budgets=RequestBudgets(lambda: self.now),
                           sleep=self.sleep, rng=random.Random(3),
                           refresh_token=self.tokens.refresh if refresh else None,
                           directory_grants=directory_grants, **kwargs)

    def bearer(self, index: int) -> str:
        return self.requests[index].headers["Authorization"].removeprefix("Bearer ")


def refused(fake: Fake, key: str = "devices.list", **kwargs: Any) -> GraphRequestError:
    with pytest.raises(GraphRequestError) as caught, fake.client(**kwargs) as graph:
        list(graph.iter_pages(key)) if key == "devices.list" else graph.get(key)
    error = caught.value
    shown = f"{error} {error.detail} {error.remediation} {error!r}"
    assert "token-" not in shown
    return error


# -- Intune without a license (or not provisioned): three answers, one diagnosis -----------------------------------

@pytest.mark.parametrize("response", [NOT_APPLICABLE, UNKNOWN_401, UNKNOWN_403], ids=["400", "401", "403"])
def test_every_form_of_intune_not_licensed_is_intune_not_licensed(response: httpx.Response) -> None:
    fake = Fake(response)
    error = refused(fake)
    assert error.code == ReasonCode.INTUNE_NOT_LICENSED
    assert error.status_code == response.status_code
    assert "Intune" in error.remediation and "license" in error.remediation
    assert error.missing_permissions == ()
    # Not a token problem and not a permission problem: no new token is asked for, nothing is looked up.
    assert len(fake.requests) == 1 and fake.tokens.refreshes == 0 and fake.lookups == 0


def test_the_unknown_error_form_is_read_even_with_an_empty_code() -> None:
    error = refused(Fake(graph_error(403, "", unknown_error_message())))
    assert error.code == ReasonCode.INTUNE_NOT_LICENSED


def test_intunes_missing_scope_403_is_still_a_missing_permission() -> None:
    error = refused(Fake(NO_SCOPE), refresh=False)
    assert error.code == ReasonCode.PERMISSION_MISSING
    assert error.missing_permissions == (DEVICES_READ, "DeviceManagementManagedDevices.ReadWrite.All")


def test_a_plain_403_with_an_empty_code_names_the_contract_permissions() -> None:
    error = refused(Fake(graph_error(403, "", "Insufficient privileges to complete the operation.")), refresh=False)
    assert error.code == ReasonCode.PERMISSION_MISSING and error.missing_permissions == (DEVICES_READ,)


# -- transient 500/502 ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [500, 502])
def test_a_transient_500_or_502_on_a_get_is_retried_with_backoff(status: int) -> None:
    fake = Fake(graph_error(status, "InternalServerError", "x"), page(["a"]))
    with fake.client() as graph:
        assert [item["id"] for item in graph.iter_items("devices.list")] == ["a"]
    assert len(fake.requests) == 2
    assert len(fake.sleeps) == 1 and 0 <= fake.sleeps[0] <= RetryPolicy().base_delay


def test_a_500_honours_retry_after_like_503() -> None:
    fake = Fake(httpx.Response(502, headers={"Retry-After": "3"}), page(["a"]))
    with fake.client() as graph:
        list(graph.iter_pages("devices.list"))
    assert fake.sleeps == [3.0]


def test_a_persistent_500_stops_after_its_own_bounded_count() -> None:
    fake = Fake(graph_error(500, "InternalServerError", "x"))
    error = refused(fake, retry=RetryPolicy(max_attempts=10, max_server_errors=3))
    assert error.code == ReasonCode.GRAPH_UNAVAILABLE
    assert len(fake.requests) == 3 and len(fake.sleeps) == 2
    assert "3 attempts" in error.detail


def test_500s_share_the_attempt_and_wait_budget_with_503s() -> None:
    fake = Fake(graph_error(503, "ServiceUnavailable", "x"), graph_error(500, "InternalServerError", "x"))
    error = refused(fake, retry=RetryPolicy(max_attempts=4, max_server_errors=10))
    assert error.code == ReasonCode.GRAPH_UNAVAILABLE and len(fake.requests) == 4


# -- a token that expires mid-listing -------------------------------------------------------------------------------

def test_a_401_mid_listing_refreshes_the_token_and_resumes_the_same_page() -> None:
    second = f"{DEVICES}?$skiptoken=page2"
    fake = Fake(page(["a", "b"], second), EXPIRED, page(["c"]))
    with fake.client() as graph:
        ids = [item["id"] for item in graph.iter_items("devices.list")]
        assert graph.stats.token_refreshes == 1
    assert ids == ["a", "b", "c"]
    assert [str(r.url) for r in fake.requests[1:]] == [second, second]  # the page it was on, not page one
    assert fake.bearer(1) != fake.bearer(2) and fake.bearer(2) == fake.tokens.current()
    assert fake.tokens.refreshes == 1 and fake.sleeps == []


def test_a_401_after_a_fresh_token_is_auth_failed() -> None:
    fake = Fake(EXPIRED)
    error = refused(fake)
    assert error.code == ReasonCode.AUTH_FAILED
    assert len(fake.requests) == 2 and fake.tokens.refreshes == 1


def test_without_a_way_to_refresh_a_401_is_auth_failed_at_once() -> None:
    fake = Fake(EXPIRED)
    assert refused(fake, refresh=False).code == ReasonCode.AUTH_FAILED
    assert len(fake.requests) == 1


def test_token_refreshes_per_client_are_bounded() -> None:
    fake = Fake(EXPIRED)
    with fake.client(retry=RetryPolicy(max_token_refreshes=2)) as graph:
        for _ in range(3):
            with pytest.raises(GraphRequestError) as caught:
                graph.get("organization.list")
            assert caught.value.code == ReasonCode.AUTH_FAILED
    assert fake.tokens.refreshes == 2
    assert len(fake.requests) == 2 + 2 + 1  # the third request is not retried: the refreshes are spent


# -- a token minted before admin consent reached it -----------------------------------------------------------------

def test_a_403_for_a_permission_the_directory_shows_granted_gets_one_fresh_token_and_one_retry() -> None:
    fake = Fake(NO_SCOPE, page(["a"]))
    with fake.client(granted={DEVICES_READ, "Organization.Read.All"}) as graph:
        assert [item["id"] for item in graph.iter_items("devices.list")] == ["a"]
    assert fake.tokens.refreshes == 1 and fake.lookups == 1
    assert fake.bearer(0) != fake.bearer(1)


def test_a_403_that_survives_the_fresh_token_is_permission_missing_with_the_propagation_delay() -> None:
    fake = Fake(NO_SCOPE)
    error = refused(fake, granted={DEVICES_READ})
    assert error.code == ReasonCode.PERMISSION_MISSING
    assert len(fake.requests) == 2 and fake.tokens.refreshes == 1
    assert DEVICES_READ in error.detail and "granted" in error.detail
    assert "propagat" in error.remediation and "minutes" in error.remediation


def test_a_403_for_a_permission_the_directory_does_not_show_is_permission_missing_at_once() -> None:
    fake = Fake(NO_SCOPE)
    error = refused(fake, granted={"Organization.Read.All"})
    assert error.code == ReasonCode.PERMISSION_MISSING
    assert len(fake.requests) == 1 and fake.tokens.refreshes == 0
    assert "propagat" not in error.remediation


def test_when_the_directory_cannot_be_read_a_403_is_permission_missing_at_once() -> None:
    fake = Fake(NO_SCOPE)
    assert refused(fake, granted=None).code == ReasonCode.PERMISSION_MISSING
    assert len(fake.requests) == 1 and fake.tokens.refreshes == 0


def test_the_directory_is_read_once_per_client() -> None:
    fake = Fake(NO_SCOPE)
    with fake.client(granted={"Organization.Read.All"}) as graph:
        for _ in range(3):
            with pytest.raises(GraphRequestError):
                list(graph.iter_pages("devices.list"))
    assert fake.lookups == 1
