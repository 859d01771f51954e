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
    RUN_SCOPE_BUSY = "run.scope_busy"
    RUN_PARTIAL = "run.partial"
    RUN_NOT_AUTHORIZED = "run.not_authorized"
    RUN_WORKER_LOST = "run.worker_lost"
    RUN_START_TIMEOUT = "run.start_timeout"
    QUEUE_UNAVAILABLE = "queue.unavailable"
    INTERNAL_UNEXPECTED = "internal.unexpected"


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
           "Grant the named application permissions to the app and give admin consent."),
    Reason(ReasonCode.GRAPH_THROTTLED, "Microsoft Graph kept throttling the requests.",
           "Try again later; Atlas backs off automatically."),
    Reason(ReasonCode.GRAPH_UNAVAILABLE, "Microsoft Graph was unavailable.", "Try again later."),
    Reason(ReasonCode.GRAPH_TIMEOUT, "Microsoft Graph did not answer in time.", "Try again later."),
    Reason(ReasonCode.GRAPH_BAD_RESPONSE, "Microsoft Graph sent a response Atlas could not read.",
           "Try again later; if it persists, report the request id."),
    Reason(ReasonCode.INTUNE_NOT_LICENSED, "The tenant has no active Intune license.",
           "Assign an Intune license in the customer tenant, or do not run Intune operations for it."),
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
]

REASONS: dict[ReasonCode, Reason] = {reason.code: reason for reason in _CATALOGUE}


def reason(code: ReasonCode) -> Reason:
    """The catalogue entry for ``code``; a code outside the catalogue is a programming error (KeyError)."""
    return REASONS[ReasonCode(code)]
