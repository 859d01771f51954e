"""Directory objects: the tenant's service principals (one per app registration, plus Microsoft Graph's own) and the
app role assignments that record which Graph application permissions each app was granted."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any

from atlas_sim.scenario import SimApp, SimTenant

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
# The Microsoft Services tenant, which owns Microsoft's first-party apps.
MICROSOFT_SERVICES_TENANT = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"

# App role ids of Graph's application permissions, as in Microsoft's Graph permissions reference (the same ids as
# atlas_services/graph_permissions.yaml, where their provenance is noted; a unit test keeps the two equal). Other
# names get a stable made-up id.
KNOWN_APP_ROLE_IDS = {
    "Application.Read.All": "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30",
    "Application.ReadWrite.All": "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",
    "Directory.Read.All": "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
    "Directory.ReadWrite.All": "19dbc75e-c2e2-444c-a770-ec69d8559fc7",
    "Organization.Read.All": "498476ce-e0fe-48b0-b801-37ba7e2685c6",
    "Organization.ReadWrite.All": "292d869f-3427-49a8-9dab-8c70152b74e9",
    "DeviceManagementManagedDevices.Read.All": "2f51be20-0bb4-4fed-bf7b-db946066c75e",
    "DeviceManagementManagedDevices.ReadWrite.All": "243333ab-4d21-40cb-a475-36241daa0842",
    "DeviceManagementConfiguration.Read.All": "dc377aa6-52d8-4e23-b271-2a7ae04cedf3",
    "DeviceManagementConfiguration.ReadWrite.All": "9241abd9-d0e6-425a-bd4f-47ba86e767a4",
    "DeviceManagementApps.Read.All": "7a6ee1e7-141e-4cec-ae74-d9db155731ff",
    "DeviceManagementApps.ReadWrite.All": "78145de6-330d-4800-a6ce-494ff2d33d07",
}
# The permissions Graph's service principal offers in the simulator, besides any a scenario grants.
CATALOGUE = (
    "Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All",
    "Organization.Read.All", "Organization.ReadWrite.All",
    "DeviceManagementManagedDevices.Read.All", "DeviceManagementManagedDevices.ReadWrite.All",
    "DeviceManagementConfiguration.Read.All", "DeviceManagementConfiguration.ReadWrite.All",
    "DeviceManagementApps.Read.All", "DeviceManagementApps.ReadWrite.All",
    "DeviceManagementServiceConfig.Read.All",
)


def app_role_id(permission: str) -> str:
    return KNOWN_APP_ROLE_IDS.get(permission) or str(uuid.uuid5(uuid.NAMESPACE_URL,
                                                                  f"atlas-sim:graph-app-role:{permission}"))


def graph_service_principal_id(tenant: SimTenant) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"atlas-sim:graph-sp:{tenant.id}"))


def _app_role(permission: str) -> dict[str, Any]:
    words = permission.split(".")
    action = "read and write" if "ReadWrite" in words else "read"
    return {
        "allowedMemberTypes": ["Application"],
        "description": f"Allows the app to {action} {words[0]} data without a signed-in user.",
        "displayName": f"{'Read and write' if action != 'read' else 'Read'} {words[0]} data",
        "id": app_role_id(permission),
        "isEnabled": True,
        "origin": "Application",
        "value": permission,
    }


def _service_principal(*, sp_id: str, app_id: str, display_name: str, owner_tenant: str,
                       app_roles: list[dict[str, Any]]) -> dict[str, Any]:
    # v1.0 properties only, in the order Graph lists them.
    return {
        "id": sp_id,
        "deletedDateTime": None,
        "accountEnabled": True,
        "alternativeNames": [],
        "appDescription": None,
        "appDisplayName": display_name,
        "appId": app_id,
        "applicationTemplateId": None,
        "appOwnerOrganizationId": owner_tenant,
        "appRoleAssignmentRequired": False,
        "description": None,
        "disabledByMicrosoftStatus": None,
        "displayName": display_name,
        "homepage": None,
        "loginUrl": None,
        "logoutUrl": None,
        "notes": None,
        "notificationEmailAddresses": [],
        "preferredSingleSignOnMode": None,
        "preferredTokenSigningKeyThumbprint": None,
        "replyUrls": [],
        "servicePrincipalNames": [app_id],
        "servicePrincipalType": "Application",
        "signInAudience": "AzureADMultipleOrgs",
        "tags": ["WindowsAzureActiveDirectoryIntegratedApp"],
        "tokenEncryptionKeyId": None,
        "addIns": [],
        "appRoles": app_roles,
        "info": {"logoUrl": None, "marketingUrl": None, "privacyStatementUrl": None, "supportUrl": None,
                 "termsOfServiceUrl": None},
        "keyCredentials": [],
        "oauth2PermissionScopes": [],
        "passwordCredentials": [],
        "resourceSpecificApplicationPermissions": [],
        "verifiedPublisher": {"displayName": None, "verifiedPublisherId": None, "addedDateTime": None},
    }


class Directory:
    def __init__(self, tenant: SimTenant, reference: datetime) -> None:
        self.tenant = tenant
        self.reference = reference

    def graph_permissions(self) -> list[str]:
        granted = sorted({p for app in self.tenant.apps for p in app.consented} - set(CATALOGUE))
        return [*CATALOGUE, *granted]

    def service_principal_by_app_id(self, app_id: str) -> dict[str, Any] | None:
        wanted = app_id.strip().lower()
        if wanted == GRAPH_APP_ID:
            return _service_principal(
                sp_id=graph_service_principal_id(self.tenant), app_id=GRAPH_APP_ID, display_name="Microsoft Graph",
                owner_tenant=MICROSOFT_SERVICES_TENANT,
                app_roles=[_app_role(p) for p in self.graph_permissions()])
        app = self.tenant.app(wanted)
        return self._app_sp(app) if app is not None else None

    def app_by_service_principal_id(self, sp_id: str) -> SimApp | None:
        return next((a for a in self.tenant.apps if a.service_principal_id == sp_id.lower()), None)

    def is_service_principal(self, sp_id: str) -> bool:
        return sp_id.lower() == graph_service_principal_id(self.tenant) or \
            self.app_by_service_principal_id(sp_id) is not None

    def _app_sp(self, app: SimApp) -> dict[str, Any]:
        return _service_principal(sp_id=app.service_principal_id, app_id=app.client_id,
                                  display_name=app.display_name, owner_tenant=self.tenant.id, app_roles=[])

    def app_role_assignments(self, sp_id: str) -> list[dict[str, Any]]:
        """Graph app roles granted to the service principal ``sp_id`` (none for Graph's own)."""
        app = self.app_by_service_principal_id(sp_id)
        if app is None:
            return []
        resource_id = graph_service_principal_id(self.tenant)
        assignments = []
        for permission in sorted(app.consented):
            digest = hashlib.sha256(f"{app.service_principal_id}:{permission}".encode()).digest()
            assignments.append({
                # Graph's assignment ids are 43-character base64url strings.
                "id": base64.urlsafe_b64encode(digest).decode().rstrip("="),
                "deletedDateTime": None,
                "appRoleId": app_role_id(permission),
                "createdDateTime": (self.reference - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S.%f0Z"),
                "principalDisplayName": app.display_name,
                "principalId": app.service_principal_id,
                "principalType": "ServicePrincipal",
                "resourceDisplayName": "Microsoft Graph",
                "resourceId": resource_id,
            })
        return assignments
