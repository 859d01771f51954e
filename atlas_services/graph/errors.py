"""Graph failures as catalogue reason codes: what an HTTP error from Microsoft Graph means for the user.

Graph's own error text is free text from outside: it is parsed (for the permissions an Intune 403 names, and
for a missing Intune license), never shown.

Intune answers a tenant where it is not licensed or not provisioned in three forms, all ``intune.not_licensed``:
a 400 whose Intune document says "Request not applicable to target tenant.", and a 401 or a 403 with
``code: "UnknownError"`` whose message is an OData error ``{"ErrorCode":"Forbidden","Message":"<Intune's own JSON
document: 'An error has occurred - Operation ID ...'>",...}`` (msgraph-sdk-powershell #1257, M365Documentation #39).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from atlas_services.errors import ProviderError
from atlas_services.graph.contracts import Contract
from atlas_services.reasons import ReasonCode

log = logging.getLogger("atlas.graph")

INTUNE_NOT_LICENSED = ReasonCode.INTUNE_NOT_LICENSED
INTUNE_NOT_LICENSED_REMEDIATION = ("Assign an Intune license (for example Microsoft Intune Plan 1 or Microsoft 365 "
                                   "E3/E5/Business Premium) in the customer tenant and make sure Intune is its MDM "
                                   "authority, or do not run Intune operations for it.")
_ERROR_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_.]{0,63}$")
_SCOPES_IN_MESSAGE = re.compile(r"one of the following scopes:\s*([A-Za-z., ]+)")
_NOT_LICENSED = re.compile(r"request not applicable to target tenant", re.IGNORECASE)
_PERMISSION = re.compile(r"^[A-Z][A-Za-z]*(\.[A-Z][A-Za-z]*)+$")
NOT_REPLICATED_REMEDIATION = ("Right after an app is added to or consented in a tenant, the directory can take a few "
                              "minutes to show its service principal everywhere; try again later.")
PROPAGATION_REMEDIATION = (
    "The directory already shows the permission as granted, but Microsoft Graph still refused a freshly issued "
    "token: a new admin consent can take several minutes (occasionally up to an hour) to propagate. Wait, then run "
    "the operation again; if it persists, grant admin consent again.")


class GraphRequestError(ProviderError):
    """A Graph call failed; carries the request id Microsoft support asks for and, for a 403, the permissions
    that would grant the call (from Intune's own message when it names them, else from the contract)."""

    def __init__(self, code: ReasonCode, detail: str | None = None, remediation: str | None = None, *,
                 contract_key: str | None = None, status_code: int | None = None,
                 request_id: str | None = None, graph_code: str | None = None,
                 missing_permissions: Sequence[str] = ()) -> None:
        if request_id and detail:
            detail = f"{detail} (request id {request_id})"
        super().__init__(code, detail, remediation)
        self.contract_key = contract_key
        self.status_code = status_code
        self.request_id = request_id
        self.graph_code = graph_code
        self.missing_permissions = tuple(missing_permissions)


@dataclass
class Attempts:
    attempt: int = 0
    timeouts: int = 0
    waited: float = 0.0
    last_retry_after: float | None = None
    server_errors: int = 0
    # One new token per request (a 401, or a 403 for a permission the directory shows as granted).
    refreshed: bool = False
    # The permissions (among the contract's) that the directory showed as granted when Graph refused them.
    granted_in_directory: tuple[str, ...] = ()


def attempts_detail(what: str, state: Attempts) -> str:
    return f"{what} after {state.attempt} attempt{'s' if state.attempt != 1 else ''}."


def error_for(response: httpx.Response, contract: Contract, request_id: str | None,
               state: Attempts) -> GraphRequestError:
    status = response.status_code
    graph_code, message = _graph_error(response)
    inner = _intune_message(message)
    log.info("graph %s failed: HTTP %s %s (request id %s)", contract.key, status, graph_code or "", request_id)
    missing: list[str] = []
    remediation = None
    if status in (400, 401, 403) and _intune_not_available(inner, message):
        code = INTUNE_NOT_LICENSED
        detail = ("The tenant has no active Intune license (or Intune is not set up there), so Microsoft Graph "
                  f"refuses Intune requests (HTTP {status}).")
        remediation = INTUNE_NOT_LICENSED_REMEDIATION
    elif status == 401:
        code, detail = ReasonCode.AUTH_FAILED, "Microsoft Graph did not accept the access token."
    elif status == 403 and state.granted_in_directory:
        missing = list(state.granted_in_directory)
        code = ReasonCode.PERMISSION_MISSING
        detail = (f"Microsoft Graph refused '{contract.key}' although the directory shows {', '.join(missing)} "
                  "granted to the app, also with a newly issued token: a new admin consent can take minutes to "
                  "propagate.")
        remediation = PROPAGATION_REMEDIATION
    elif status == 403:
        missing = _scopes_from_message(inner) or list(contract.permissions)
        code = ReasonCode.PERMISSION_MISSING
        detail = (f"Microsoft Graph refused '{contract.key}': the app needs one of these application permissions: "
                  f"{', '.join(missing)}.")
    elif status == 429:
        code = ReasonCode.GRAPH_THROTTLED
        asked = state.last_retry_after
        wait = f", last asking to wait {asked:.0f} s" if asked is not None and asked >= 1 else ""
        detail = attempts_detail(f"Microsoft Graph kept throttling the requests{wait}", state)
    elif status >= 500:
        code, detail = ReasonCode.GRAPH_UNAVAILABLE, attempts_detail(f"Microsoft Graph answered HTTP {status}", state)
    elif status == 404 and graph_code == "Request_ResourceNotFound":
        code = ReasonCode.GRAPH_BAD_RESPONSE
        detail = "Microsoft Graph did not find the directory object (Request_ResourceNotFound)."
        remediation = NOT_REPLICATED_REMEDIATION
    else:
        suffix = f" ({graph_code})" if graph_code else ""
        code, detail = ReasonCode.GRAPH_BAD_RESPONSE, f"Microsoft Graph refused the request with HTTP {status}{suffix}."
    return GraphRequestError(code, detail, remediation, contract_key=contract.key, status_code=status,
                             request_id=request_id, graph_code=graph_code, missing_permissions=missing)


def _graph_error(response: httpx.Response) -> tuple[str | None, str]:
    """Graph's error code (only if it looks like an identifier) and raw message; the message is parsed, never
    shown, because it is free text from outside."""
    try:
        error = response.json().get("error", {})
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None, ""
    if not isinstance(error, dict):
        return None, ""
    code = error.get("code")
    message = error.get("message")
    return (code if isinstance(code, str) and _ERROR_CODE.match(code) else None,
            message if isinstance(message, str) else "")


def _intune_not_available(inner: str, message: str) -> bool:
    """Intune's answer for a tenant without (a provisioned) Intune: the "not applicable" sentence, or the doubly
    nested ``{"ErrorCode":"Forbidden"}`` document whose Intune message names no missing scope."""
    if _NOT_LICENSED.search(inner):
        return True
    outer = _json_object(message)
    nested = outer.get("Message") if outer is not None else None
    if outer is None or outer.get("ErrorCode") != "Forbidden" or not isinstance(nested, str):
        return False
    return _SCOPES_IN_MESSAGE.search(_intune_message(nested)) is None


def _json_object(text: str) -> dict[str, object] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _intune_message(message: str) -> str:
    """Intune puts a JSON document in ``error.message`` whose "Message" is the sentence; other services put the
    sentence there directly."""
    try:
        inner = json.loads(message)
    except ValueError:
        return message
    text = inner.get("Message") if isinstance(inner, dict) else None
    return text if isinstance(text, str) else message


def _scopes_from_message(text: str) -> list[str]:
    """Permissions named by Intune's 403: "... must have one of the following scopes: A, B - Operation ID ..."."""
    match = _SCOPES_IN_MESSAGE.search(text)
    if not match:
        return []
    names = [n.strip().rstrip(".") for n in match.group(1).split(",")]
    return list(dict.fromkeys(n for n in names if _PERMISSION.match(n)))
