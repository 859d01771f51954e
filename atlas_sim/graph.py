"""The Microsoft Graph v1.0 endpoints the simulator serves: one per contract in graph_contracts.yaml, with Graph's
response shapes (graph/samples), paging, $select, $top, $count, and its error bodies:

* 401 InvalidAuthenticationToken for a missing or foreign token;
* 403 Authorization_RequestDenied on directory paths, and Intune's 403 whose ``message`` is itself a JSON document
  naming the scopes ("Application must have one of the following scopes: ...") on Intune paths;
* 400 "Request not applicable to target tenant." (Intune-wrapped) for a tenant without an Intune license;
* 400 BadRequest for unknown segments, properties, query options and skip tokens.

Faults from the scenario (or a test's override) are applied after authentication; see atlas_sim.faults.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from atlas_sim import applications, shapes
from atlas_sim.directory import app_role_id
from atlas_sim.pages import encode, is_listing
from atlas_sim.scenario import MAX_TOP, FaultSpec, SimTenant
from atlas_sim.state import SimState, client_request_id, json_response, request_id, sim_state, utc_now_iso
from atlas_sim.truncation import truncate

# Application permissions that grant each family of calls (Graph's permission tables; any one suffices).
ORGANIZATION_READ = frozenset({
    "Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All",
})
APPLICATION_READ = frozenset({
    "Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All",
})
# Intune names these (in this order) in its 403.
DEVICES_READ = ("DeviceManagementManagedDevices.Read.All", "DeviceManagementManagedDevices.ReadWrite.All")
CONFIGURATION_READ = ("DeviceManagementConfiguration.Read.All", "DeviceManagementConfiguration.ReadWrite.All")
APPS_READ = ("DeviceManagementApps.Read.All", "DeviceManagementApps.ReadWrite.All")

GRAPH_CONTENT_TYPE = ("application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
                      "charset=utf-8")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
UNSUPPORTED_OPTIONS = ("$filter", "$orderby", "$expand", "$search", "$skip", "$apply", "$compute")


@dataclass(frozen=True)
class Caller:
    tenant: SimTenant
    roles: frozenset[str]
    app_id: str
    service_principal_id: str


@dataclass(frozen=True)
class Call:
    """One authenticated Graph request: who, which path (after /v1.0), and the path's captured values."""

    request: Request
    state: SimState
    caller: Caller
    path: str
    match: re.Match[str]

    def query(self, name: str) -> str | None:
        for key, value in self.request.query_params.multi_items():
            if key.lower() == name.lower():
                return value
        return None


Result = dict[str, Any] | Response
Handler = Callable[[Call], Awaitable[Result]]


# -- error bodies -----------------------------------------------------------------------------------------------------

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


def intune_error(request: Request, status: int, code: str, sentence: str,
                 headers: dict[str, str] | None = None) -> JSONResponse:
    """Intune's errors: ``message`` is a JSON document whose "Message" holds the sentence."""
    return graph_error(request, status, code, _intune_document(request, sentence), headers)


def not_licensed(request: Request, answer: str) -> JSONResponse:
    """Intune's three answers for a tenant without Intune: the 400 "not applicable", or a 401/403 UnknownError
    whose message is an OData error wrapping Intune's document (msgraph-sdk-powershell #1257)."""
    if answer == "bad_request":
        return intune_error(request, 400, "BadRequest", "Request not applicable to target tenant.")
    wrapped: dict[str, object] = {
        "ErrorCode": "Forbidden", "Message": _intune_document(request, "An error has occurred"), "Target": None,
        "Details": None, "InnerError": None, "InstanceAnnotations": [], "TypeAnnotation": None}
    return graph_error(request, 401 if answer == "unauthorized" else 403, "UnknownError",
                       json.dumps(wrapped, separators=(",", ":")))


def _intune_document(request: Request, sentence: str) -> str:
    url = f"https://fef.sim.atlas.invalid/StatelessDeviceFEService{request.url.path.removeprefix('/v1.0')}"
    inner = {
        "_version": 3,
        "Message": (f"{sentence} - Operation ID (for customer support): {uuid.uuid4()} - Activity ID: "
                    f"{client_request_id(request)} - Url: {url}?api-version=2024-07-01 - CustomApiErrorPhrase: "),
        "CustomApiErrorPhrase": "",
        "RetryAfter": None,
        "ErrorSourceService": "",
        "HttpHeaders": "{}",
    }
    return json.dumps(inner, indent=2).replace("\n", "\r\n")  # as Intune's front end formats it


