"""The canary sweep's upload half (issue 9): a unique PFX and its unique passphrase sent through ``POST /_upload``
by the real form, and a unique secret in a refused upload (a stolen tab token without the cookie); then no
encoding of any of them in a websocket frame, the upload's own answer, the page's HTML, the web output, a full
pg_dump or Redis.

The e2e web app keeps Reflex state in memory; the state store's bytes are swept at the handler level by
tests/integration/web/test_handler_behaviour.py (a PFX upload is read in the handler and not kept)."""

from __future__ import annotations

import base64
import http.client
import json
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from atlas_app.pages.connections import ConnectionsState
from tests.support.browser import WEB_LOGS, open_signed_in_page
from tests.support.canary import encodings, key_fingerprints, pg_dump_text, redis_text
from tests.support.certificates import make_certificate
from tests.support.database import reset_and_seed_demo

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.e2e

PASSPHRASE = f"CANARY-PASS~{uuid.uuid4().hex}"
REFUSED_SECRET = f"CANARY-REFUSED~{uuid.uuid4().hex}"
CERTIFICATE = make_certificate("atlas-upload-canary", key_index=6)
PFX = CERTIFICATE.pfx(PASSPHRASE.encode())
NEEDLES = {**{f"passphrase/{k}": v for k, v in encodings(PASSPHRASE).items()},
           **{f"refused-secret/{k}": v for k, v in encodings(REFUSED_SECRET).items()},
           **{f"key/{k}": v for k, v in key_fingerprints(CERTIFICATE.private_key_pem).items()},
           "pfx/hex": PFX[len(PFX) // 2:len(PFX) // 2 + 24].hex(),
           "pfx/base64": base64.b64encode(PFX[len(PFX) // 2:len(PFX) // 2 + 30]).decode()}


def _hits(haystack: str, where: str) -> list[str]:
    return [f"{where}: {name}" for name, needle in NEEDLES.items() if needle in haystack]


def _refused_upload(base_url: str, tab_token: str) -> int:
    """A stolen tab token, no cookie: the upload the gate refuses, carrying a canary secret."""
    boundary = f"atlas{uuid.uuid4().hex}"
    args = {"form_data": {"name": "refused", "cloud": "simulator", "entra_tenant_id": str(uuid.uuid4()),
                          "client_id": str(uuid.uuid4()), "credential_kind": "secret",
                          "client_secret": REFUSED_SECRET}}
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"__reflex_event_args\"\r\n\r\n"
            f"{json.dumps(args)}\r\n--{boundary}--\r\n").encode()
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("POST", "/_upload", body=body, headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}", "Origin": base_url,
            "reflex-client-token": tab_token,
            "reflex-event-handler": f"{ConnectionsState.get_full_name()}.create_connection"})
        return conn.getresponse().status
    finally:
        conn.close()


def test_canaries_sent_through_the_upload_path_reach_neither_the_browser_nor_any_store(
        browser: Browser, web_app: str) -> None:
    demo = reset_and_seed_demo()
    owner = next(user for user in demo["users"] if user["role"] == "owner")
    page = open_signed_in_page(browser, web_app, owner["email"], owner["password"])
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))))
    uploads: list[Any] = []  # an upload's state updates come back in its own HTTP response, not on the socket
    page.on("response", lambda response: uploads.append(response) if "/_upload" in response.url else None)
    page.reload()  # a fresh socket, now observed from its first frame
    page.wait_for_url("**/connections**")

    name = f"Upload canary {uuid.uuid4().hex[:4]}"
    page.get_by_test_id("create-kind-pfx").click()
    page.locator('[data-testid="create_pfx"] input[type="file"]').set_input_files(
        files=[{"name": "canary.pfx", "mimeType": "application/x-pkcs12", "buffer": PFX}])
    page.get_by_test_id("create-pfx-passphrase").fill(PASSPHRASE)
    page.get_by_test_id("create-name").fill(name)
    page.get_by_test_id("create-entra-tenant-id").fill(str(uuid.uuid4()))
    page.get_by_test_id("create-client-id").fill(str(uuid.uuid4()))
    page.get_by_test_id("create-connection").click()
    expect(page.get_by_test_id("notice")).to_contain_text(f"Connection '{name}' created.")

    assert _refused_upload(web_app, page.evaluate("window.sessionStorage.getItem('token')")) == 403
    html = page.content()
    answers = "\n".join(response.text() for response in uploads)
    page.context.close()

    assert len(frames) > 3 and name in answers  # the frames and the upload's answer were captured
    web_output = "\n".join(path.read_text(errors="replace") for path in WEB_LOGS if path.exists())
    found = (_hits("\n".join(frames), "websocket frames") + _hits(answers, "upload responses")
             + _hits(html, "page HTML")
             + _hits(web_output, "web output") + _hits(pg_dump_text(), "pg_dump") + _hits(redis_text(), "redis"))
    assert found == []
