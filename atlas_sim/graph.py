"""The Microsoft Graph v1.0 endpoints the simulator serves (one per contract in graph_contracts.yaml)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from atlas_sim.scenario import SimTenant
from atlas_sim.state import client_request_id, json_response, request_id, sim_state, utc_now_iso

# Any one of these application permissions lets an app read /organization (Graph's permissions table).
ORGANIZATION_READ = frozenset({
    "Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All",
})


def graph_error(request: Request, status: int, code: str, message: str,
                headers: dict[str, str] | None = None) -> JSONResponse:
    return json_response({
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": utc_now_iso(),
                "request-id": request_id(request),
                "client-request-id": client_request_id(request),
            },
        },
    }, status_code=status, headers=headers)


def _authenticate(request: Request) -> tuple[SimTenant, frozenset[str]] | JSONResponse:
    """The caller's tenant and granted roles, or the 401 Graph would send."""
    state = sim_state(request)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    challenge = {"WWW-Authenticate": f'Bearer realm="", authorization_uri="{state.authority_base}/common/'
                                     'oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"'}
    if scheme.lower() != "bearer" or not token.strip():
        return graph_error(request, 401, "InvalidAuthenticationToken", "Access token is empty.", challenge)
    claims = state.signer.verify(token.strip())
    tenant = state.scenario.tenant(str(claims.get("tid", ""))) if claims else None
    if claims is None or tenant is None:
        return graph_error(request, 401, "InvalidAuthenticationToken",
                           "Access token validation failure. Invalid audience.", challenge)
    roles = claims.get("roles")
    granted = frozenset(r for r in roles if isinstance(r, str)) if isinstance(roles, list) else frozenset()
    return tenant, granted


def _organization(tenant: SimTenant) -> dict[str, Any]:
    # v1.0 properties only (checked against the CSDL), in Graph's default order.
    return {
        "id": tenant.id,
        "deletedDateTime": None,
        "businessPhones": [],
        "city": None,
        "country": None,
        "countryLetterCode": tenant.country_letter_code,
        "createdDateTime": "2021-08-02T10:30:06Z",
        "defaultUsageLocation": tenant.country_letter_code,
        "displayName": tenant.display_name,
        "marketingNotificationEmails": [],
        "onPremisesLastSyncDateTime": None,
        "onPremisesSyncEnabled": None,
        "partnerTenantType": None,
        "postalCode": None,
        "preferredLanguage": "en",
        "securityComplianceNotificationMails": [],
        "securityComplianceNotificationPhones": [],
        "state": None,
        "street": None,
        "technicalNotificationMails": [f"admin@{tenant.default_domain}"],
        "tenantType": "AAD",
        "assignedPlans": [],
        "privacyProfile": None,
        "provisionedPlans": [],
        "verifiedDomains": [
            {
                "capabilities": "Email, OfficeCommunicationsOnline",
                "isDefault": d.is_default,
                "isInitial": d.is_initial,
                "name": d.name,
                "type": "Managed",
            }
            for d in tenant.verified_domains
        ],
    }


def _apply_select(request: Request, entity: dict[str, Any],
                  type_name: str) -> tuple[dict[str, Any], str] | JSONResponse:
    """Project ``entity`` onto ``$select`` (case-insensitive, like Graph); also returns the context suffix."""
    raw = request.query_params.get("$select")
    if raw is None:
        return entity, ""
    by_lower = {name.lower(): name for name in entity}
    chosen: list[str] = []
    for item in (s.strip() for s in raw.split(",")):
        name = by_lower.get(item.lower())
        if name is None:
            return graph_error(request, 400, "BadRequest",
                               f"Could not find a property named '{item}' on type 'microsoft.graph.{type_name}'.")
        if name not in chosen:
            chosen.append(name)
    # Graph always returns the key, whatever $select says.
    projected = {"id": entity["id"]} | {name: entity[name] for name in chosen}
    return projected, f"({','.join(chosen)})"


async def list_organization(request: Request) -> JSONResponse:
    auth = _authenticate(request)
    if isinstance(auth, JSONResponse):
        return auth
    tenant, roles = auth
    if not roles & ORGANIZATION_READ:
        return graph_error(request, 403, "Authorization_RequestDenied",
                           "Insufficient privileges to complete the operation.")
    selected = _apply_select(request, _organization(tenant), "organization")
    if isinstance(selected, JSONResponse):
        return selected
    entity, context_suffix = selected
    graph_base = sim_state(request).graph_base
    return json_response({"@odata.context": f"{graph_base}/v1.0/$metadata#organization{context_suffix}",
                          "value": [entity]})


async def unknown_segment(request: Request) -> JSONResponse:
    segment = request.path_params["rest"].split("/")[0]
    return graph_error(request, 400, "BadRequest", f"Resource not found for the segment '{segment}'.")


ROUTES = [
    Route("/v1.0/organization", list_organization, methods=["GET"]),
    Route("/v1.0/{rest:path}", unknown_segment),
]
