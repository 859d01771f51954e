"""What a failed token request means, as a catalogue reason code with a fix that names what to do.

Entra's refusals are read by their AADSTS number (the same ``invalid_client`` covers a wrong and an expired
secret), then by their ``error`` string. Where the cause is the connection's cloud (a scope or resource the tenant
does not know, a tenant that lives elsewhere) the fix names the connection's cloud. When OIDC discovery said that
the tenant lives in another cloud instance than the connection's, that is the diagnosis of any ``auth.*`` refusal:
nothing else about the credential can be right while the cloud is wrong.

Nothing here quotes Entra's error_description or a secret: details carry the AADSTS number and the correlation id.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx
from msal.exceptions import MsalServiceError

from atlas_services.certificates import has_expired
from atlas_services.errors import ProviderError
from atlas_services.graph.clouds import CloudEndpoints
from atlas_services.graph.token_http import SignInBusy, TenantCloud
from atlas_services.reasons import ReasonCode, reason
from atlas_services.secrets import AppCredential, CertificateCredential, SecretValue
from atlas_services.validation import GUID

log = logging.getLogger("atlas.graph.tokens")

AADSTS_REASONS: dict[int, ReasonCode] = {
    7000215: ReasonCode.AUTH_INVALID_CLIENT_SECRET,
    7000222: ReasonCode.AUTH_CLIENT_SECRET_EXPIRED,
    700016: ReasonCode.AUTH_APP_NOT_FOUND,
    90002: ReasonCode.AUTH_TENANT_NOT_FOUND,
    700027: ReasonCode.AUTH_CERTIFICATE_NOT_REGISTERED,  # or expired: see _certificate_reason
    7000112: ReasonCode.AUTH_APP_DISABLED,
    7000229: ReasonCode.AUTH_NO_SERVICE_PRINCIPAL,
    53003: ReasonCode.AUTH_CONDITIONAL_ACCESS_BLOCKED,
    900439: ReasonCode.AUTH_WRONG_CLOUD,
    500011: ReasonCode.AUTH_RESOURCE_NOT_IN_TENANT,
    70011: ReasonCode.AUTH_INVALID_SCOPE,
    1002012: ReasonCode.AUTH_INVALID_SCOPE,
}
ERROR_REASONS: dict[str, ReasonCode] = {
    "invalid_tenant": ReasonCode.AUTH_TENANT_NOT_FOUND,
    "unauthorized_client": ReasonCode.AUTH_APP_NOT_FOUND,
    "invalid_scope": ReasonCode.AUTH_INVALID_SCOPE,
    "invalid_resource": ReasonCode.AUTH_RESOURCE_NOT_IN_TENANT,
}
# Discovery's cloud_instance_name for each cloud Atlas offers (usgov and usgov_dod share Azure Government's).
CLOUD_INSTANCE_NAMES: dict[str, str] = {
    "global": "microsoftonline.com",
    "usgov": "microsoftonline.us",
    "usgov_dod": "microsoftonline.us",
    "china": "partner.microsoftonline.cn",
    "simulator": "sim.atlas.invalid",
}
PASTE_VALUE_REMEDIATION = (
    "The secret looks like a Secret ID (a GUID). In the app registration's Certificates & secrets page, copy the "
    "secret's Value, not its Secret ID, and paste the secret's Value here."
)
# Entra's own wording when the registered certificate is past its end date (a hint only: the local
# certificate's date is checked first).
_EXPIRED_WORDING = re.compile(r"\bexpired\b", re.IGNORECASE)


def refusal(result: dict[str, Any], *, cloud: CloudEndpoints, credential: AppCredential,
            discovered: TenantCloud | None) -> ProviderError:
    """Entra's error answer to a token request."""
    codes = [c for c in result.get("error_codes") or [] if isinstance(c, int)]
    code = next((AADSTS_REASONS[c] for c in codes if c in AADSTS_REASONS), None)
    if code is None:
        code = ERROR_REASONS.get(str(result.get("error")), ReasonCode.AUTH_FAILED)
    if code == ReasonCode.AUTH_CERTIFICATE_NOT_REGISTERED:
        code = _certificate_reason(credential, result.get("error_description"))
    aadsts = f"AADSTS{codes[0]}" if codes else _safe_error(result.get("error"))
    correlation = result.get("correlation_id")
    reference = f"{aadsts}, correlation id {correlation}" if _safe_id(correlation) else aadsts
    log.info("token request refused: %s", aadsts)
    elsewhere = wrong_cloud(cloud, discovered, reference)
    if elsewhere is not None:
        return elsewhere
    detail = f"{reason(code).message} ({reference})"
    return ProviderError(code, detail, _remediation(code, cloud, credential))


def wrong_cloud(cloud: CloudEndpoints, discovered: TenantCloud | None, reference: str) -> ProviderError | None:
    """``auth.wrong_cloud`` when discovery placed the tenant in another cloud instance than ``cloud``'s."""
    expected = CLOUD_INSTANCE_NAMES.get(cloud.name)
    if discovered is None or expected is None or discovered.cloud_instance_name == expected:
        return None
    home = _atlas_cloud(discovered)
    detail = (f"Entra's discovery says this tenant lives in the {discovered.cloud_instance_name} cloud instance "
              f"(region {discovered.region}), not in the '{cloud.name}' cloud this connection signs in to "
              f"({reference}).")
    target = f"the '{home}' cloud" if home else "the tenant's own cloud"
    remediation = (f"This connection uses the '{cloud.name}' cloud ({cloud.authority_host}). Create the connection "
                   f"again with {target}, using an app registered in that cloud: a tenant signs in only through "
                   "its own cloud.")
    return ProviderError(ReasonCode.AUTH_WRONG_CLOUD, detail, remediation)


