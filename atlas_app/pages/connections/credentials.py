"""The two credential forms of /connections (create, rotate): their fields, and turning a submit into an input.

Secrets, private keys, PFX bytes and passphrases are read from the submitted form or upload, handed to the
service and dropped: they are never kept in state (not even backend-only vars, which are pickled into the
state store), and every secret input is cleared after each submit (the guard does that for secret fields).
Both forms submit through ``rx.upload`` (the fields travel with the upload), so a PFX file and its passphrase
arrive together in one request, with or without a file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import reflex as rx

from atlas_app.state.guard import checkbox_field, form_arg, secret_field, text_field
from atlas_app.state.messages import user_message
from atlas_services.credential_input import CredentialInput, CredentialSource, from_fields
from atlas_services.errors import InvalidInput
from atlas_services.secrets import SecretValue
from atlas_services.validation import GUID

CREDENTIAL_KINDS = tuple(str(source) for source in CredentialSource)
# Read at most this much of an uploaded PFX (the service refuses anything over its own, smaller limit).
MAX_PFX_READ = 256 * 1024
CREATE_PFX_UPLOAD = "create_pfx"
ROTATE_PFX_UPLOAD = "rotate_pfx"
ROTATE_PREFIX = "rotate_"


def _credential_fields(prefix: str) -> dict[str, Any]:
    """The credential inputs of one form; ids (== names) carry ``prefix`` so two forms can share a page."""
    return {f"{prefix}client_secret": secret_field("The client secret", 8 * 1024),
            f"{prefix}expires_on": text_field("Expiry date", 32),
            f"{prefix}allow_guid_shaped": checkbox_field("I'm sure"),
            f"{prefix}certificate_pem": secret_field("The PEM bundle", 256 * 1024),
            f"{prefix}pfx_passphrase": secret_field("The passphrase", 1024)}


# Field names double as the inputs' ids (the secret ones are cleared by id after every submit).
CREATE_FORM = form_arg(
    name=text_field("Name"),
    cloud=text_field("Cloud", 32),
    entra_tenant_id=text_field("Entra tenant id", 64),
    client_id=text_field("Client id", 64),
    credential_kind=text_field("Credential", 16),
    make_default=checkbox_field("Make default"),
    **_credential_fields(""),
)
ROTATE_FORM = form_arg(
    connection_id=text_field("Connection", 64),
    credential_kind=text_field("Credential", 16),
    **_credential_fields(ROTATE_PREFIX),
)
CREATE_TEXT_INPUTS = ("name", "entra_tenant_id", "client_id", "expires_on")


def chosen_kind(value: str) -> str:
    """The kind the form names (a forged one reads as a client secret, the form's default)."""
    return value if value in CREDENTIAL_KINDS else CredentialSource.CLIENT_SECRET.value


async def read_credential(kind: str, files: list[Any], form: Mapping[str, Any], prefix: str = "") -> CredentialInput:
    """The credential a submitted form describes. PFX bytes are read here and live only in the returned object."""
    return from_fields(kind, secret=form[f"{prefix}client_secret"], expires_on=form[f"{prefix}expires_on"],
                       allow_guid_shaped=form[f"{prefix}allow_guid_shaped"], pem=form[f"{prefix}certificate_pem"],
                       pfx=await _read_pfx(files) if kind == CredentialSource.PFX else None,
                       passphrase=form[f"{prefix}pfx_passphrase"])


async def _read_pfx(files: list[rx.UploadFile]) -> bytes | None:
    if not files:
        return None
    content = await files[0].read(MAX_PFX_READ + 1)
    if len(content) > MAX_PFX_READ:
        raise InvalidInput("certificate", "The PFX file is too large")
    return bytes(content)


def form_failure(exc: Exception, kind: str, secret: SecretValue | None) -> tuple[str, str, bool]:
    """(field, message, ask "I'm sure") for a failed submit: a field error, or a message for the whole form.

    A GUID-shaped secret that was refused is nearly always the Secret ID; the form then offers "I'm sure".
    """
    if not isinstance(exc, InvalidInput):
        return "", user_message(exc), False
    guid = (exc.field == "client_secret" and kind == CredentialSource.CLIENT_SECRET
            and secret is not None and bool(GUID.match(secret.reveal().strip())))
    return exc.field, str(exc), guid
