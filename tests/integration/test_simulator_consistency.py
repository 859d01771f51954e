"""The simulator's issue-14 behaviours, read over raw HTTP: Intune's three not-licensed answers, a token's lifetime,
the eventual-consistency window after consent, and Graph's rough response shapes."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from atlas_sim.directory import app_role_id
from atlas_sim.scenario import parse_scenario
from atlas_sim.server import RunningSimulator, start_in_thread

DEVICES, CONFIG, APPS_READ = ("DeviceManagementManagedDevices.Read.All", "DeviceManagementConfiguration.Read.All",
                              "Application.Read.All")
GRANTED = ["Organization.Read.All", APPS_READ, DEVICES, CONFIG]
TENANTS: dict[str, dict[str, Any]] = {
    "plain": {},
    "bad_request": {"intune": {"licensed": False}},
    "unauthorized": {"intune": {"licensed": False, "unlicensed_answer": "unauthorized"}},
    "unknown_error": {"intune": {"licensed": False, "unlicensed_answer": "unknown_error"}},
    "short_lived": {"token_lifetime": {"requests": 2}},
    "shaped": {"shapes": {"empty_pages": True, "count_unasked": True, "naive_error_dates": True,
                          "empty_error_code": True}},
    "token_behind": {"apps_options": {"consent_lag": {"permissions": [DEVICES], "tokens": 2}}},
    "directory_behind": {"apps_options": {"consent_lag": {"assignment_reads": 2, "service_principal_reads": 1}}},
}


def tid(name: str) -> str:
    return f"{list(TENANTS).index(name) + 1:08x}-0000-4000-8000-0000000000aa"


def cid(name: str) -> str:
    return f"{list(TENANTS).index(name) + 1:08x}-1111-4111-8111-0000000000aa"


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    tenants = []
    for name, options in TENANTS.items():
        extra = {k: v for k, v in options.items() if k != "apps_options"}
        app = {"client_id": cid(name), "display_name": name, "permissions": GRANTED,
               "secrets": [{"value": f"TEST-ONLY~{name}"}], **options.get("apps_options", {})}
        tenants.append({"id": tid(name), "display_name": name, "verified_domains": [{"name": f"{name}.example"}],
                        "apps": [app], "intune": {"devices": 900, **extra.pop("intune", {})}, **extra})
    scenario = parse_scenario({"name": "consistency", "seed": 3, "page_sizes": {"managedDevices": 400},
                               "tenants": tenants})
    with start_in_thread(scenario) as running:
        yield running


def token(sim: RunningSimulator, name: str) -> str:
    response = httpx.post(f"{sim.base_url}/{tid(name)}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": cid(name), "client_secret": f"TEST-ONLY~{name}",
        "scope": "https://graph.microsoft.com/.default"})
    return str(response.json()["access_token"])


def roles(access_token: str) -> list[str]:
    payload = access_token.split(".")[1]
    return list(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["roles"])


def get(sim: RunningSimulator, bearer: str, url: str, **params: str) -> httpx.Response:
    if url.startswith("https://"):
        url = sim.base_url + url[url.index("/v1.0"):]
    return httpx.get(url if url.startswith("http") else f"{sim.base_url}/v1.0{url}", params=params or None,
                     headers={"Authorization": f"Bearer {bearer}"})


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


# -- Intune without a license --------------------------------------------------------------------------------------

def test_the_bad_request_answer_wraps_not_applicable_in_intunes_document(sim: RunningSimulator) -> None:
    response = get(sim, token(sim, "bad_request"), "/deviceManagement/managedDevices")
    error = error_of(response)
    assert (response.status_code, error["code"]) == (400, "BadRequest")
    inner = json.loads(error["message"])
    assert inner["_version"] == 3 and inner["Message"].startswith("Request not applicable to target tenant.")
    assert "\r\n" in error["message"]  # formatted like Intune's front end


@pytest.mark.parametrize(("name", "status"), [("unauthorized", 401), ("unknown_error", 403)])
def test_the_unknown_error_answers_nest_intunes_document_twice(sim: RunningSimulator, name: str,
                                                               status: int) -> None:
    response = get(sim, token(sim, name), "/deviceManagement/managedDevices")
    error = error_of(response)
    assert (response.status_code, error["code"]) == (status, "UnknownError")
    outer = json.loads(error["message"])
    assert outer["ErrorCode"] == "Forbidden" and outer["InstanceAnnotations"] == []
    inner = json.loads(outer["Message"])
    assert inner["_version"] == 3 and inner["Message"].startswith("An error has occurred - Operation ID")
    # Directory paths are unaffected by Intune's licence.
    assert get(sim, token(sim, name), "/organization").status_code == 200


# -- token lifetime ----------------------------------------------------------------------------------------------

def test_a_token_past_its_lifetime_gets_lifetime_validation_failed(sim: RunningSimulator) -> None:
    first = token(sim, "short_lived")
    assert [get(sim, first, "/organization").status_code for _ in range(2)] == [200, 200]
    refused = get(sim, first, "/organization")
    assert refused.status_code == 401
    assert error_of(refused) | {"innerError": None} == {
        "code": "InvalidAuthenticationToken", "message": "Lifetime validation failed, the token is expired.",
        "innerError": None}
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert get(sim, token(sim, "short_lived"), "/organization").status_code == 200
    # Tenants without the option keep accepting a token until it expires.
    plain = token(sim, "plain")
    assert all(get(sim, plain, "/organization").status_code == 200 for _ in range(5))


# -- eventual consistency after consent --------------------------------------------------------------------------

def test_tokens_lag_behind_the_directory_for_their_window(sim: RunningSimulator) -> None:
    sim.state.consistency.reset()
    issued = [token(sim, "token_behind") for _ in range(3)]
    assert [DEVICES in roles(t) for t in issued] == [False, False, True]
    assert all(CONFIG in roles(t) for t in issued)  # only the new grant lags
    # The directory is ahead: its assignments list the grant the first token lacks, and Graph refuses that token.
    sp = get(sim, issued[0], f"/servicePrincipals(appId='{cid('token_behind')}')").json()["id"]
    assignments = get(sim, issued[0], f"/servicePrincipals/{sp}/appRoleAssignments").json()["value"]
    assert app_role_id(DEVICES) in {a["appRoleId"] for a in assignments}
    assert get(sim, issued[0], "/deviceManagement/managedDevices").status_code == 403
    assert get(sim, issued[2], "/deviceManagement/managedDevices").status_code == 200


def test_the_directory_lags_behind_the_token_for_its_window(sim: RunningSimulator) -> None:
    sim.state.consistency.reset()
    bearer = token(sim, "directory_behind")
    assert set(GRANTED) <= set(roles(bearer))
    own = f"/servicePrincipals(appId='{cid('directory_behind')}')"
    missing = get(sim, bearer, own)
    assert (missing.status_code, error_of(missing)["code"]) == (404, "Request_ResourceNotFound")
    sp = get(sim, bearer, own).json()["id"]
    # Graph's own service principal is not the app's: no lag there.
    assert get(sim, bearer, "/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')").status_code == 200
    listed = [{a["appRoleId"] for a in get(sim, bearer, f"/servicePrincipals/{sp}/appRoleAssignments").json()["value"]}
              for _ in range(3)]
    expected = {app_role_id(p) for p in GRANTED}
    assert listed == [set(), set(), expected]


# -- shapes ------------------------------------------------------------------------------------------------------

def _listing(sim: RunningSimulator, bearer: str, path: str, **params: str) -> list[dict[str, Any]]:
    pages = [get(sim, bearer, path, **params).json()]
    while "@odata.nextLink" in pages[-1]:
        pages.append(get(sim, bearer, pages[-1]["@odata.nextLink"]).json())
    return pages


def test_empty_pages_still_carry_a_next_link_and_lose_nothing(sim: RunningSimulator) -> None:
    pages = _listing(sim, token(sim, "shaped"), "/deviceManagement/managedDevices", **{"$select": "id"})
    assert [len(p["value"]) for p in pages] == [400, 0, 400, 0, 100, 0]
    assert all("@odata.nextLink" in p for p in pages[:-1]) and "@odata.nextLink" not in pages[-1]
    ids = [d["id"] for p in pages for d in p["value"]]
    assert len(ids) == len(set(ids)) == 900
    plain = _listing(sim, token(sim, "plain"), "/deviceManagement/managedDevices", **{"$select": "id"})
    assert [len(p["value"]) for p in plain] == [400, 400, 100]


def test_intune_lists_send_a_count_nobody_asked_for(sim: RunningSimulator) -> None:
    bearer = token(sim, "shaped")
    first = get(sim, bearer, "/deviceManagement/managedDevices").json()
    assert first["@odata.count"] == 900
    assert "@odata.count" not in get(sim, bearer, first["@odata.nextLink"]).json()
    sp = get(sim, bearer, f"/servicePrincipals(appId='{cid('shaped')}')").json()["id"]
    assert "@odata.count" not in get(sim, bearer, f"/servicePrincipals/{sp}/appRoleAssignments").json()
    assert "@odata.count" not in get(sim, token(sim, "plain"), "/deviceManagement/managedDevices").json()


def test_error_bodies_with_a_naive_date_and_an_empty_code(sim: RunningSimulator) -> None:
    shaped = get(sim, token(sim, "shaped"), "/deviceAppManagement/mobileApps")  # no DeviceManagementApps grant
    error = error_of(shaped)
    assert shaped.status_code == 403 and error["code"] == ""
    assert not error["innerError"]["date"].endswith("Z") and len(error["innerError"]["date"]) == 19
    assert "following scopes" in json.loads(error["message"])["Message"]
    assert shaped.headers["request-id"] == error["innerError"]["request-id"]
    plain = error_of(get(sim, token(sim, "plain"), "/deviceAppManagement/mobileApps"))
    assert plain["code"] == "Forbidden" and plain["innerError"]["date"].endswith("Z")
