"""The Entra ID (login) endpoints: OIDC discovery, instance discovery and the client-credentials token grant.

Error bodies follow Entra's shape (error, error_description with CRLF-separated Trace ID / Correlation ID / Timestamp
lines, error_codes, timestamp, trace_id, correlation_id, error_uri) and the HTTP statuses observed from the real
service; see reference/graph-facts.md §1. Token faults and a tenant's cloud come from atlas_sim.token_faults.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import uuid
from urllib.parse import parse_qsl, unquote_plus, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from atlas_sim import sign_in
from atlas_sim.assertions import AssertionRejected, verify_assertion
from atlas_sim.scenario import FaultSpec, SimApp, SimTenant
from atlas_sim.state import SimState, client_request_id, json_response, sim_state, utc_now_iso
from atlas_sim.token_faults import ENTRA_REFUSALS, EntraRefusal, refusal_for, retry_after_header

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
GRAPH_RESOURCES = ("https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000")


def entra_error(request: Request, status: int, error: str, code: int, description: str,
                headers: dict[str, str] | None = None) -> JSONResponse:
    state = sim_state(request)
    trace_id = str(uuid.uuid4())
    correlation_id = client_request_id(request) or str(uuid.uuid4())
    timestamp = utc_now_iso().replace("T", " ").rstrip("Z")
    return json_response({
        "error": error,
        "error_description": (f"AADSTS{code}: {description}\r\nTrace ID: {trace_id}\r\n"
                              f"Correlation ID: {correlation_id}\r\nTimestamp: {timestamp}Z"),
        "error_codes": [code],
        "timestamp": f"{timestamp}Z",
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"{state.authority_base}/error?code={code}",
    }, status_code=status, headers=headers)


def _refused(request: Request, refusal: EntraRefusal, *, tenant: SimTenant, client_id: str = "", scope: str = "",
             headers: dict[str, str] | None = None) -> JSONResponse:
    resource = scope.strip().rpartition("/")[0] or scope
    description = refusal.description.format(client_id=client_id, tenant=tenant.id, resource=resource, scope=scope)
    return entra_error(request, refusal.status, refusal.error, refusal.code, description, headers)


def _fault_answer(request: Request, spec: FaultSpec, tenant: SimTenant, client_id: str, scope: str) -> JSONResponse:
    headers = {"Retry-After": retry_after_header(spec.retry_after)} if spec.retry_after is not None else None
    return _refused(request, refusal_for(spec), tenant=tenant, client_id=client_id, scope=scope, headers=headers)


def _tenant_not_found(request: Request, ref: str, *, at_discovery: bool) -> JSONResponse:
    # Entra answers OIDC discovery with invalid_tenant but the token endpoint with invalid_request.
    return entra_error(
        request, 400, "invalid_tenant" if at_discovery else "invalid_request", 90002,
        f"Tenant '{ref}' not found. Check to make sure you have the correct tenant ID and are signing into the "
        "correct cloud. Check with your subscription administrator, this may happen if there are no active "
        "subscriptions for the tenant.")


async def openid_configuration(request: Request) -> JSONResponse:
    state = sim_state(request)
    ref = request.path_params["tenant"]
    tenant = state.scenario.tenant(ref)
    if tenant is None:
        return _tenant_not_found(request, ref, at_discovery=True)
    return json_response(_oidc_document(state, tenant))


def _oidc_document(state: SimState, tenant: SimTenant) -> dict[str, object]:
    base = f"{state.authority_base}/{tenant.id}"
    document: dict[str, object] = {
        "token_endpoint": f"{base}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": f"{state.authority_base}/{tenant.id}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{base}/v2.0",
        "request_uri_parameter_supported": False,
        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
        "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
        "tenant_region_scope": tenant.discovery.tenant_region_scope,
        "cloud_instance_name": tenant.discovery.cloud_instance_name,
        "cloud_graph_host_name": state.graph_host,
        "msgraph_host": state.graph_host,
    }
    if tenant.discovery.tenant_region_sub_scope:
        document["tenant_region_sub_scope"] = tenant.discovery.tenant_region_sub_scope
    return document


async def instance_discovery(request: Request) -> JSONResponse:
    state = sim_state(request)
    endpoint = request.query_params.get("authorization_endpoint", "")
    parts = urlsplit(endpoint)
    if endpoint and parts.hostname != state.authority_host:
        return entra_error(request, 400, "invalid_instance", 50049,
                           "Unknown or invalid instance.")
    segments = [s for s in parts.path.split("/") if s]
    tenant = segments[0] if segments else "common"
    body: dict[str, object] = {
        "tenant_discovery_endpoint": f"{state.authority_base}/{tenant}/v2.0/.well-known/openid-configuration",
        "api-version": "1.1",
        "metadata": [{
            "preferred_network": state.authority_host,
            "preferred_cache": state.authority_host,
            "aliases": [state.authority_host],
        }],
    }
    known = state.scenario.tenant(tenant)
    if known is not None:
        # The simulator also says here which cloud a named tenant lives in (the OIDC document is the reference).
        body.update(tenant_region_scope=known.discovery.tenant_region_scope,
                    cloud_instance_name=known.discovery.cloud_instance_name)
    return json_response(body)


async def token(request: Request) -> JSONResponse:
    state = sim_state(request)
    state.token_requests += 1
    ref = request.path_params["tenant"]
    tenant = state.scenario.tenant(ref)
    if tenant is None:
        return _tenant_not_found(request, ref, at_discovery=False)
    state.token_requests_by_tenant[tenant.id] += 1
    if tenant.discovery.other_cloud:
        return _refused(request, ENTRA_REFUSALS["wrong_cloud_endpoint"], tenant=tenant)
    form = dict(parse_qsl((await request.body()).decode("utf-8", errors="replace"), keep_blank_values=True))
    basic_id, basic_secret = _basic_credentials(request)
    client_id = form.get("client_id") or basic_id or ""
    client_secret = form.get("client_secret") or basic_secret

    grant = form.get("grant_type")
    if grant not in ("client_credentials", "authorization_code"):
        return entra_error(request, 400, "unsupported_grant_type", 70003,
                           "The app requested an unsupported grant type.")
    if not client_id:
        return entra_error(request, 400, "invalid_request", 900144,
                           "The request body must contain the following parameter: 'client_id'.")
    app = tenant.app(client_id)
    if app is None:
        return entra_error(
            request, 400, "unauthorized_client", 700016,
            f"Application with identifier '{client_id}' was not found in the directory '{tenant.display_name}'. "
            "This can happen if the application has not been installed by the administrator of the tenant or "
            "consented to by any user in the tenant. You may have sent your authentication request to the "
            "wrong tenant.")
    decision = state.token_faults.decide(tenant.id, f"/{app.client_id}")
    if decision.delay:
        await asyncio.sleep(decision.delay)
    if decision.terminal is not None:
        return _fault_answer(request, decision.terminal, tenant, app.client_id, form.get("scope", ""))
    if grant == "authorization_code":
        refused = _client_authentication(request, state, tenant, app, form, client_secret)
        if refused is not None:
            return refused
        answer = sign_in.redeem_code(request, tenant, app, form)
        return answer if isinstance(answer, JSONResponse) else entra_error(request, *answer)
    scope_error = _check_scope(request, form.get("scope", ""))
    if scope_error is not None:
        return scope_error
    refused = _client_authentication(request, state, tenant, app, form, client_secret)
    return refused if refused is not None else json_response(_token_response(state, tenant, app))


def _client_authentication(request: Request, state: SimState, tenant: SimTenant, app: SimApp,
                           form: dict[str, str], client_secret: str | None) -> JSONResponse | None:
    """None when the client proved itself (certificate assertion or secret), else Entra's refusal."""
    if "client_assertion" in form:
        if form.get("client_assertion_type") != JWT_BEARER:
            return entra_error(request, 400, "invalid_request", 50012,
                               "Invalid client assertion type: expected jwt-bearer.")
        try:
            verify_assertion(form["client_assertion"], client_id=app.client_id, certificates=app.certificates,
                             token_endpoint=f"{state.authority_base}/{tenant.id}/oauth2/v2.0/token")
        except AssertionRejected as rejected:
            return entra_error(request, 401, "invalid_client", rejected.code, rejected.description)
        return None
    if not client_secret:
        return entra_error(request, 401, "invalid_client", 7000218,
                           "The request body must contain the following parameter: 'client_assertion' or "
                           "'client_secret'.")
    secret = app.secret_matching(client_secret)
    if secret is None:
        return entra_error(
            request, 401, "invalid_client", 7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
            f"value, not the client secret ID, for a secret added to app '{app.client_id}'.")
    if secret.expired:
        return entra_error(
            request, 401, "invalid_client", 7000222,
            f"The provided client secret keys for app '{app.client_id}' are expired. Visit the Azure portal to "
            f"create new keys for your app.")
    return None


