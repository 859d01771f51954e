"""``GET /applications(appId='…')``: an app registration's own object, with its secrets (passwordCredentials) and
certificates (keyCredentials) and their end dates, as Graph v1.0 returns them.

Like Graph: it needs Application.Read.All (or broader) even for the app itself (unlike its service principal);
a multi-tenant app registered in another tenant (``registered_here: false``) has no application object here (404).
Secrets expose only Microsoft's hint (first three characters), never the value; certificates their thumbprint as
``customKeyIdentifier`` (base64 of the SHA-1 bytes), their validity and usage ``Verify``.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from atlas_sim.scenario import SimApp

if TYPE_CHECKING:
    from datetime import datetime

    from atlas_sim.graph import Call, Result

ISO = "%Y-%m-%dT%H:%M:%SZ"


def _iso(moment: datetime) -> str:
    return moment.strftime(ISO)


def _secret(app: SimApp, index: int, reference: datetime) -> dict[str, Any]:
    secret = app.secrets[index]
    end = reference + timedelta(days=secret.expires_in_days)
    return {"customKeyIdentifier": None, "displayName": secret.display_name,
            "endDateTime": _iso(end), "hint": secret.hint, "keyId": secret.secret_id,
            "secretText": None, "startDateTime": _iso(end - timedelta(days=730))}


def _certificate(app: SimApp, pem: str) -> dict[str, Any]:
    certificate = x509.load_pem_x509_certificate(pem.encode())
    der = certificate.public_bytes(serialization.Encoding.DER)
    digest = hashlib.sha1(der, usedforsecurity=False).digest()
    return {"customKeyIdentifier": base64.b64encode(digest).decode(), "displayName": f"CN={app.display_name}",
            "endDateTime": _iso(certificate.not_valid_after_utc), "key": None,
            "keyId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"atlas-sim:key:{app.client_id}:{digest.hex()}")),
            "startDateTime": _iso(certificate.not_valid_before_utc), "type": "AsymmetricX509Cert",
            "usage": "Verify"}


def application_entity(app: SimApp, reference: datetime) -> dict[str, Any]:
    # v1.0 properties of microsoft.graph.application that matter here (checked against the CSDL by a test).
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"atlas-sim:application:{app.client_id}")),
        "deletedDateTime": None,
        "appId": app.client_id,
        "createdDateTime": _iso(reference - timedelta(days=400)),
        "displayName": app.display_name,
        "publisherDomain": None,
        "signInAudience": "AzureADMultipleOrgs",
        "keyCredentials": [_certificate(app, pem) for pem in app.certificates],
        "passwordCredentials": [_secret(app, i, reference) for i in range(len(app.secrets))],
    }


async def by_app_id(call: Call) -> Result:
    # Imported here: atlas_sim.graph lists this handler in its endpoint table, so it imports this module first.
    from atlas_sim import graph as g

    app_id = call.match.group("app_id")
    if not g._GUID.match(app_id):
        return g.graph_error(call.request, 400, "Request_BadRequest", f"Invalid object identifier '{app_id}'.")
    if not call.caller.roles & g.APPLICATION_READ:
        return g._forbidden(call, g.APPLICATION_READ, intune=False)
    app = call.caller.tenant.app(app_id)
    if app is None or not app.registered_here:
        return g.graph_error(call.request, 404, "Request_ResourceNotFound",
                             f"Resource '{app_id}' does not exist or one of its queried reference-property objects "
                             "are not present.")
    entity = application_entity(app, call.state.reference)
    return g._single(call, entity, "applications", "application")
