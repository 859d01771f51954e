"""Typed run summaries: what each capability reports, as the worker stores it and the UI reads it.

Summaries are stored as JSON (``operation_runs.summary``, ``provider_connections.health_details``). The models
accept every row written so far: unknown keys are kept, missing ones take their defaults, and a summary that
does not fit its operation's model at all is read as an ``OtherSummary``. ``stored()`` gives back the JSON form,
holding only the keys that were set, so a row read and written again keeps its shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from atlas_services.runs.types import OperationType


class SectionStatus(StrEnum):
    """How one part of a run went: an inventory section, or a compliance source."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"  # a missing permission: skipped with its reason instead of failing the run
    PARTIAL = "partial"  # read to the end, but fewer items than Graph said there are: nothing marked removed


class ReadinessStatus(StrEnum):
    """Whether a connection may run a capability, per its last health check."""

    READY = "ready"
    BLOCKED = "blocked"  # the granted permissions lack what one of its Graph calls needs
    UNKNOWN = "unknown"  # no health check yet, or the granted permissions could not be read
    NOT_AVAILABLE = "not_available"  # the connection's cloud does not offer one of its Graph calls


class PermissionSource(StrEnum):
    """Where a health check read the granted permissions from."""

    APP_ROLE_ASSIGNMENTS = "app_role_assignments"
    TOKEN_ROLES_CLAIM = "token_roles_claim"  # noqa: S105 - a source name, not a secret
    UNKNOWN = "unknown"


class StoredModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def stored(self) -> dict[str, Any]:
        """The JSON form written to the database (only the keys that were set)."""
        return self.model_dump(mode="json", exclude_unset=True, by_alias=True)


class SectionResult(StoredModel):
    status: SectionStatus
    kind: str | None = None
    pages: int = 0
    items: int = 0
    stored_items: int = Field(default=0, alias="stored")
    removed: int = 0
    reason_code: str | None = None
    message: str | None = None
    remediation: str | None = None
    missing_permissions: list[str] = Field(default_factory=list)
    request_id: str | None = None
    # How many items the listing should have held, and from what (providers.microsoft.completeness).
    expected: int | None = None
    basis: str | None = None


class ContractReadiness(StoredModel):
    status: ReadinessStatus
    required: str = ""
    any_of: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)


class CapabilityReadiness(StoredModel):
    # The key it is stored under; filled in when the summary is read, never stored.
    capability: str = Field(default="", exclude=True)
    status: ReadinessStatus = ReadinessStatus.UNKNOWN
    label: str = ""
    missing: list[str] = Field(default_factory=list)
    contracts: dict[str, ContractReadiness] = Field(default_factory=dict)

    @property
    def required(self) -> tuple[str, ...]:
        """The least-privileged permission of each Graph call the capability makes."""
        return tuple(dict.fromkeys(c.required for c in self.contracts.values() if c.required))

    @property
    def blocked_contracts(self) -> dict[str, list[str]]:
        """Contract key -> the permissions it misses."""
        return {key: c.missing for key, c in self.contracts.items() if c.status == ReadinessStatus.BLOCKED}


class OverPrivilege(StoredModel):
    permission: str = ""
    reason: str = ""


class GrantedPermissions(StoredModel):
    source: PermissionSource = PermissionSource.UNKNOWN
    granted: list[str] | None = None  # None when neither the directory nor the token could tell
    note: str | None = None
    not_yet_in_token: list[str] = Field(default_factory=list)


class CredentialFacts(StoredModel):
    kind: str | None = None
    hint: str | None = None
    expires_at: str | None = None
    expires_source: str | None = None  # typed (by an admin) | certificate (its not-after) | microsoft
    days_left: int | None = None
    warning: str | None = None


class MissingPermission(StoredModel):
    """A permission a capability still lacks after consent, and why: ``propagating`` (granted in the directory's
    app role assignments, not yet in the access token), ``not_granted`` (not in the directory), or
    ``not_in_token`` (the directory could not be read and the token lacks it)."""

    permission: str = ""
    state: str = ""
    needed_for: list[str] = Field(default_factory=list)


class AppCredentialEntry(StoredModel):
    """One secret or certificate of the app registration, as Microsoft lists it (no secret material)."""

    kind: str = ""  # client_secret | certificate
    key_id: str = ""
    display_name: str | None = None
    hint: str | None = None  # a secret's first three characters (Microsoft's hint)
    thumbprint: str | None = None  # a certificate's SHA-1 thumbprint, upper-case hex
    start: str | None = None
    end: str | None = None
    in_use: bool = False


