"""Every status shown as a badge has a catalogue entry (DESIGN.md §4.8)."""

from __future__ import annotations

from atlas_app.components.badges import BadgeCatalog, PermissionGrant
from atlas_services.models import HealthStatus, RunStatus
from atlas_services.runs.summaries import ReadinessStatus, SectionStatus


def test_every_status_value_has_its_own_badge() -> None:
    assert BadgeCatalog.missing() == {}
    for domain, enum in ((BadgeCatalog.RUN_STATUS, RunStatus), (BadgeCatalog.HEALTH_STATUS, HealthStatus),
                         (BadgeCatalog.READINESS, ReadinessStatus), (BadgeCatalog.SECTION_STATUS, SectionStatus),
                         (BadgeCatalog.PERMISSION_GRANT, PermissionGrant)):
        assert BadgeCatalog.ENUMS[domain] is enum
        labels = [BadgeCatalog.style(domain, member.value).label for member in enum]
        assert len(set(labels)) == len(labels) and all(labels)
    assert BadgeCatalog.style(BadgeCatalog.RUN_STATUS, "no-such-status") not in BadgeCatalog.entries(
        BadgeCatalog.RUN_STATUS).values()


def test_the_readiness_and_section_enums_cover_what_the_provider_writes() -> None:
    """The statuses are plain strings in run summaries and health details: these are the ones the Microsoft
    provider writes (the UI's enums must not fall behind it)."""
    from atlas_services.cloud_availability import CloudAvailability
    from atlas_services.errors import ProviderError
    from atlas_services.graph.contracts import load_contracts
    from atlas_services.providers.microsoft.health import readiness
    from atlas_services.providers.microsoft.inventory import failure_entry, skipped_for_readiness

    contracts = load_contracts()
    granted_cases: list[set[str] | None] = [None, set(), {"Organization.Read.All"}]
    found = {entry["status"] for granted in granted_cases for entry in readiness(contracts, granted).values()}
    # A cloud whose Graph lacks a call of the inventory sync.
    gaps = CloudAvailability("usgov", {"mobileApps.list": ("inventory_sync",)})
    found |= {entry["status"] for entry in readiness(contracts, set(), gaps=gaps).values()}
    assert found == {member.value for member in ReadinessStatus}
    section_statuses = {"running", "succeeded", "partial",  # set by the inventory section loop itself
                        failure_entry(ProviderError("permission.missing"))["status"],
                        failure_entry(ProviderError("internal.unexpected"))["status"],
                        skipped_for_readiness(["X.Read.All"], _Facts())["status"]}
    assert section_statuses == {member.value for member in SectionStatus}


class _Facts:
    last_health: dict[str, str] = {}


def test_every_status_enum_the_services_define_has_a_badge_domain() -> None:
    """The services own the status vocabularies; a new *Status enum there needs a domain here."""
    from enum import StrEnum

    from atlas_services import models
    from atlas_services.runs import summaries

    defined = {value for module in (models, summaries) for name, value in vars(module).items()
               if isinstance(value, type) and issubclass(value, StrEnum) and name.endswith("Status")}
    assert defined <= set(BadgeCatalog.ENUMS.values())
    for enum in defined:
        assert all(BadgeCatalog.style(domain, member.value).label != "Unknown" or member.value == "unknown"
                   for domain, domain_enum in BadgeCatalog.ENUMS.items() if domain_enum is enum for member in enum)
