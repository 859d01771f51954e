"""The app registration's own secrets and certificates, read from Microsoft (``application.byAppId``), so credential
expiry never depends on someone typing a date.

Needs Application.Read.All (or broader). The credential Atlas signs in with is matched by the secret's hint
(Microsoft keeps a secret's first three characters) or the certificate's thumbprint. A multi-tenant app registered
in another tenant has no application object in the customer tenant (Graph answers 404): that is said, not failed.
Nothing here fails the health check; what could not be read is a note.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from atlas_services.errors import ProviderError
from atlas_services.graph.client import GraphClient
from atlas_services.graph.errors import GraphRequestError
from atlas_services.models import CredentialKind, utcnow
from atlas_services.providers.base import ConnectionFacts
from atlas_services.reasons import ReasonCode
from atlas_services.runs.summaries import AppCredentialEntry, AppCredentialsFound

APPLICATION_CONTRACT = "application.byAppId"
SELECT = ["id", "appId", "passwordCredentials", "keyCredentials"]

NO_PERMISSION_NOTE = ("Atlas cannot read the app registration's secrets and certificates (it needs "
                      "Application.Read.All), so credential expiry comes from the date typed when the credential "
                      "was added.")
NOT_IN_TENANT_NOTE = ("The app registration is not in this tenant (a multi-tenant app registered elsewhere), so its "
                      "credentials' expiry cannot be read here; Atlas uses the typed date.")


def read_app_credentials(graph: GraphClient, facts: ConnectionFacts,
                         may_read: bool | None) -> AppCredentialsFound:
    """The app's credentials with their end dates, and which one Atlas signs in with. ``may_read``: whether the
    granted permissions allow the call (None: unknown, so try)."""
    if may_read is False:
        return AppCredentialsFound(source="no_permission", note=NO_PERMISSION_NOTE)
    try:
        app = graph.get_entity(APPLICATION_CONTRACT, select=SELECT, path_params={"appId": facts.client_id})
    except GraphRequestError as exc:
        if exc.code == ReasonCode.PERMISSION_MISSING:
            return AppCredentialsFound(source="no_permission", note=NO_PERMISSION_NOTE)
        if exc.status_code == 404:
            return AppCredentialsFound(source="not_in_tenant", note=NOT_IN_TENANT_NOTE)
        return _unavailable(exc)
    except ProviderError as exc:
        return _unavailable(exc)
    items = [*_secrets(app.get("passwordCredentials")), *_certificates(app.get("keyCredentials"))]
    return _mark_in_use(items, facts)


def _unavailable(exc: ProviderError) -> AppCredentialsFound:
    return AppCredentialsFound(source="unavailable", note=f"The app registration could not be read ({exc.code}); "
                               "credential expiry comes from the typed date.")


def _secrets(raw: object) -> Iterable[AppCredentialEntry]:
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict):
            yield AppCredentialEntry(kind=CredentialKind.CLIENT_SECRET.value, key_id=_text(item.get("keyId")),
                                     display_name=_text(item.get("displayName")) or None,
                                     hint=_text(item.get("hint")) or None, start=_when(item.get("startDateTime")),
                                     end=_when(item.get("endDateTime")), in_use=False)


def _certificates(raw: object) -> Iterable[AppCredentialEntry]:
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict) and item.get("usage") in (None, "Verify"):
            yield AppCredentialEntry(kind=CredentialKind.CERTIFICATE.value, key_id=_text(item.get("keyId")),
                                     display_name=_text(item.get("displayName")) or None,
                                     thumbprint=thumbprint(item.get("customKeyIdentifier")),
                                     start=_when(item.get("startDateTime")), end=_when(item.get("endDateTime")),
                                     in_use=False)


def thumbprint(custom_key_identifier: object) -> str | None:
    """A certificate's thumbprint from ``customKeyIdentifier`` (Edm.Binary, base64 of the SHA-1 thumbprint's
    bytes when the certificate was uploaded), as upper-case hex like the portal shows it."""
    if not isinstance(custom_key_identifier, str) or not custom_key_identifier:
        return None
    try:
        raw = base64.b64decode(custom_key_identifier, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex().upper() if len(raw) == 20 else None


def _mark_in_use(items: list[AppCredentialEntry], facts: ConnectionFacts,
                 now: datetime | None = None) -> AppCredentialsFound:
    if facts.credential_kind == CredentialKind.CERTIFICATE:
        wanted = (facts.credential_thumbprint or "").upper()
        matches = [i for i in items if i.kind == CredentialKind.CERTIFICATE and wanted and i.thumbprint == wanted]
        what = "certificate thumbprint"
    else:
        wanted = facts.credential_secret_hint or ""
        matches = [i for i in items if i.kind == CredentialKind.CLIENT_SECRET and wanted and i.hint == wanted]
        what = "secret hint"
    # The credential just signed in, so it has not expired: an expired one sharing its hint is not it.
    moment = now or utcnow()
    matches = [i for i in matches if i.end is None or datetime.fromisoformat(i.end) > moment]
    note = None
    if not matches:
        note = (f"None of the app's credentials matches the {what} of the one Atlas uses; its expiry comes from the "
                "typed date.")
    elif len(matches) > 1:
        note = (f"{len(matches)} of the app's unexpired secrets share the hint of the one Atlas uses; the earliest "
                "end date is used, so warnings are never late.")
    # The earliest end among the matches: never later than the truth.
    chosen = min(matches, key=lambda i: i.end or "9999") if matches else None
    if chosen is not None:
        chosen.in_use = True
    return AppCredentialsFound(source="microsoft", note=note, in_use_end=chosen.end if chosen else None,
                               items=sorted(items, key=lambda i: (i.end or "9999", i.key_id)))


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _when(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).isoformat()
    except ValueError:
        return None


def may_read_applications(contract_permissions: Iterable[str], granted: Any) -> bool | None:
    """Whether the granted permissions allow reading the app registration (None: not known)."""
    if granted is None:
        return None
    return bool(set(contract_permissions) & set(granted))