def _forbidden(call: Call, scopes: tuple[str, ...] | frozenset[str], intune: bool) -> JSONResponse:
    if intune:
        return intune_error(call.request, 403, "Forbidden",
                            "Application is not authorized to perform this operation. Application must have one of "
                            f"the following scopes: {', '.join(scopes)}")
    return graph_error(call.request, 403, "Authorization_RequestDenied",
                       "Insufficient privileges to complete the operation.")


# -- authentication ---------------------------------------------------------------------------------------------------

def _authenticate(request: Request) -> Caller | JSONResponse:
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
    if state.consistency.token_expired(tenant, claims):
        return graph_error(request, 401, "InvalidAuthenticationToken",
                           "Lifetime validation failed, the token is expired.", challenge)
    roles = claims.get("roles")
    granted = frozenset(r for r in roles if isinstance(r, str)) if isinstance(roles, list) else frozenset()
    return Caller(tenant=tenant, roles=granted, app_id=str(claims.get("appid", "")),
                  service_principal_id=str(claims.get("oid", "")))


# -- $select, paging --------------------------------------------------------------------------------------------------

def _selected(call: Call, known: list[str], type_name: str) -> list[str] | JSONResponse | None:
    """The properties named by ``$select`` (case-insensitive, like Graph), None without one, or Graph's 400."""
    raw = call.query("$select")
    if raw is None:
        return None
    by_lower = {name.lower(): name for name in known}
    chosen: list[str] = []
    for item in (s.strip() for s in raw.split(",")):
        name = by_lower.get(item.lower())
        if name is None:
            return graph_error(call.request, 400, "BadRequest",
                               f"Could not find a property named '{item}' on type 'microsoft.graph.{type_name}'.")
        if name not in chosen:
            chosen.append(name)
    return chosen


def _project(entity: dict[str, Any], chosen: list[str] | None) -> dict[str, Any]:
    if chosen is None:
        return entity
    # The key and the type annotation come back whatever $select says.
    kept = {k: entity[k] for k in ("@odata.type", "id") if k in entity}
    return kept | {name: entity[name] for name in chosen}


def _context(state: SimState, path: str, chosen: list[str] | None, *, entity: bool = False) -> str:
    suffix = f"({','.join(chosen)})" if chosen else ""
    return f"{state.graph_base}/v1.0/$metadata#{path}{suffix}{'/$entity' if entity else ''}"


def _skiptoken(tenant: SimTenant, collection: str, offset: int) -> str:
    raw = f"{tenant.id}|{collection}|{offset}".encode()
    return "X" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _offset(call: Call, collection: str) -> int | JSONResponse:
    token = call.query("$skiptoken")
    if token is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(token[1:] + "=" * (-len(token[1:]) % 4)).decode()
        tenant_id, name, offset = text.split("|")
        if token[:1] != "X" or tenant_id != call.caller.tenant.id or name != collection or int(offset) < 0:
            raise ValueError(text)
        return int(offset)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        return graph_error(call.request, 400, "BadRequest", "The $skiptoken value is not valid.")


def _page(call: Call, *, collection: str, context_path: str, total: int,
          item: Callable[[int], dict[str, Any]], type_name: str, cached: bool = False) -> Result:
    """A page of ``total`` items, each made on demand, with Graph's nextLink, $top and $count behaviour.

    ``cached``: the items never change for this simulator's lifetime, so their encoded JSON is kept (pages.py).
    """
    chosen = _selected(call, [k for k in item(0) if not k.startswith("@")], type_name)
    if isinstance(chosen, JSONResponse):
        return chosen
    size = call.state.scenario.page_sizes[collection]
    top_text = call.query("$top")
    if top_text is not None:
        if not top_text.isdigit() or not 1 <= int(top_text) <= MAX_TOP[collection]:
            return graph_error(call.request, 400, "BadRequest",
                               f"Invalid page size specified: '{top_text}'. Must be between 1 and "
                               f"{MAX_TOP[collection]} inclusive.")
        size = int(top_text)
    offset = _offset(call, collection)
    if isinstance(offset, JSONResponse):
        return offset
    end = min(total, offset + size)
    call.request.state.listing_total = total  # for a truncate_listing fault (atlas_sim.truncation)
    body: dict[str, Any] = {"@odata.context": _context(call.state, context_path, chosen)}
    if offset == 0 and ((call.query("$count") or "").lower() == "true"
                        or shapes.counts_unasked(call.caller.tenant.shapes, call.path)):
        body["@odata.count"] = total
    if end < total:
        query = {k: v for k, v in call.request.query_params.multi_items() if k.lower() != "$skiptoken"}
        query["$skiptoken"] = _skiptoken(call.caller.tenant, collection, end)
        body["@odata.nextLink"] = f"{call.state.graph_base}/v1.0{call.path}?{urlencode(query)}"

    def render() -> list[dict[str, Any]]:
        return [_project(item(i), chosen) for i in range(offset, end)]

    if cached:
        key = (call.caller.tenant.id, collection, offset, end, None if chosen is None else tuple(chosen))
        body["value"] = call.state.pages.items(key, render)
    else:
        body["value"] = render()
    return body


