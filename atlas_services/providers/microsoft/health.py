"""The Microsoft health check: can this credential sign in to this tenant and read its organization?"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from atlas_services.errors import ProviderError
from atlas_services.graph.client import GraphClient
from atlas_services.graph.clouds import get_cloud
from atlas_services.graph.tokens import acquire_graph_token
from atlas_services.secrets import SecretValue

ORGANIZATION_CONTRACT = "organization.list"


@dataclass(frozen=True)
class HealthTarget:
    cloud: str
    entra_tenant_id: str
    client_id: str


@dataclass(frozen=True)
class HealthResult:
    organization_id: str
    display_name: str
    default_domain: str | None
    verified_domains: tuple[str, ...] = ()
    request_id: str | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-able, secret-free facts for the run record and the connection's health details."""
        return {
            "organization_id": self.organization_id,
            "display_name": self.display_name,
            "default_domain": self.default_domain,
            "verified_domains": list(self.verified_domains),
            "request_id": self.request_id,
        }


def check_health(target: HealthTarget, secret: SecretValue) -> HealthResult:
    """Acquire a token and read ``/organization``; raises ProviderError with a catalogue code on any failure."""
    try:
        cloud = get_cloud(str(target.cloud))
    except ValueError:
        raise ProviderError("internal.unexpected", "The connection names an unknown Microsoft cloud.") from None
    token = acquire_graph_token(cloud, target.entra_tenant_id, target.client_id, secret)
    with GraphClient(cloud, lambda: token, tenant_id=target.entra_tenant_id, client_id=target.client_id) as graph:
        page = graph.get(ORGANIZATION_CONTRACT)
        request_id = graph.last_request_id
    organization = _only_organization(page)
    organization_id = str(organization.get("id", "")).lower()
    if organization_id != target.entra_tenant_id.strip().lower():
        raise ProviderError("auth.wrong_tenant")
    domains = [d for d in organization.get("verifiedDomains") or [] if isinstance(d, dict)]
    default = next((str(d.get("name")) for d in domains if d.get("isDefault")), None)
    return HealthResult(
        organization_id=organization_id,
        display_name=str(organization.get("displayName") or ""),
        default_domain=default,
        verified_domains=tuple(str(d.get("name")) for d in domains if d.get("name")),
        request_id=request_id,
    )


def _only_organization(page: dict[str, Any]) -> dict[str, Any]:
    value = page.get("value")
    if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], dict):
        raise ProviderError("graph.bad_response", "Microsoft Graph did not return exactly one organization.")
    organization: dict[str, Any] = value[0]
    return organization
