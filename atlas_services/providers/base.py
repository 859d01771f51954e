"""Provider capabilities: the interface every provider implements, and what the gateway hands an implementation.

A capability is one operation type (``health_check``, ``inventory_sync``, ...) for one provider. The gateway
resolves the connection, opens its credential, builds the provider's API client and calls ``run`` with a
``CapabilityContext``; the capability never sees the database or the sealed credential, only:

* ``connection``: non-secret facts about the connection (ids, cloud, credential hints, the last health check);
* ``graph``: a ready GraphClient (the one path to Microsoft Graph);
* ``progress``: ``checkpoint(**progress)``, to be called at every page boundary (stores progress, raises when the
  run was cancelled or its lease was lost);
* ``inventory`` / ``snapshots``: where observations go (writes fenced by the run's lease);
* ``access_token``: the current access token, only so a health check can read its own ``roles`` claim.

Results are typed summaries (runs.summaries); failures are ProviderErrors with catalogue reason codes, and
``CapabilityFailed`` when the failure still has a summary worth keeping.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from atlas_services.errors import ProviderError
from atlas_services.reasons import ReasonCode
from atlas_services.runs.summaries import StoredModel

if TYPE_CHECKING:
    from atlas_services.graph.client import GraphClient


@dataclass(frozen=True)
class ConnectionFacts:
    """What a capability may know about its connection: nothing secret."""

    connection_id: uuid.UUID
    tenant_id: uuid.UUID
    provider: str
    cloud: str
    entra_tenant_id: str
    client_id: str
    credential_kind: str
    credential_hint: str = ""
    credential_expires_at: datetime | None = None
    credential_expiry_warning: str | None = None
    credential_expires_source: str | None = None  # typed | certificate | microsoft (provider_credentials)
    # To find the credential among the app registration's own (issue 14): a certificate's thumbprint, or a secret's
    # first three characters, which Microsoft itself shows as the secret's hint.
    credential_thumbprint: str | None = None
    credential_secret_hint: str | None = None
    # The last successful health check's details ({} when there was none, or the last check failed).
    last_health: Mapping[str, Any] = field(default_factory=dict)


class Progress(Protocol):
    def checkpoint(self, **progress: Any) -> None:
        """Store progress; raises RunCancelled / LeaseLost, which a capability must let through."""


@dataclass(frozen=True)
class InventoryRecord:
    """One observed object, ready to store."""

    external_id: str
    display_name: str
    item_type: str | None
    state: str | None
    data: dict[str, Any]


class InventoryStore(Protocol):
    def store_page(self, kind: str, records: Sequence[InventoryRecord]) -> int:
        """Upsert one page of observations of ``kind``; returns how many rows were written."""

    def mark_removed(self, kind: str) -> int:
        """After a complete listing of ``kind``: mark what this run did not observe as removed; returns how many."""

    def count_unseen(self, kind: str) -> int:
        """How many items of ``kind`` ``mark_removed`` would mark now (observed before, not by this run)."""


class SnapshotStore(Protocol):
    def store_snapshot(self, counts: Mapping[str, Any]) -> None:
        """Store this run's compliance counts."""


@dataclass(frozen=True)
class CapabilityContext:
    connection: ConnectionFacts
    graph: GraphClient
    progress: Progress
    inventory: InventoryStore
    snapshots: SnapshotStore
    access_token: Callable[[], str]


@dataclass(frozen=True)
class CapabilityResult:
    """A finished capability: its typed summary, and whether only part of it succeeded."""

    summary: StoredModel
    partial: bool = False


class ProviderCapability(Protocol):
    @property
    def op_type(self) -> str: ...

    def run(self, context: CapabilityContext) -> CapabilityResult: ...


@dataclass(frozen=True)
class NotAvailable:
    """A placeholder for an operation type Atlas knows but cannot run yet (future remote writes)."""

    op_type: str

    def run(self, context: CapabilityContext) -> CapabilityResult:
        raise ProviderError(ReasonCode.CAPABILITY_NOT_AVAILABLE, f"'{self.op_type}' is not available yet.")