class AppCredentialsFound(StoredModel):
    # microsoft: read from the app registration | no_permission | not_in_tenant | unavailable
    source: str = "unavailable"
    note: str | None = None
    in_use_end: str | None = None  # the end date of the credential Atlas signs in with, when matched
    items: list[AppCredentialEntry] = Field(default_factory=list)


class HealthCheckSummary(StoredModel):
    organization_id: str = ""
    display_name: str = ""
    default_domain: str | None = None
    verified_domains: list[str] = Field(default_factory=list)
    request_id: str | None = None
    permissions: GrantedPermissions | None = None
    readiness: dict[str, CapabilityReadiness] = Field(default_factory=dict)
    over_privileged: list[OverPrivilege] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    credential: CredentialFacts | None = None
    checked_at: str | None = None
    # Set when the credential signed in to another tenant than the connection names.
    signed_in_tenant_id: str | None = None
    expected_tenant_id: str | None = None
    # Set when the check verified a rotated credential.
    verified_credential_id: str | None = None
    # Onboarding (issue 14): what is still missing after consent and why, the app registration's own credentials,
    # app-role ids that differ from Atlas's copy, and the capabilities the connection's cloud does not offer.
    missing_permissions: list[MissingPermission] = Field(default_factory=list)
    app_credentials: AppCredentialsFound | None = None
    app_role_mismatches: list[dict[str, str]] = Field(default_factory=list)
    cloud: str | None = None

    @model_validator(mode="after")
    def _name_capabilities(self) -> HealthCheckSummary:
        for capability, entry in self.readiness.items():
            entry.capability = capability
        return self

    def readiness_list(self) -> list[CapabilityReadiness]:
        return list(self.readiness.values())

    def blocked_contracts(self, capability: str) -> dict[str, list[str]]:
        entry = self.readiness.get(capability)
        return entry.blocked_contracts if entry is not None else {}


class GraphStats(StoredModel):
    requests: int = 0
    retries: int = 0
    throttled: int = 0


# What an inventory sync cannot see: Graph v1.0 has no Settings Catalog (configurationPolicies) and no endpoint
# security (intents) entity sets (a test reads the v1.0 CSDL); the summary and the connection page say so.
NOT_IN_GRAPH_V1 = ("Settings Catalog policies (configurationPolicies) and endpoint security policies are not "
                   "visible through Microsoft Graph v1.0, so they are not in this inventory; device configurations "
                   "here are the classic profiles only.")


class InventorySyncSummary(StoredModel):
    sections: dict[str, SectionResult] = Field(default_factory=dict)
    pages_fetched: int = 0
    items_stored: int = 0
    items_removed: int = 0
    counts: dict[str, int] = Field(default_factory=dict)
    graph: GraphStats | None = None
    duration_seconds: float | None = None
    not_in_graph_v1: str | None = None


class ComplianceSnapshotSummary(StoredModel):
    sources: dict[str, SectionResult] = Field(default_factory=dict)
    # {"compliance": {...}, "devices": {...}, "operating_systems": {...}, "exchange_access": {...}}; parts may
    # be missing.
    counts: dict[str, dict[str, int]] = Field(default_factory=dict)


class OtherSummary(StoredModel):
    """A summary of an operation without a model, or one that does not fit its model: kept as it is."""


RunSummary = HealthCheckSummary | InventorySyncSummary | ComplianceSnapshotSummary | OtherSummary

_MODELS: Mapping[str, type[StoredModel]] = {
    OperationType.HEALTH_CHECK: HealthCheckSummary,
    OperationType.INVENTORY_SYNC: InventorySyncSummary,
    OperationType.COMPLIANCE_SNAPSHOT: ComplianceSnapshotSummary,
}


def parse_summary(op_type: str, raw: object) -> RunSummary:
    """The one place a stored summary becomes its model (``OtherSummary`` when it does not fit)."""
    data = dict(raw) if isinstance(raw, Mapping) else {}
    model = _MODELS.get(op_type, OtherSummary)
    try:
        return model.model_validate(data)  # type: ignore[return-value]
    except ValidationError:
        return OtherSummary.model_validate(data)


def parse_health(raw: object) -> HealthCheckSummary:
    """A connection's health details (the last check's summary); empty when they do not fit."""
    data = dict(raw) if isinstance(raw, Mapping) else {}
    try:
        return HealthCheckSummary.model_validate(data)
    except ValidationError:
        return HealthCheckSummary()
