"""Input checks shared by the UI, the CLI and the services. Each raises InvalidInput naming the field."""

from __future__ import annotations

import re
import unicodedata
import uuid

from atlas_services.errors import InvalidInput
from atlas_services.models import Role

# The one GUID pattern (tenant ids, client ids, Graph path parameters; a client secret that looks like one).
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def guid(field: str, value: object, label: str) -> uuid.UUID:
    text = value.strip() if isinstance(value, str) else ""
    if not GUID.match(text):
        raise InvalidInput(field, f"{label} must be a GUID like 00000000-0000-0000-0000-000000000000")
    return uuid.UUID(text)


def name(field: str, value: object, label: str, max_length: int = 100) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise InvalidInput(field, f"{label} is required")
    if len(text) > max_length:
        raise InvalidInput(field, f"{label} must be at most {max_length} characters")
    if any(ord(ch) < 32 for ch in text):
        raise InvalidInput(field, f"{label} must not contain control characters")
    return text


def email_key(value: str) -> str:
    """The one form an email is stored and looked up in: NFKC, then casefold (``ＣＥＯ@x`` is ``ceo@x``)."""
    return unicodedata.normalize("NFKC", value.strip()).casefold()


def email(value: object) -> str:
    """A new address, normalized by ``email_key``.

    Anything left outside printable ASCII (Cyrillic look-alikes, say) is refused: Entra sign-in names are ASCII,
    and a look-alike would be a second account that reads like the first.
    """
    text = email_key(value) if isinstance(value, str) else ""
    if not text.isascii() or not text.isprintable():
        raise InvalidInput("email", "Use the plain ASCII form of the email address")
    if not _EMAIL.match(text) or len(text) > 254:
        raise InvalidInput("email", "Enter a valid email address")
    return text


def password(value: object) -> str:
    if not isinstance(value, str) or len(value) < 8:
        raise InvalidInput("password", "The password must be at least 8 characters")
    if len(value) > 1024:
        raise InvalidInput("password", "The password must be at most 1024 characters")
    return value


def role(value: object) -> Role:
    try:
        return Role(str(value))
    except ValueError:
        raise InvalidInput("role", f"role must be one of: {', '.join(r.value for r in Role)}") from None