def _single(call: Call, entity: dict[str, Any], context_path: str, type_name: str) -> Result:
    chosen = _selected(call, [k for k in entity if not k.startswith("@")], type_name)
    if isinstance(chosen, JSONResponse):
        return chosen
    return {"@odata.context": _context(call.state, context_path, chosen, entity=True)} | _project(entity, chosen)


# -- directory handlers -----------------------------------------------------------------------------------------------

def _organization_entity(tenant: SimTenant) -> dict[str, Any]:
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


async def organization(call: Call) -> Result:
    if not call.caller.roles & ORGANIZATION_READ:
        return _forbidden(call, ORGANIZATION_READ, intune=False)
    entity = _organization_entity(call.caller.tenant)
    chosen = _selected(call, list(entity), "organization")
    if isinstance(chosen, JSONResponse):
        return chosen
    return {"@odata.context": _context(call.state, "organization", chosen), "value": [_project(entity, chosen)]}


async def service_principal_by_app_id(call: Call) -> Result:
    app_id = call.match.group("app_id")
    if not _GUID.match(app_id):
        return graph_error(call.request, 400, "Request_BadRequest", f"Invalid object identifier '{app_id}'.")
    # "A service principal can retrieve its own details without being granted any application permissions."
    if app_id.lower() != call.caller.app_id.lower() and not call.caller.roles & APPLICATION_READ:
        return _forbidden(call, APPLICATION_READ, intune=False)
    entity = call.state.directory(call.caller.tenant).service_principal_by_app_id(app_id)
    own = call.caller.tenant.app(app_id) if app_id.lower() == call.caller.app_id.lower() else None
    if entity is None or (own is not None and call.state.consistency.service_principal_missing(call.caller.tenant,
                                                                                                own)):
        return graph_error(call.request, 404, "Request_ResourceNotFound",
                           f"Resource '{app_id}' does not exist or one of its queried reference-property objects "
                           "are not present.")
    return _single(call, entity, "servicePrincipals", "servicePrincipal")


async def app_role_assignments(call: Call) -> Result:
    sp_id = call.match.group("sp_id")
    if not _GUID.match(sp_id):
        return graph_error(call.request, 400, "Request_BadRequest", f"Invalid object identifier '{sp_id}'.")
    if not call.caller.roles & APPLICATION_READ:
        return _forbidden(call, APPLICATION_READ, intune=False)
    directory = call.state.directory(call.caller.tenant)
    if not directory.is_service_principal(sp_id):
        return graph_error(call.request, 404, "Request_ResourceNotFound",
                           f"Resource '{sp_id}' does not exist or one of its queried reference-property objects "
                           "are not present.")
    assignments = directory.app_role_assignments(sp_id)
    app = directory.app_by_service_principal_id(sp_id)
    if app is not None:
        hidden = {app_role_id(p) for p in call.state.consistency.hidden_assignments(call.caller.tenant, app)}
        assignments = [a for a in assignments if a["appRoleId"] not in hidden]
    template = {"id": "", "deletedDateTime": None, "appRoleId": "", "createdDateTime": "",
                "principalDisplayName": "", "principalId": "", "principalType": "", "resourceDisplayName": "",
                "resourceId": ""}
    return _page(call, collection="appRoleAssignments", context_path="appRoleAssignments",
                 total=len(assignments), item=lambda i: assignments[i] if assignments else template,
                 type_name="appRoleAssignment")


