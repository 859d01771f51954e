"""Microsoft clouds: where each one signs in (authority host) and where its Graph lives.

Outside the graph package so the web tier, which may not import it, builds admin-consent URLs from the same hosts
the worker signs in to (atlas_services.graph.clouds re-exports this table for the Graph code).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class CloudEndpoints:
    name: str
    authority_host: str
    graph_host: str

    def authority_url(self, entra_tenant_id: str) -> str:
        # Quoted so a malformed tenant reference stays one path segment (and fails as "tenant not found").
        return f"https://{self.authority_host}/{quote(entra_tenant_id.strip(), safe='')}"

    @property
    def graph_base_url(self) -> str:
        return f"https://{self.graph_host}"

    @property
    def graph_scope(self) -> str:
        """The client-credentials scope: every granted application permission for this cloud's Graph."""
        return f"https://{self.graph_host}/.default"

    @property
    def is_simulator(self) -> bool:
        return self.name == SIMULATOR


SIMULATOR = "simulator"

# The simulator's hosts are fake https names (MSAL refuses http authorities); the transport in
# atlas_services.graph.http routes them to ATLAS_SIMULATOR_URL. `.invalid` can never resolve for real.
CLOUDS: dict[str, CloudEndpoints] = {
    cloud.name: cloud
    for cloud in (
        CloudEndpoints("global", "login.microsoftonline.com", "graph.microsoft.com"),
        CloudEndpoints("usgov", "login.microsoftonline.us", "graph.microsoft.us"),
        CloudEndpoints("usgov_dod", "login.microsoftonline.us", "dod-graph.microsoft.us"),
        CloudEndpoints("china", "login.partner.microsoftonline.cn", "microsoftgraph.chinacloudapi.cn"),
        CloudEndpoints(SIMULATOR, "login.sim.atlas.invalid", "graph.sim.atlas.invalid"),
    )
}

SIMULATOR_HOSTS = frozenset({CLOUDS[SIMULATOR].authority_host, CLOUDS[SIMULATOR].graph_host})


def get_cloud(name: str) -> CloudEndpoints:
    try:
        return CLOUDS[name]
    except KeyError:
        raise ValueError(f"unknown cloud '{name}'; expected one of {', '.join(CLOUDS)}") from None
