"""Reading the app registration's credentials: the one in use is matched by the secret's hint or the certificate's
thumbprint; an expired look-alike is never it; several look-alikes take the earliest end (never a late warning)."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from atlas_services.graph.client import GraphClient
from atlas_services.graph.clouds import CLOUDS
from atlas_services.providers.base import ConnectionFacts
from atlas_services.providers.microsoft.app_registration import read_app_credentials, thumbprint
from atlas_services.providers.microsoft.health import with_microsoft_expiry

NOW = datetime.now(UTC).replace(microsecond=0)
TENANT, APP = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
THUMB = bytes(range(20))


def _facts(kind: str = "client_secret", hint: str | None = "abc", thumb: str | None = None) -> ConnectionFacts:
    return ConnectionFacts(connection_id=uuid.uuid4(), tenant_id=uuid.uuid4(), provider="microsoft", cloud="global",
                           entra_tenant_id=TENANT, client_id=APP, credential_kind=kind,
                           credential_secret_hint=hint, credential_thumbprint=thumb)


def _secret(hint: str, days: int, name: str) -> dict[str, Any]:
    return {"keyId": str(uuid.uuid4()), "displayName": name, "hint": hint,
            "endDateTime": (NOW + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")}


def _graph(status: int, body: dict[str, Any]) -> GraphClient:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == f"/v1.0/applications(appId='{APP}')"
        return httpx.Response(status, json=body)

    return GraphClient(CLOUDS["global"], lambda: "token", httpx.Client(transport=httpx.MockTransport(answer)),
                       tenant_id=TENANT, client_id=APP)


def test_an_expired_look_alike_is_never_the_secret_in_use_and_ties_take_the_earliest_end() -> None:
    body = {"passwordCredentials": [_secret("abc", -3, "expired"), _secret("abc", 40, "later"),
                                    _secret("abc", 20, "sooner"), _secret("xyz", 5, "other")], "keyCredentials": []}
    found = read_app_credentials(_graph(200, body), _facts(), may_read=True)
    assert found.source == "microsoft"
    assert [i.display_name for i in found.items if i.in_use] == ["sooner"]
    assert found.note and "2 of the app's unexpired secrets share the hint" in found.note
    assert [i.display_name for i in found.items] == ["expired", "other", "sooner", "later"]


def test_a_certificate_is_matched_by_its_thumbprint() -> None:
    cert = {"keyId": str(uuid.uuid4()), "displayName": "CN=atlas", "usage": "Verify",
            "customKeyIdentifier": base64.b64encode(THUMB).decode(),
            "endDateTime": (NOW + timedelta(days=9)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    found = read_app_credentials(_graph(200, {"passwordCredentials": [], "keyCredentials": [cert]}),
                                 _facts("certificate", None, THUMB.hex().upper()), may_read=None)
    assert found.in_use_end is not None and found.items[0].thumbprint == THUMB.hex().upper()
    facts = with_microsoft_expiry({"kind": "certificate", "expires_at": None, "warning": None}, found, NOW)
    assert facts is not None
    assert (facts["expires_source"], facts["days_left"]) == ("microsoft", 9) and "9 days" in facts["warning"]


def test_no_match_keeps_the_typed_date_and_says_so() -> None:
    found = read_app_credentials(_graph(200, {"passwordCredentials": [_secret("xyz", 5, "other")]}), _facts(),
                                 may_read=True)
    assert found.in_use_end is None and found.note and "typed date" in found.note
    typed = {"kind": "client_secret", "expires_at": "2030-01-01T00:00:00+00:00", "expires_source": "typed"}
    assert with_microsoft_expiry(typed, found) == typed


def test_without_the_permission_nothing_is_requested_and_refusals_are_notes() -> None:
    def never(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    client = GraphClient(CLOUDS["global"], lambda: "token", httpx.Client(transport=httpx.MockTransport(never)),
                         tenant_id=TENANT, client_id=APP)
    assert read_app_credentials(client, _facts(), may_read=False).source == "no_permission"
    forbidden = {"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges"}}
    assert read_app_credentials(_graph(403, forbidden), _facts(), may_read=None).source == "no_permission"
    missing = {"error": {"code": "Request_ResourceNotFound", "message": "x"}}
    assert read_app_credentials(_graph(404, missing), _facts(), may_read=True).source == "not_in_tenant"


def test_thumbprints_decode_only_from_twenty_byte_identifiers() -> None:
    assert thumbprint(base64.b64encode(THUMB).decode()) == THUMB.hex().upper()
    assert thumbprint(base64.b64encode(b"short").decode()) is None
    assert thumbprint("not base64!") is None and thumbprint(None) is None