def _atlas_cloud(found: TenantCloud) -> str | None:
    if found.cloud_instance_name == CLOUD_INSTANCE_NAMES["usgov"]:
        return "usgov_dod" if (found.tenant_region_sub_scope or "").upper() == "DOD" else "usgov"
    return next((name for name, instance in CLOUD_INSTANCE_NAMES.items()
                 if instance == found.cloud_instance_name), None)


def _certificate_reason(credential: AppCredential, description: object) -> ReasonCode:
    # AADSTS700027 covers a certificate that is not registered and one that expired; only the second has a
    # date, so the local certificate's is checked first and Entra's wording second.
    if isinstance(credential, CertificateCredential) and (
            has_expired(credential.certificate_pem)
            or (isinstance(description, str) and _EXPIRED_WORDING.search(description.split("\r\n")[0]))):
        return ReasonCode.AUTH_CERTIFICATE_EXPIRED
    return ReasonCode.AUTH_CERTIFICATE_NOT_REGISTERED


def _remediation(code: ReasonCode, cloud: CloudEndpoints, credential: AppCredential | None = None) -> str | None:
    where = f"This connection uses the '{cloud.name}' cloud ({cloud.authority_host})"
    if code == ReasonCode.AUTH_INVALID_CLIENT_SECRET and isinstance(credential, SecretValue) \
            and GUID.match(credential.reveal().strip()):
        return PASTE_VALUE_REMEDIATION
    if code == ReasonCode.AUTH_TENANT_NOT_FOUND:
        return (f"Check the Entra tenant id (Directory ID). {where}: a tenant that lives in another Microsoft cloud "
                "is not found there; if so, create the connection again with the tenant's cloud.")
    if code == ReasonCode.AUTH_WRONG_CLOUD:
        return (f"{where}, but the tenant belongs to another Microsoft cloud. Create the connection again with the "
                "tenant's cloud (global, usgov, usgov_dod or china), using an app registered there.")
    if code in (ReasonCode.AUTH_RESOURCE_NOT_IN_TENANT, ReasonCode.AUTH_INVALID_SCOPE):
        return (f"{where} and asks for {cloud.graph_scope}, which the tenant's sign-in service does not know. "
                "Check that the tenant lives in that cloud; if it does not, create the connection again with the "
                "tenant's cloud.")
    return None


def busy(exc: SignInBusy) -> ProviderError:
    """The sign-in service kept throttling or failing: never a credential problem."""
    tries = f"after {exc.attempts} attempt{'s' if exc.attempts != 1 else ''}"
    if exc.status == 429:
        asked = f", last asking to wait {exc.retry_after:.0f} s" if exc.retry_after else ""
        return ProviderError(ReasonCode.SIGNIN_THROTTLED,
                             f"The Microsoft sign-in service kept throttling the token requests {tries}{asked}.")
    return ProviderError(ReasonCode.SIGNIN_UNAVAILABLE,
                         f"The Microsoft sign-in service answered HTTP {exc.status} {tries}.")


def from_constructor_value_error(exc: ValueError, cloud: CloudEndpoints) -> ProviderError:
    """MSAL reports an OIDC discovery 4xx (Entra's answer for an unknown tenant) as a bare ValueError whose
    __context__ carries the HTTP status; a 200 with an unreadable body also lands here."""
    context = str(exc.__context__ or "")
    if re.search(r"HTTP status: 4\d\d", context):
        code = ReasonCode.AUTH_TENANT_NOT_FOUND
        return ProviderError(code, None, _remediation(code, cloud))
    if "should consist of an https url" in str(exc):
        return ProviderError(ReasonCode.AUTH_TENANT_NOT_FOUND, "The Entra tenant id is not a valid tenant reference.")
    return ProviderError(ReasonCode.AUTH_FAILED, "The sign-in service sent a configuration Atlas could not read.")


def from_exception(exc: Exception) -> ProviderError:
    if isinstance(exc, SignInBusy):
        return busy(exc)
    if isinstance(exc, httpx.TimeoutException):
        return ProviderError(ReasonCode.SIGNIN_TIMEOUT)
    if isinstance(exc, httpx.TransportError):
        return ProviderError(ReasonCode.NETWORK_UNREACHABLE, "The Microsoft sign-in service could not be reached.")
    if isinstance(exc, MsalServiceError):
        # Not reached through TokenHttpClient, which retries 5xx and raises SignInBusy; kept for any other path.
        return ProviderError(ReasonCode.SIGNIN_UNAVAILABLE)
    if isinstance(exc, ValueError):
        return ProviderError(ReasonCode.AUTH_FAILED, "The sign-in service sent a response Atlas could not read.")
    log.warning("%s while acquiring a Graph token", type(exc).__name__)
    return ProviderError(ReasonCode.AUTH_FAILED)


def _safe_error(value: object) -> str:
    return value if isinstance(value, str) and re.fullmatch(r"[a-z_]{1,40}", value) else "no error code"


def _safe_id(value: object) -> bool:
    return isinstance(value, str) and GUID.match(value) is not None
