"""The one catalogue of reason codes: every failure a user sees ends as one of these."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ReasonCode(StrEnum):
    """Every reason code Atlas stores or shows; an unknown code fails type checking."""

    AUTH_INVALID_CLIENT_SECRET = "auth.invalid_client_secret"  # noqa: S105 - a reason code, not a secret
    AUTH_CLIENT_SECRET_EXPIRED = "auth.client_secret_expired"  # noqa: S105 - a reason code, not a secret
    AUTH_APP_NOT_FOUND = "auth.app_not_found"
    AUTH_TENANT_NOT_FOUND = "auth.tenant_not_found"
    AUTH_CERTIFICATE_NOT_REGISTERED = "auth.certificate_not_registered"
    AUTH_FAILED = "auth.failed"
    AUTH_WRONG_TENANT = "auth.wrong_tenant"
    PERMISSION_MISSING = "permission.missing"
    GRAPH_THROTTLED = "graph.throttled"
    GRAPH_UNAVAILABLE = "graph.unavailable"
    GRAPH_TIMEOUT = "graph.timeout"
    GRAPH_BAD_RESPONSE = "graph.bad_response"
    INTUNE_NOT_LICENSED = "intune.not_licensed"
    INVENTORY_LISTING_INCOMPLETE = "inventory.listing_incomplete"
    NETWORK_UNREACHABLE = "network.unreachable"
    CREDENTIAL_UNAVAILABLE = "credential.unavailable"
    CONNECTION_NO_DEFAULT = "connection.no_default"
    CONNECTION_DISABLED = "connection.disabled"
    CAPABILITY_NOT_AVAILABLE = "capability.not_available"
    # Onboarding and national clouds (issue 14).
    CAPABILITY_NOT_AVAILABLE_IN_CLOUD = "capability.not_available_in_cloud"
    PERMISSION_PROPAGATING = "permission.propagating"
    RUN_SCOPE_BUSY = "run.scope_busy"
    RUN_PARTIAL = "run.partial"
    RUN_NOT_AUTHORIZED = "run.not_authorized"
    RUN_WORKER_LOST = "run.worker_lost"
    RUN_START_TIMEOUT = "run.start_timeout"
    QUEUE_UNAVAILABLE = "queue.unavailable"
    INTERNAL_UNEXPECTED = "internal.unexpected"
    # The token endpoint: Entra's refusals, a tenant of another cloud, a busy or failing sign-in service.
    AUTH_APP_DISABLED = "auth.app_disabled"
    AUTH_NO_SERVICE_PRINCIPAL = "auth.no_service_principal"
    AUTH_CONDITIONAL_ACCESS_BLOCKED = "auth.conditional_access_blocked"
    AUTH_WRONG_CLOUD = "auth.wrong_cloud"
    AUTH_RESOURCE_NOT_IN_TENANT = "auth.resource_not_in_tenant"
    AUTH_INVALID_SCOPE = "auth.invalid_scope"
    AUTH_CERTIFICATE_EXPIRED = "auth.certificate_expired"
    SIGNIN_THROTTLED = "signin.throttled"
    SIGNIN_UNAVAILABLE = "signin.unavailable"
    SIGNIN_TIMEOUT = "signin.timeout"
    ALERT_TARGET_REFUSED = "alert.target_refused"
    ALERT_REDIRECT_REFUSED = "alert.redirect_refused"
    ALERT_REJECTED = "alert.rejected"
    ALERT_UNREACHABLE = "alert.unreachable"
    SSO_NOT_CONFIGURED = "sso.not_configured"
    SSO_FLOW_UNKNOWN = "sso.flow_unknown"
    SSO_STATE_MISMATCH = "sso.state_mismatch"
    SSO_CODE_REFUSED = "sso.code_refused"
    SSO_TOKEN_INVALID = "sso.token_invalid"  # noqa: S105 - a reason code, not a secret
    SSO_TOKEN_EXPIRED = "sso.token_expired"  # noqa: S105 - a reason code, not a secret
    SSO_WRONG_TENANT = "sso.wrong_tenant"
    SSO_WRONG_AUDIENCE = "sso.wrong_audience"
    SSO_NONCE_MISMATCH = "sso.nonce_mismatch"
    SSO_NO_MEMBERSHIP = "sso.no_membership"
    SSO_REQUIRED = "sso.required"


@dataclass(frozen=True)
class Reason:
    code: ReasonCode
    message: str
    remediation: str


_CATALOGUE = [
    Reason(ReasonCode.AUTH_INVALID_CLIENT_SECRET, "Microsoft rejected the client secret.",
           "Create a new client secret in the app registration and paste its Value (not its Secret ID)."),
    Reason(ReasonCode.AUTH_CLIENT_SECRET_EXPIRED, "The client secret has expired.",
           "Create a new client secret in the app registration and rotate the connection's credential."),
    Reason(ReasonCode.AUTH_APP_NOT_FOUND, "The app (client id) was not found in the Entra tenant.",
           "Check the client id, and that the app is registered in or consented to this tenant."),
    Reason(ReasonCode.AUTH_TENANT_NOT_FOUND, "The Entra tenant was not found.",
           "Check the Entra tenant id (Directory ID) of the connection."),
    Reason(ReasonCode.AUTH_CERTIFICATE_NOT_REGISTERED, "The certificate is not registered on the app.",
           "Upload the certificate's public part to the app registration, or rotate to a registered one."),
    Reason(ReasonCode.AUTH_FAILED, "Microsoft refused the token request.",
           "Check the connection's tenant id, client id and credential."),
    Reason(ReasonCode.AUTH_WRONG_TENANT,
           "The credential signed in to a different Entra tenant than the connection names.",
           "Check that the Entra tenant id matches the tenant the app is registered in."),
    Reason(ReasonCode.PERMISSION_MISSING, "The app lacks a Microsoft Graph permission this action needs.",
           "Grant the named application permissions to the app and give admin consent; a new consent can take "
           "several minutes to reach Microsoft Graph."),
    Reason(ReasonCode.GRAPH_THROTTLED, "Microsoft Graph kept throttling the requests.",
           "Try again later; Atlas backs off automatically."),
    Reason(ReasonCode.GRAPH_UNAVAILABLE, "Microsoft Graph was unavailable.", "Try again later."),
    Reason(ReasonCode.GRAPH_TIMEOUT, "Microsoft Graph did not answer in time.", "Try again later."),
    Reason(ReasonCode.GRAPH_BAD_RESPONSE, "Microsoft Graph sent a response Atlas could not read.",
           "Try again later; if it persists, report the request id."),
    Reason(ReasonCode.INTUNE_NOT_LICENSED, "The tenant has no active Intune license, or Intune is not set up there.",
           "Assign an Intune license in the customer tenant and make Intune its MDM authority, or do not run Intune "
           "operations for it."),
    Reason(ReasonCode.INVENTORY_LISTING_INCOMPLETE,
           "Microsoft Graph ended a listing before all of its items; nothing was marked removed.",
           "Nothing is lost: what was last observed is kept. Run the sync again later; if the listing keeps "
           "ending early, compare the count in the Intune admin center and report it to Microsoft."),
    Reason(ReasonCode.NETWORK_UNREACHABLE, "Microsoft could not be reached.",
           "Check the network path from the worker."),
    Reason(ReasonCode.CREDENTIAL_UNAVAILABLE, "The connection's credential cannot be opened.",
           "Rotate the connection's credential."),
    Reason(ReasonCode.CONNECTION_NO_DEFAULT, "The tenant has no default connection.",
           "Create a connection or mark one as the default."),
    Reason(ReasonCode.CONNECTION_DISABLED, "The connection is disabled.", "Enable the connection first."),
    Reason(ReasonCode.CAPABILITY_NOT_AVAILABLE, "This operation is not available yet.", "None."),
    # Onboarding and national clouds (issue 14).
    Reason(ReasonCode.CAPABILITY_NOT_AVAILABLE_IN_CLOUD,
           "This operation needs Microsoft Graph calls that the connection's cloud does not offer.",
           "Run it on a connection in a cloud that offers it; the connection page lists what each cloud lacks."),
    Reason(ReasonCode.PERMISSION_PROPAGATING,
           "A permission is granted in the directory but not yet in the app's access token.",
           "Wait a few minutes for the admin consent to propagate, then run the health check again."),
    Reason(ReasonCode.RUN_SCOPE_BUSY, "Another operation is active on this connection's tenant.",
           "Wait for it to finish, then try again."),
    Reason(ReasonCode.RUN_PARTIAL, "Some sections failed; what they last observed is kept.",
           "See each section's reason in the run's summary."),
    Reason(ReasonCode.RUN_NOT_AUTHORIZED, "The user who started this run may no longer run operations in this tenant.",
           "Ask a member with the provider.run permission to start it again."),
    Reason(ReasonCode.RUN_WORKER_LOST, "The worker running this operation stopped responding.",
           "Start the operation again."),
    Reason(ReasonCode.RUN_START_TIMEOUT, "No worker picked up this operation in time.",
           "Check that a worker is running."),
    Reason(ReasonCode.QUEUE_UNAVAILABLE, "The job queue could not be reached.",
           "Check that Redis (ATLAS_REDIS_URL) is reachable, then start the operation again."),
    Reason(ReasonCode.INTERNAL_UNEXPECTED, "Something unexpected went wrong.",
           "Try again; if it persists, report the run id."),
    # The token endpoint (atlas_services.graph.token_errors adds the connection's cloud where it matters).
    Reason(ReasonCode.AUTH_APP_DISABLED, "The app is disabled in the customer tenant.",
           "In the customer tenant's Entra admin center, open Enterprise applications, find the app by its client "
           "id and set 'Enabled for users to sign in?' to Yes under Properties. If Microsoft disabled the app, its "
           "owner must resolve that in the app registration."),
    Reason(ReasonCode.AUTH_NO_SERVICE_PRINCIPAL,
           "The app has no service principal in the customer tenant: admin consent was never granted there.",
           "Grant admin consent in the customer tenant: the connection's page and `atlas connection consent-url ID` "
           "give the link. Consent creates the service principal; then check the connection again."),
    Reason(ReasonCode.AUTH_CONDITIONAL_ACCESS_BLOCKED,
           "A Conditional Access policy for workload identities blocked the app's sign-in.",
           "In the customer tenant's Entra admin center, open Sign-in logs > Service principal sign-ins, find the "
           "correlation id, and adjust the Conditional Access policy that applied (exclude the app, or allow the "
           "worker's network location)."),
    Reason(ReasonCode.AUTH_WRONG_CLOUD, "The tenant lives in another Microsoft cloud than the connection's.",
           "Create the connection again with the cloud the tenant lives in (global, usgov, usgov_dod or china), "
           "using an app registered in that cloud."),
    Reason(ReasonCode.AUTH_RESOURCE_NOT_IN_TENANT,
           "Microsoft Graph, as the connection's cloud names it, was not found in the tenant.",
           "Check the connection's cloud: the tenant most likely lives in another Microsoft cloud. Create the "
           "connection again with the tenant's cloud."),
    Reason(ReasonCode.AUTH_INVALID_SCOPE,
           "The tenant's sign-in service refused the Microsoft Graph scope of the connection's cloud.",
           "Check the connection's cloud: each cloud has its own Graph scope, and the tenant's sign-in service only "
           "knows its own cloud's."),
    Reason(ReasonCode.AUTH_CERTIFICATE_EXPIRED, "The certificate has expired.",
           "Create a new certificate, upload its public part to the app registration, and rotate the connection's "
           "credential to it."),
    Reason(ReasonCode.SIGNIN_THROTTLED, "The Microsoft sign-in service kept throttling the token requests.",
           "Nothing is wrong with the credential. Atlas waited as Microsoft asked and gave up after its retry "
           "budget; try again later."),
    Reason(ReasonCode.SIGNIN_UNAVAILABLE, "The Microsoft sign-in service kept failing (HTTP 5xx).",
           "Nothing is wrong with the credential. Try again later; if it persists, check Microsoft's service "
           "health for Entra ID."),
    Reason(ReasonCode.SIGNIN_TIMEOUT, "The Microsoft sign-in service did not answer in time.",
           "Nothing is wrong with the credential. Try again later; if it persists, check the network path from "
           "the worker to the cloud's sign-in host."),
    Reason(ReasonCode.ALERT_TARGET_REFUSED, "The alert webhook's host is not allowed, or resolves to a private "
           "or loopback address.", "List the host in ATLAS_ALERT_HOSTS (prefix it with private: to allow a "
           "private address), or set a webhook URL on an allowed host."),
    Reason(ReasonCode.ALERT_REDIRECT_REFUSED, "The alert webhook answered with a redirect; Atlas follows none.",
           "Set the webhook URL the redirect points to, if its host is allowed."),
    Reason(ReasonCode.ALERT_REJECTED, "The alert webhook refused the alert (HTTP 4xx).",
           "Check the webhook URL and kind (Teams, Slack or JSON); a removed webhook must be set again."),
    Reason(ReasonCode.ALERT_UNREACHABLE, "The alert webhook could not be reached or kept failing.",
           "Check the network path from the workers to the webhook's host; Atlas retried with backoff."),
    Reason(ReasonCode.SSO_NOT_CONFIGURED, "Sign in with Microsoft is not set up for this workspace.",
           "Ask an owner to configure it under Sign-in settings, or sign in with your email and password."),
    Reason(ReasonCode.SSO_FLOW_UNKNOWN, "This sign-in link is unknown, expired or already used.",
           "Start again from the sign-in page; each Microsoft sign-in can be completed once, within minutes."),
    Reason(ReasonCode.SSO_STATE_MISMATCH, "The answer from Microsoft does not belong to this sign-in.",
           "Start again from the sign-in page in the same browser."),
    Reason(ReasonCode.SSO_CODE_REFUSED, "Microsoft refused the sign-in code (already used, expired or issued "
           "for another app).", "Start again from the sign-in page; check the sign-in app's client id, secret "
           "and redirect URI."),
    Reason(ReasonCode.SSO_TOKEN_INVALID, "The identity token from Microsoft is malformed or its signature is "
           "not valid.", "Start again; if it persists, check that the configured cloud and tenant are right."),
    Reason(ReasonCode.SSO_TOKEN_EXPIRED, "The identity token from Microsoft has expired.",
           "Start again from the sign-in page; check this server's clock."),
    Reason(ReasonCode.SSO_WRONG_TENANT, "The account belongs to another Entra tenant than the one configured.",
           "Sign in with an account of your company's Entra tenant."),
    Reason(ReasonCode.SSO_WRONG_AUDIENCE, "The identity token was issued for another app.",
           "Check the sign-in app's client id in Sign-in settings."),
    Reason(ReasonCode.SSO_NONCE_MISMATCH, "The identity token does not belong to this sign-in.",
           "Start again from the sign-in page."),
    Reason(ReasonCode.SSO_NO_MEMBERSHIP, "This Microsoft account is not a member of the workspace.",
           "Ask an owner for an invitation sent to your verified email address, then sign in with Microsoft."),
    Reason(ReasonCode.SSO_REQUIRED, "This workspace requires Sign in with Microsoft.",
           "Use the 'Sign in with Microsoft' button; only the named break-glass owner may use a password."),
]

# Failures that say nothing about the connection's credential: Microsoft (or the way to it) was busy or down.
TRANSIENT: frozenset[ReasonCode] = frozenset({
    ReasonCode.SIGNIN_THROTTLED, ReasonCode.SIGNIN_UNAVAILABLE, ReasonCode.SIGNIN_TIMEOUT, ReasonCode.GRAPH_THROTTLED,
    ReasonCode.GRAPH_UNAVAILABLE, ReasonCode.GRAPH_TIMEOUT, ReasonCode.NETWORK_UNREACHABLE})

REASONS: dict[ReasonCode, Reason] = {reason.code: reason for reason in _CATALOGUE}


def reason(code: ReasonCode) -> Reason:
    """The catalogue entry for ``code``; a code outside the catalogue is a programming error (KeyError)."""
    return REASONS[ReasonCode(code)]
