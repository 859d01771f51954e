"""Onboarding a connection: the admin-consent URL for its cloud and tenant, and the exact Graph application
permissions each capability needs, as a ready-to-paste ``requiredResourceAccess`` manifest fragment.

Nothing here is secret (tenant and client ids, Microsoft's public app-role ids), so any viewer may see it. Pure
data plus one read use case; importable by the web tier (no Graph code).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import yaml

from atlas_services.authz import Actor, Capability, load_for_actor, requires
from atlas_services.clouds import get_cloud
from atlas_services.config import get_settings
from atlas_services.db import session_scope
from atlas_services.models import ProviderConnection
from atlas_services.runs.types import GRAPH_CAPABILITIES, label

PERMISSIONS_FILE = Path(__file__).with_name("graph_permissions.yaml")
ROLE = "Role"  # requiredResourceAccess type of an application permission ("Scope" is delegated)


@dataclass(frozen=True)
class PermissionCatalogue:
    resource_app_id: str
    resource_name: str
    ids: Mapping[str, str]  # permission name -> app-role id
    required: Mapping[str, tuple[str, ...]]  # capability -> permissions a call of it needs
    recommended: Mapping[str, tuple[str, ...]]  # capability -> permissions that make the health check exact

    def role_id(self, permission: str) -> str:
        return self.ids[permission]

    def for_capabilities(self, capabilities: Iterable[str]) -> list[str]:
        """Required then recommended permissions of the capabilities, each once, in a stable order."""
        chosen = list(capabilities)
        names = [p for c in chosen for p in self.required.get(c, ())]
        names += [p for c in chosen for p in self.recommended.get(c, ())]
        return list(dict.fromkeys(names))

    def mismatches(self, found: Mapping[str, str]) -> list[dict[str, str]]:
        """Permissions whose app-role id in a tenant (``found``: name -> id, from Graph's service principal's
        appRoles) differs from this copy."""
        return [{"permission": name, "expected": expected, "found": found[name].lower()}
                for name, expected in sorted(self.ids.items())
                if name in found and found[name].lower() != expected]


@lru_cache(maxsize=1)
def catalogue() -> PermissionCatalogue:
    data = yaml.safe_load(PERMISSIONS_FILE.read_text(encoding="utf-8"))
    capabilities = data["capabilities"]
    return PermissionCatalogue(
        resource_app_id=str(data["resource_app_id"]), resource_name=str(data["resource_name"]),
        ids={str(k): str(uuid.UUID(str(v))) for k, v in data["permissions"].items()},
        required={c: tuple(v.get("required") or ()) for c, v in capabilities.items()},
        recommended={c: tuple(v.get("recommended") or ()) for c, v in capabilities.items()})


def consent_url(cloud: str, entra_tenant_id: str, client_id: str) -> str:
    """Where a customer's admin grants the app's permissions: ``/{tenant}/adminconsent?client_id=…`` on the
    cloud's sign-in host (the simulator's own URL for the simulator cloud, so a browser can open it)."""
    endpoints = get_cloud(cloud)
    base = get_settings().simulator_url.rstrip("/") if endpoints.is_simulator else f"https://{endpoints.authority_host}"
    query = urlencode({"client_id": str(uuid.UUID(str(client_id)))})
    return f"{base}/{quote(str(entra_tenant_id).strip(), safe='')}/adminconsent?{query}"


def required_resource_access(capabilities: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The manifest fragment for the capabilities (default: all of them)."""
    perms = catalogue()
    names = perms.for_capabilities(GRAPH_CAPABILITIES if capabilities is None else capabilities)
    return [{"resourceAppId": perms.resource_app_id,
             "resourceAccess": [{"id": perms.role_id(n), "type": ROLE} for n in names]}]


@dataclass(frozen=True)
class PermissionNeed:
    capability: str
    capability_label: str
    permission: str
    role_id: str
    required: bool  # False: recommended


@dataclass(frozen=True)
class OnboardingView:
    consent_url: str
    resource_app_id: str
    needs: tuple[PermissionNeed, ...]
    manifest: str  # the requiredResourceAccess fragment for every capability, as pretty JSON
    manifests: Mapping[str, str]  # per capability

    def as_dict(self) -> dict[str, Any]:
        return {"consent_url": self.consent_url, "resource_app_id": self.resource_app_id,
                "required_resource_access": json.loads(self.manifest),
                "capabilities": {c: {"required": [n.permission for n in self.needs if n.capability == c and n.required],
                                     "recommended": [n.permission for n in self.needs
                                                     if n.capability == c and not n.required],
                                     "required_resource_access": json.loads(m)}
                                 for c, m in self.manifests.items()}}


def onboarding_for(cloud: str, entra_tenant_id: str, client_id: str) -> OnboardingView:
    perms = catalogue()
    needs = tuple(PermissionNeed(c, label(c), p, perms.role_id(p), required)
                  for c in GRAPH_CAPABILITIES
                  for required, names in ((True, perms.required.get(c, ())), (False, perms.recommended.get(c, ())))
                  for p in names)
    return OnboardingView(
        consent_url=consent_url(cloud, entra_tenant_id, client_id), resource_app_id=perms.resource_app_id,
        needs=needs, manifest=_pretty(required_resource_access()),
        manifests={str(c): _pretty(required_resource_access([c])) for c in GRAPH_CAPABILITIES})


@requires(Capability.PROVIDER_VIEW)
def connection_onboarding(actor: Actor, connection_id: object) -> OnboardingView:
    """The consent URL and manifest for one of the actor's connections (another tenant's is NotFound)."""
    with session_scope() as session:
        connection = load_for_actor(session, ProviderConnection, connection_id, actor, Capability.PROVIDER_VIEW,
                                    what="connection")
        return onboarding_for(connection.cloud, str(connection.entra_tenant_id), str(connection.client_id))


def _pretty(fragment: list[dict[str, Any]]) -> str:
    return json.dumps(fragment, indent=2)