# -- Intune handlers --------------------------------------------------------------------------------------------------

def _intune_gate(call: Call, scopes: tuple[str, ...]) -> JSONResponse | None:
    if not call.caller.roles & set(scopes):
        return _forbidden(call, scopes, intune=True)
    if not call.caller.tenant.intune.licensed:
        return not_licensed(call.request, call.caller.tenant.intune.unlicensed_answer)
    return None


async def managed_devices(call: Call) -> Result:
    refused = _intune_gate(call, DEVICES_READ)
    if refused is not None:
        return refused
    data = call.state.intune(call.caller.tenant)
    return _page(call, collection="managedDevices", context_path="deviceManagement/managedDevices",
                 total=data.device_count, item=data.device, type_name="managedDevice", cached=True)


async def device_configurations(call: Call) -> Result:
    refused = _intune_gate(call, CONFIGURATION_READ)
    if refused is not None:
        return refused
    data = call.state.intune(call.caller.tenant)
    return _page(call, collection="deviceConfigurations", context_path="deviceManagement/deviceConfigurations",
                 total=call.caller.tenant.intune.configurations, item=data.configuration,
                 type_name="deviceConfiguration", cached=True)


async def device_compliance_policies(call: Call) -> Result:
    refused = _intune_gate(call, CONFIGURATION_READ)
    if refused is not None:
        return refused
    data = call.state.intune(call.caller.tenant)
    return _page(call, collection="deviceCompliancePolicies",
                 context_path="deviceManagement/deviceCompliancePolicies",
                 total=call.caller.tenant.intune.compliance_policies, item=data.compliance_policy,
                 type_name="deviceCompliancePolicy", cached=True)


async def mobile_apps(call: Call) -> Result:
    refused = _intune_gate(call, APPS_READ)
    if refused is not None:
        return refused
    data = call.state.intune(call.caller.tenant)
    return _page(call, collection="mobileApps", context_path="deviceAppManagement/mobileApps",
                 total=call.caller.tenant.intune.mobile_apps, item=data.mobile_app, type_name="mobileApp",
                 cached=True)


async def managed_device_overview(call: Call) -> Result:
    refused = _intune_gate(call, DEVICES_READ)
    if refused is not None:
        return refused
    entity = call.state.intune(call.caller.tenant).overview()
    return _single(call, entity, "deviceManagement/managedDeviceOverview", "managedDeviceOverview")


async def compliance_state_summary(call: Call) -> Result:
    refused = _intune_gate(call, CONFIGURATION_READ)
    if refused is not None:
        return refused
    entity = call.state.intune(call.caller.tenant).compliance_summary()
    return _single(call, entity, "deviceManagement/deviceCompliancePolicyDeviceStateSummary",
                   "deviceCompliancePolicyDeviceStateSummary")


# -- dispatch ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Endpoint:
    pattern: re.Pattern[str]
    handler: Handler
    # The permissions a `forbidden` fault names, and whether Graph answers such paths in Intune's shape.
    scopes: tuple[str, ...]
    intune: bool


def _endpoint(pattern: str, handler: Handler, scopes: tuple[str, ...] | frozenset[str], intune: bool) -> Endpoint:
    return Endpoint(re.compile(f"^{pattern}/?$", re.IGNORECASE), handler, tuple(sorted(scopes)) if not intune
                    else tuple(scopes), intune)


ENDPOINTS = (
    _endpoint(r"/organization", organization, ORGANIZATION_READ, False),
    _endpoint(r"/servicePrincipals\(appId='(?P<app_id>[^']*)'\)", service_principal_by_app_id, APPLICATION_READ,
              False),
    _endpoint(r"/servicePrincipals/(?P<sp_id>[^/]+)/appRoleAssignments", app_role_assignments, APPLICATION_READ,
              False),
    _endpoint(r"/applications\(appId='(?P<app_id>[^']*)'\)", applications.by_app_id, APPLICATION_READ, False),
    _endpoint(r"/deviceManagement/managedDevices", managed_devices, DEVICES_READ, True),
    _endpoint(r"/deviceManagement/deviceConfigurations", device_configurations, CONFIGURATION_READ, True),
    _endpoint(r"/deviceManagement/deviceCompliancePolicies", device_compliance_policies, CONFIGURATION_READ, True),
    _endpoint(r"/deviceAppManagement/mobileApps", mobile_apps, APPS_READ, True),
    _endpoint(r"/deviceManagement/managedDeviceOverview", managed_device_overview, DEVICES_READ, True),
    _endpoint(r"/deviceManagement/deviceCompliancePolicyDeviceStateSummary", compliance_state_summary,
              CONFIGURATION_READ, True),
)

