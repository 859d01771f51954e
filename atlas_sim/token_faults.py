"""The token endpoint's faults and a tenant's discovery facts: what Entra refuses, when it is busy, and which
cloud a tenant lives in.

Token faults use the Graph faults' rule machinery (``every``/``rate``/``after``/``count``, tenant rules before
the scenario's, run-time overrides) on their own lists, so a Graph fault never fires at the token endpoint nor a
token fault at Graph. YAML, at scenario level and per tenant, beside ``faults``::

    token_faults:
      - kind: throttle                  # 429 with Entra's JSON body; retry_after adds a Retry-After header
        retry_after: 2
      - kind: server_error              # status 500 | 502 | 503 | 504 (default 503); retry_after optional
      - kind: slow                      # answer (normally) after `seconds`
        seconds: 3
      - kind: app_disabled              # AADSTS7000112, and the other Entra refusals in ENTRA_REFUSALS
        clients: [<client id>]          # only these apps (default: every app of the tenant)
        count: 2                        # every/rate/after/count as for Graph faults

    tenants:
      - ...
        discovery:                      # the tenant lives in another cloud: OIDC discovery says so, and
          cloud_instance_name: microsoftonline.us   # token requests are refused with AADSTS900439
          tenant_region_scope: USGov
          tenant_region_sub_scope: DODCON            # optional

Bodies follow Entra's shape; the ``error`` strings and HTTP statuses not confirmed by a public source are
marked UNVERIFIED in ENTRA_REFUSALS.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from atlas_sim.faults import FaultBook
from atlas_sim.scenario import FaultSpec, Scenario, ScenarioError, TenantDiscovery, parse_faults

TRANSIENT_KINDS = ("throttle", "server_error", "slow")


@dataclass(frozen=True)
class EntraRefusal:
    status: int
    error: str
    code: int
    description: str  # may name {client_id} and {tenant}


ENTRA_REFUSALS: dict[str, EntraRefusal] = {
    # `unauthorized_client` 400 as for 700016 (UNVERIFIED).
    "app_disabled": EntraRefusal(400, "unauthorized_client", 7000112,
                                 "Application '{client_id}' is disabled."),
    # Text as quoted in public reports (Azure/azure-sdk-for-net#46762); the status is UNVERIFIED.
    "no_service_principal": EntraRefusal(
        401, "invalid_client", 7000229,
        "The client application {client_id} is missing service principal in the tenant {tenant}. See "
        "instructions here: https://go.microsoft.com/fwlink/?linkid=2225119"),
    # `invalid_grant` (UNVERIFIED): MSAL for Java surfaces it as an interaction-required error.
    "conditional_access": EntraRefusal(
        400, "invalid_grant", 53003,
        "Access has been blocked by Conditional Access policies. The access policy does not allow token "
        "issuance."),
    "resource_not_in_tenant": EntraRefusal(
        400, "invalid_resource", 500011,
        "The resource principal named {resource} was not found in the tenant named {tenant}. This can happen if "
        "the application has not been installed by the administrator of the tenant or consented to by any user "
        "in the tenant. You might have sent your authentication request to the wrong tenant."),
    "invalid_scope": EntraRefusal(400, "invalid_scope", 70011,
                                  "The provided value for the input parameter 'scope' is not valid. The scope "
                                  "{scope} is not valid."),
    "scope_not_default": EntraRefusal(
        400, "invalid_scope", 1002012,
        "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with "
        "/.default suffixed to the resource identifier (application ID URI)."),
    # USGClientNotSupportedOnPublicEndpoint; the `error` string and status are UNVERIFIED.
    "wrong_cloud_endpoint": EntraRefusal(
        400, "invalid_request", 900439,
        "USGClientNotSupportedOnPublicEndpoint - the tenant '{tenant}' belongs to another cloud; sign in through "
        "the endpoint of the tenant's cloud."),
}
# Entra's answers when it is busy or failing (AADSTS90055 TenantThrottlingError, 50000 TokenIssuanceError,
# 90006 ExternalServerRetryableError).
THROTTLED = EntraRefusal(429, "temporarily_unavailable", 90055,
                         "TenantThrottlingError - There are too many incoming requests.")
SERVER_ERRORS: dict[int, EntraRefusal] = {
    500: EntraRefusal(500, "server_error", 50000, "TokenIssuanceError - There's an issue with the sign-in service."),
    **{status: EntraRefusal(status, "temporarily_unavailable", 90006,
                            "ExternalServerRetryableError - The service is temporarily unavailable.")
       for status in (502, 503, 504)},
}
TOKEN_FAULT_KINDS = (*TRANSIENT_KINDS, *ENTRA_REFUSALS)
_NAME = re.compile(r"^[A-Za-z0-9.\-]{1,64}$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def parse_token_faults(data: object, where: str = "token_faults") -> tuple[FaultSpec, ...]:
    """Token fault rules, as FaultSpecs whose ``paths`` are ``/{client id}`` (what ``decide`` is asked with)."""
    if not isinstance(data, list):
        raise ScenarioError(f"{where}: expected a list")
    return tuple(_token_fault(item, f"{where}[{i}]") for i, item in enumerate(data))


def _token_fault(data: object, where: str) -> FaultSpec:
    if not isinstance(data, Mapping):
        raise ScenarioError(f"{where}: expected a mapping")
    raw = dict(data)
    kind = raw.get("kind")
    if kind not in TOKEN_FAULT_KINDS:
        raise ScenarioError(f"{where}.kind: {kind!r} is not one of {', '.join(TOKEN_FAULT_KINDS)}")
    clients = raw.pop("clients", [])
    if not isinstance(clients, list) or not all(isinstance(c, str) and _GUID.match(c) for c in clients):
        raise ScenarioError(f"{where}.clients: expected a list of client ids (GUIDs)")
    if "paths" in raw:
        raise ScenarioError(f"{where}: token faults name apps with `clients`, not paths")
    # The shared parser checks the counting and kind-specific fields; refusals take none of the latter.
    spec = parse_faults([{**raw, "kind": "throttle" if kind in ENTRA_REFUSALS else kind}], where)[0]
    if kind in ENTRA_REFUSALS and spec.retry_after is not None:
        raise ScenarioError(f"{where}: retry_after does not apply to kind {kind}")
    return dataclasses.replace(spec, kind=kind, paths=tuple(f"/{c.lower()}" for c in clients))


def parse_discovery(data: object, where: str = "discovery") -> TenantDiscovery:
    if not isinstance(data, Mapping):
        raise ScenarioError(f"{where}: expected a mapping")
    allowed = {"cloud_instance_name", "tenant_region_scope", "tenant_region_sub_scope"}
    unknown = sorted(set(map(str, data)) - allowed)
    if unknown:
        raise ScenarioError(f"{where}: unknown field(s) {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name in allowed & set(data):
        value = data[name]
        if not isinstance(value, str) or not _NAME.match(value):
            raise ScenarioError(f"{where}.{name}: expected a short name such as microsoftonline.us")
        values[name] = value
    return TenantDiscovery(**values)


def token_fault_book(scenario: Scenario) -> FaultBook:
    """A FaultBook over the token fault lists (the Graph book keeps ``faults``)."""
    view = dataclasses.replace(
        scenario, faults=scenario.token_faults,
        tenants=tuple(dataclasses.replace(t, faults=t.token_faults) for t in scenario.tenants))
    return FaultBook(view)


def refusal_for(spec: FaultSpec) -> EntraRefusal:
    """The Entra answer a terminal token fault gives."""
    if spec.kind == "throttle":
        return THROTTLED
    if spec.kind == "server_error":
        return SERVER_ERRORS[spec.status]
    return ENTRA_REFUSALS[spec.kind]


def retry_after_header(seconds: float) -> str:
    # HTTP wants whole seconds; fractions are kept so tests can ask for sub-second waits.
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"
