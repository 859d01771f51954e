"""The interactive sign-in side of Entra ID: ``/authorize`` (a tiny form listing the scenario's test users), the
token endpoint's ``authorization_code`` grant with PKCE, and the JWKS that ID tokens are checked against.

Like Entra: a code is single-use (a second redemption is ``invalid_grant`` AADSTS54005), bound to the client id
and redirect URI it was issued for, and to the PKCE challenge (S256 of the code verifier). Codes live 10 minutes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from atlas_sim.scenario import SimApp, SimTenant
from atlas_sim.state import json_response, sim_state

CODE_LIFETIME = 600
_PASSED = ("client_id", "redirect_uri", "state", "nonce", "code_challenge", "code_challenge_method", "scope",
           "response_mode")


@dataclass
class IssuedCode:
    tenant_id: str
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str
    oid: str
    email: str
    name: str
    expires_at: float
    used: bool = False


def _error_page(message: str, status: int = 400) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><title>Sign in</title><p id='error'>{html.escape(message)}</p>",
                        status_code=status)


def _check_request(tenant: SimTenant | None, params: dict[str, str]) -> str | None:
    if tenant is None:
        return "AADSTS90002: Tenant not found."
    if tenant.app(params.get("client_id", "")) is None:
        return "AADSTS700016: Application not found in the directory."
    if not params.get("redirect_uri"):
        return "AADSTS900144: The request body must contain the following parameter: 'redirect_uri'."
    if params.get("code_challenge_method", "S256") != "S256" or not params.get("code_challenge"):
        return "AADSTS9002325: Proof Key for Code Exchange is required for this request."
    return None


async def authorize(request: Request) -> Response:
    state = sim_state(request)
    tenant = state.scenario.tenant(request.path_params["tenant"])
    params = dict(request.query_params) if request.method == "GET" else {
        k: str(v) for k, v in (await request.form()).items()}
    problem = _check_request(tenant, params)
    if problem is not None or tenant is None:
        return _error_page(problem or "")
    if request.method == "GET":
        return _form(tenant, params)
    user = next((u for u in tenant.users if u.email == params.get("login", "").strip().lower()), None)
    if user is None:
        return _error_page("AADSTS50034: The user account does not exist in this directory.")
    code = secrets.token_urlsafe(32)
    state.auth_codes[code] = IssuedCode(
        tenant_id=tenant.id, client_id=params["client_id"].lower(), redirect_uri=params["redirect_uri"],
        code_challenge=params["code_challenge"], nonce=params.get("nonce", ""), oid=user.oid, email=user.email,
        name=user.display_name, expires_at=time.time() + CODE_LIFETIME)
    answer = {"code": code, "state": params.get("state", ""), "session_state": secrets.token_hex(8)}
    separator = "&" if "?" in params["redirect_uri"] else "?"
    return RedirectResponse(f"{params['redirect_uri']}{separator}{urlencode(answer)}", status_code=302)


def _form(tenant: SimTenant, params: dict[str, str]) -> HTMLResponse:
    hidden = "".join(f"<input type='hidden' name='{k}' value='{html.escape(params[k], quote=True)}'>"
                     for k in _PASSED if k in params)
    buttons = "".join(
        f"<button type='submit' name='login' value='{html.escape(u.email, quote=True)}'>"
        f"{html.escape(u.display_name)} ({html.escape(u.email)})</button><br>" for u in tenant.users)
    body = (f"<!doctype html><title>Sign in to {html.escape(tenant.display_name)}</title>"
            f"<h1>Sign in to {html.escape(tenant.display_name)}</h1>"
            f"<form method='post' id='sign-in'>{hidden}{buttons or '<p>No test users.</p>'}</form>")
    return HTMLResponse(body)


def redeem_code(request: Request, tenant: SimTenant, app: SimApp,
                form: dict[str, str]) -> JSONResponse | tuple[int, str, int, str]:
    """The authorization_code grant after client authentication: the token response, or (status, error, AADSTS
    code, description) for entra.token to answer in Entra's error shape."""
    state = sim_state(request)
    issued = state.auth_codes.get(form.get("code", ""))
    if issued is None or issued.tenant_id != tenant.id or issued.expires_at < time.time():
        return 400, "invalid_grant", 70008, "The provided authorization code or refresh token has expired."
    if issued.used:
        return 400, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a " \
                                            "new valid code or use an existing refresh token."
    issued.used = True
    if issued.client_id != app.client_id:
        return 400, "invalid_grant", 700005, "Provided Authorization Code is intended to use against other apps."
    if form.get("redirect_uri") != issued.redirect_uri:
        return 400, "invalid_grant", 50148, "The redirect URI specified in the request does not match the " \
                                            "redirect URI used in the authorization request."
    verifier = form.get("code_verifier", "")
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    if not verifier or not hmac.compare_digest(challenge, issued.code_challenge):
        return 400, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in " \
                                             "the authorization request."
    id_token = state.id_tokens.issue(authority_base=state.authority_base, tenant_id=tenant.id,
                                     client_id=app.client_id, oid=issued.oid, email=issued.email,
                                     name=issued.name, nonce=issued.nonce)
    client_info = base64.urlsafe_b64encode(json.dumps({"uid": issued.oid, "utid": tenant.id}).encode()).decode()
    access_token = state.signer.issue(
        tenant_id=tenant.id, client_id=app.client_id, app_display_name=app.display_name, object_id=issued.oid,
        roles=[], audience="00000003-0000-0000-c000-000000000000", issuer=f"https://sts.windows.net/{tenant.id}/")
    return json_response({"token_type": "Bearer", "scope": "openid profile email", "expires_in": 3599,
                          "ext_expires_in": 3599, "access_token": access_token, "id_token": id_token,
                          "client_info": client_info.rstrip("=")})


async def keys(request: Request) -> JSONResponse:
    state = sim_state(request)
    ref = request.path_params.get("tenant", "common")
    if ref != "common" and state.scenario.tenant(ref) is None:
        return json_response({"error": "invalid_tenant"}, status_code=400)
    return json_response(state.id_tokens.jwks())


ROUTES = [
    Route("/{tenant}/oauth2/v2.0/authorize", authorize, methods=["GET", "POST"]),
    Route("/{tenant}/discovery/v2.0/keys", keys, methods=["GET"]),
]
