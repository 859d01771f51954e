"""Every status shown as a badge has a catalogue entry (DESIGN.md §4.8)."""

from __future__ import annotations

from atlas_app.components.badges import BadgeCatalog
from atlas_services.models import HealthStatus, RunStatus


def test_every_status_value_has_its_own_badge() -> None:
    assert BadgeCatalog.missing() == {}
    for domain, enum in ((BadgeCatalog.RUN_STATUS, RunStatus), (BadgeCatalog.HEALTH_STATUS, HealthStatus)):
        labels = [BadgeCatalog.style(domain, member.value).label for member in enum]
        assert len(set(labels)) == len(labels) and all(labels)
    assert BadgeCatalog.style(BadgeCatalog.RUN_STATUS, "no-such-status") not in BadgeCatalog.entries(
        BadgeCatalog.RUN_STATUS).values()
