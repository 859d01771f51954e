"""The HTTP plumbing under MSAL and GraphClient: simulator routing and MSAL's http_client contract."""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx
import pytest

from atlas_services.graph.clouds import CLOUDS, get_cloud
from atlas_services.graph.http import MsalHttpClient, SimulatorRoutingTransport


class Recorder:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return httpx.Response(200, text="{}")


def test_simulator_hosts_are_routed_to_the_simulator_url_keeping_path_query_and_host_header() -> None:
    recorder = Recorder()
    transport = SimulatorRoutingTransport("http://127.0.0.1:8765/base", inner=httpx.MockTransport(recorder))
    with httpx.Client(transport=transport) as client:
        client.get("https://graph.sim.atlas.invalid/v1.0/organization", params={"$select": "id"})
    sent = recorder.requests[0]
    assert (sent.url.scheme, sent.url.host, sent.url.port) == ("http", "127.0.0.1", 8765)
    assert sent.url.path == "/base/v1.0/organization"
    assert sent.url.params["$select"] == "id"
    assert sent.headers["host"] == "graph.sim.atlas.invalid"


def test_the_simulator_transport_refuses_real_microsoft_hosts() -> None:
    recorder = Recorder()
    transport = SimulatorRoutingTransport("http://127.0.0.1:8765", inner=httpx.MockTransport(recorder))
    with httpx.Client(transport=transport) as client, pytest.raises(httpx.ConnectError):
        client.get("https://login.microsoftonline.com/common/discovery/instance")
    assert recorder.requests == []


def test_msal_adapter_decodes_bytes_and_drops_none_values() -> None:
    # MSAL passes a certificate's client_assertion as bytes; sent raw, httpx would post "b'eyJ...'".
    recorder = Recorder()
    adapter = MsalHttpClient(httpx.Client(transport=httpx.MockTransport(recorder)))
    response = adapter.post("https://login.example/t/oauth2/v2.0/token",
                            data={"client_assertion": b"eyJhbGciOi.x.y", "client_id": "c", "claims": None},
                            headers={"client-request-id": None, "x-client-sku": "MSAL.Python"})
    assert (response.status_code, response.text) == (200, "{}")
    sent = recorder.requests[0]
    assert parse_qs(sent.content.decode()) == {"client_assertion": ["eyJhbGciOi.x.y"], "client_id": ["c"]}
    assert "client-request-id" not in sent.headers
    adapter.get("https://login.example/t/v2.0/.well-known/openid-configuration", params={"a": "1", "b": None})
    assert dict(recorder.requests[1].url.params) == {"a": "1"}


def test_msal_adapter_sends_string_bodies_as_is() -> None:
    recorder = Recorder()
    MsalHttpClient(httpx.Client(transport=httpx.MockTransport(recorder))).post("https://x.example/", data="a=b&c=d")
    assert recorder.requests[0].content == b"a=b&c=d"


def test_clouds_name_their_hosts() -> None:
    assert get_cloud("global").authority_url("t") == "https://login.microsoftonline.com/t"
    assert get_cloud("usgov_dod").graph_scope == "https://dod-graph.microsoft.us/.default"
    assert CLOUDS["simulator"].is_simulator and not CLOUDS["global"].is_simulator
    assert set(CLOUDS) == {"global", "usgov", "usgov_dod", "china", "simulator"}
    with pytest.raises(ValueError, match="unknown cloud"):
        get_cloud("moon")