_ERROR_CODES = {500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable", 504: "GatewayTimeout"}


def _fault_response(call: Call, endpoint: Endpoint, spec: FaultSpec) -> Response:
    headers = {"Retry-After": _seconds(spec.retry_after)} if spec.retry_after is not None else None
    if spec.kind == "throttle":
        return graph_error(call.request, 429, "TooManyRequests",
                           "Too many requests from this application; retry after the period in Retry-After.",
                           headers)
    if spec.kind == "server_error":
        return graph_error(call.request, spec.status, _ERROR_CODES[spec.status],
                           "The service is temporarily unavailable. Please retry later.", headers)
    return _forbidden(call, endpoint.scopes, endpoint.intune)


def _over_rate(call: Call, endpoint: Endpoint, retry_after: int | None) -> Response:
    """A 429 from the rate limits: Intune's JSON-in-message form on Intune paths (code TooManyRequests, as
    IntuneCD #217 shows), Graph's plain form elsewhere; Retry-After only when the scenario sends it."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    if endpoint.intune:
        return intune_error(call.request, 429, "TooManyRequests", "An error has occurred", headers)
    return graph_error(call.request, 429, "TooManyRequests", "Too many requests.", headers)


def _seconds(value: float) -> str:
    # HTTP wants whole seconds; fractions are kept so tests can ask for sub-second waits.
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


async def dispatch(request: Request) -> Response:
    state = sim_state(request)
    path = "/" + request.path_params["rest"]
    state.graph_requests += 1
    endpoint = next((e for e in ENDPOINTS if e.pattern.match(path)), None)
    if endpoint is None:
        segment = path.strip("/").split("/")[0] or "v1.0"
        return graph_error(request, 400, "BadRequest", f"Resource not found for the segment '{segment}'.")
    caller = _authenticate(request)
    if isinstance(caller, JSONResponse):
        return caller
    state.graph_requests_by_tenant[caller.tenant.id] += 1
    if request.method != "GET":
        return graph_error(request, 405, "Request_BadRequest",
                           "Specified HTTP method is not allowed for the request target.")
    match = endpoint.pattern.match(path)
    assert match is not None
    call = Call(request, state, caller, path, match)
    unsupported = next((k for k in request.query_params if k.lower() in UNSUPPORTED_OPTIONS), None)
    if unsupported is not None:
        return graph_error(request, 400, "BadRequest",
                           f"Query option '{unsupported}' is not supported by the Atlas simulator.")

    refusal = state.faults.over_rate(caller.app_id, caller.tenant.id, path)
    if refusal is not None:
        return _over_rate(call, endpoint, refusal.retry_after)
    decision = state.faults.decide(caller.tenant.id, path)
    if decision.delay:
        await asyncio.sleep(decision.delay)
    shaped = caller.tenant.shapes
    hop = shapes.empty_hop(shaped, request, state.graph_base, path)
    result = (_fault_response(call, endpoint, decision.terminal) if decision.terminal is not None
              else hop if hop is not None else await endpoint.handler(call))
    if isinstance(result, Response):
        response = shapes.reshape_error(shaped, result)
    else:
        if hop is None:
            shapes.add_hops(shaped, result, request, state.graph_base, path)
        if decision.foreign_host is not None and is_listing(result.get("value")):
            query = urlencode({"$skiptoken": _skiptoken(caller.tenant, "foreign", len(result["value"]))})
            result["@odata.nextLink"] = f"https://{decision.foreign_host}/v1.0{path}?{query}"
        if decision.truncate is not None and is_listing(result.get("value")):
            truncate(result, decision.truncate, getattr(request.state, "listing_total", None))
        response = Response(encode(result), media_type=GRAPH_CONTENT_TYPE)
    if decision.malformed:
        body = bytes(response.body)
        cut = body[: max(1, len(body) // 2)]
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        response = Response(cut, status_code=response.status_code, headers=headers)
    return response


ROUTES = [
    Route("/v1.0/{rest:path}", dispatch, methods=["GET", "POST", "PATCH", "PUT", "DELETE"]),
]
