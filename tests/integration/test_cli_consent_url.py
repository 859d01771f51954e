"""`atlas connection consent-url ID [--json]`: the admin-consent URL for the connection's cloud and tenant and the
requiredResourceAccess fragment; any viewer may read it (it holds no secret), another tenant's id is not found."""

from __future__ import annotations

import json
import uuid
from typing import Any

from typer.testing import CliRunner

from atlas_cli.main import app
from atlas_services.onboarding import catalogue
from tests.support.factories import create_connection, make_actor

runner = CliRunner()
GRAPH = "00000003-0000-0000-c000-000000000000"


def _invoke(*args: str) -> Any:
    return runner.invoke(app, ["connection", "consent-url", *args])


def test_json_gives_the_url_and_the_manifest_per_capability(db: None) -> None:
    owner = make_actor("owner")
    readonly = make_actor("readonly", tenant_name=owner.tenant_name)
    tenant_id = str(uuid.uuid4())
    view = create_connection(owner, name="Contoso", entra_tenant_id=tenant_id, secret="TEST-ONLY-cli-secret")
    result = _invoke(str(view.id), "--tenant", owner.tenant_name, "--as", readonly.email, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["consent_url"].endswith(f"/{tenant_id}/adminconsent?client_id={view.client_id}")
    [access] = data["required_resource_access"]
    assert access["resourceAppId"] == GRAPH
    assert {a["id"] for a in access["resourceAccess"]} == {
        catalogue().ids[p] for p in ("Organization.Read.All", "Application.Read.All",
                                     "DeviceManagementManagedDevices.Read.All",
                                     "DeviceManagementConfiguration.Read.All", "DeviceManagementApps.Read.All")}
    assert data["capabilities"]["inventory_sync"]["required"][0] == "DeviceManagementManagedDevices.Read.All"
    assert "TEST-ONLY-cli-secret" not in result.output


def test_text_output_lists_each_permission_with_its_id(db: None) -> None:
    owner = make_actor("owner")
    view = create_connection(owner, name="Contoso")
    result = _invoke(str(view.id), "--tenant", owner.tenant_name, "--as", owner.email)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("admin consent: ")
    assert f"Health check: Organization.Read.All ({catalogue().ids['Organization.Read.All']})" in result.output
    assert "Application.Read.All" in result.output and "[recommended]" in result.output
    assert '"resourceAppId": "00000003-0000-0000-c000-000000000000"' in result.output


def test_another_tenants_connection_is_not_found(db: None) -> None:
    owner, stranger = make_actor("owner"), make_actor("owner")
    foreign = create_connection(stranger, name="Foreign")
    answers = [_invoke(target, "--tenant", owner.tenant_name, "--as", owner.email, "--json")
               for target in (str(foreign.id), str(uuid.uuid4()))]
    assert [a.exit_code for a in answers] == [1, 1]
    assert answers[0].output == answers[1].output == json.dumps({"error": "connection not found"}) + "\n"