def _check_scope(request: Request, scope: str) -> JSONResponse | None:
    resource, _, suffix = scope.strip().rpartition("/")
    graph_resources = {*GRAPH_RESOURCES, sim_state(request).graph_base}
    if suffix == ".default" and resource in graph_resources:
        return None
    return entra_error(request, 400, "invalid_scope", 1002012,
                       f"The provided value for scope {scope} is not valid. Client credential flows must have a "
                       "scope value with /.default suffixed to the resource identifier (application ID URI).")


def _token_response(state: SimState, tenant: SimTenant, app: SimApp) -> dict[str, object]:
    access_token = state.signer.issue(
        tenant_id=tenant.id, client_id=app.client_id, app_display_name=app.display_name,
        object_id=app.service_principal_id, roles=state.consistency.token_roles(tenant, app),
        audience=GRAPH_RESOURCES[0], issuer=f"https://sts.windows.net/{tenant.id}/")
    return {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": access_token}


def _basic_credentials(request: Request) -> tuple[str | None, str | None]:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None, None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    user, sep, password = decoded.partition(":")
    # RFC 6749 §2.3.1: both halves are form-urlencoded before Basic encoding.
    return (unquote_plus(user), unquote_plus(password)) if sep else (None, None)


ROUTES = [
    Route("/common/discovery/instance", instance_discovery, methods=["GET"]),
    Route("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration, methods=["GET"]),
    Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
]
