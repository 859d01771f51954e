"""The one catalogue of reason codes: every failure a user sees ends as one of these."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reason:
    code: str
    message: str
    remediation: str


_CATALOGUE = [
    Reason("auth.invalid_client_secret", "Microsoft rejected the client secret.",
           "Create a new client secret in the app registration and paste its Value (not its Secret ID)."),
    Reason("auth.client_secret_expired", "The client secret has expired.",
           "Create a new client secret in the app registration and rotate the connection's credential."),
    Reason("auth.app_not_found", "The app (client id) was not found in the Entra tenant.",
           "Check the client id, and that the app is registered in or consented to this tenant."),
    Reason("auth.tenant_not_found", "The Entra tenant was not found.",
           "Check the Entra tenant id (Directory ID) of the connection."),
    Reason("auth.certificate_not_registered", "The certificate is not registered on the app.",
           "Upload the certificate's public part to the app registration, or rotate to a registered one."),
    Reason("auth.failed", "Microsoft refused the token request.",
           "Check the connection's tenant id, client id and credential."),
    Reason("auth.wrong_tenant", "The credential signed in to a different Entra tenant than the connection names.",
           "Check that the Entra tenant id matches the tenant the app is registered in."),
    Reason("permission.missing", "The app lacks a Microsoft Graph permission this action needs.",
           "Grant the named application permissions to the app and give admin consent."),
    Reason("graph.throttled", "Microsoft Graph kept throttling the requests.",
           "Try again later; Atlas backs off automatically."),
    Reason("graph.unavailable", "Microsoft Graph was unavailable.", "Try again later."),
    Reason("graph.timeout", "Microsoft Graph did not answer in time.", "Try again later."),
    Reason("graph.bad_response", "Microsoft Graph sent a response Atlas could not read.",
           "Try again later; if it persists, report the request id."),
    Reason("intune.not_licensed", "The tenant has no active Intune license.",
           "Assign an Intune license in the customer tenant, or do not run Intune operations for it."),
    Reason("network.unreachable", "Microsoft could not be reached.", "Check the network path from the worker."),
    Reason("credential.unavailable", "The connection's credential cannot be opened.",
           "Rotate the connection's credential."),
    Reason("connection.no_default", "The tenant has no default connection.",
           "Create a connection or mark one as the default."),
    Reason("connection.disabled", "The connection is disabled.", "Enable the connection first."),
    Reason("capability.not_available", "This operation is not available yet.", "None."),
    Reason("run.scope_busy", "Another operation is active on this connection's tenant.",
           "Wait for it to finish, then try again."),
    Reason("run.partial", "Some sections failed; what they last observed is kept.",
           "See each section's reason in the run's summary."),
    Reason("run.not_authorized", "The user who started this run may no longer run operations in this tenant.",
           "Ask a member with the provider.run permission to start it again."),
    Reason("run.worker_lost", "The worker running this operation stopped responding.", "Start the operation again."),
    Reason("run.start_timeout", "No worker picked up this operation in time.", "Check that a worker is running."),
    Reason("queue.unavailable", "The job queue could not be reached.",
           "Check that Redis (ATLAS_REDIS_URL) is reachable, then start the operation again."),
    Reason("internal.unexpected", "Something unexpected went wrong.", "Try again; if it persists, report the run id."),
]

REASONS: dict[str, Reason] = {reason.code: reason for reason in _CATALOGUE}


def reason(code: str) -> Reason:
    """Return the catalogue entry for ``code``; unknown codes become ``internal.unexpected``."""
    return REASONS.get(code, REASONS["internal.unexpected"])
