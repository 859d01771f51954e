"""The one catalogue of status badges: every status Atlas shows as a badge is rendered from here.

A domain maps each value of a status enum to a label, a Radix colour and a Lucide icon. The catalogue
checks itself against the enums at import, so a new status without a badge stops the app from starting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

import reflex as rx

from atlas_services.models import AlertStatus, HealthStatus, RunStatus
from atlas_services.runs.summaries import ReadinessStatus, SectionStatus


class PermissionGrant(StrEnum):
    """Whether a permission a capability needs is granted, per the last health check (judged by the UI's rows,
    from the readiness and granted permissions the services report)."""

    GRANTED = "granted"
    MISSING = "missing"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class BadgeStyle:
    label: str
    colour: str  # a Radix color scheme name
    icon: str  # a Lucide icon name


_UNKNOWN_VALUE = BadgeStyle("Unknown", "gray", "circle_help")


class BadgeCatalog:
    """value → (label, colour, icon), per status domain."""

    RUN_STATUS = "run_status"
    HEALTH_STATUS = "health_status"
    READINESS = "readiness"
    SECTION_STATUS = "section_status"
    PERMISSION_GRANT = "permission_grant"
    ALERT_STATUS = "alert_status"

    _DOMAINS: Mapping[str, Mapping[str, BadgeStyle]] = MappingProxyType({
        RUN_STATUS: MappingProxyType({
            RunStatus.QUEUED.value: BadgeStyle("Queued", "gray", "clock"),
            RunStatus.RUNNING.value: BadgeStyle("Running", "blue", "loader"),
            RunStatus.SUCCEEDED.value: BadgeStyle("Succeeded", "green", "circle_check"),
            RunStatus.PARTIALLY_SUCCEEDED.value: BadgeStyle("Partially succeeded", "amber", "triangle_alert"),
            RunStatus.FAILED.value: BadgeStyle("Failed", "red", "circle_x"),
            RunStatus.CANCELLED.value: BadgeStyle("Cancelled", "gray", "ban"),
        }),
        HEALTH_STATUS: MappingProxyType({
            HealthStatus.UNKNOWN.value: BadgeStyle("Not checked", "gray", "circle_dashed"),
            HealthStatus.HEALTHY.value: BadgeStyle("Healthy", "green", "heart_pulse"),
            HealthStatus.UNHEALTHY.value: BadgeStyle("Unhealthy", "red", "circle_alert"),
        }),
        READINESS: MappingProxyType({
            ReadinessStatus.READY.value: BadgeStyle("Ready", "green", "circle_check"),
            ReadinessStatus.BLOCKED.value: BadgeStyle("Blocked", "red", "octagon_x"),
            ReadinessStatus.UNKNOWN.value: BadgeStyle("Not known yet", "gray", "circle_dashed"),
            ReadinessStatus.NOT_AVAILABLE.value: BadgeStyle("Not available in this cloud", "gray", "cloud_off"),
        }),
        SECTION_STATUS: MappingProxyType({
            SectionStatus.RUNNING.value: BadgeStyle("Reading", "blue", "loader"),
            SectionStatus.SUCCEEDED.value: BadgeStyle("Done", "green", "circle_check"),
            SectionStatus.FAILED.value: BadgeStyle("Failed", "red", "circle_x"),
            SectionStatus.SKIPPED.value: BadgeStyle("Skipped", "amber", "circle_slash"),
            SectionStatus.PARTIAL.value: BadgeStyle("Incomplete", "amber", "circle_alert"),
        }),
        PERMISSION_GRANT: MappingProxyType({
            PermissionGrant.GRANTED.value: BadgeStyle("Granted", "green", "check"),
            PermissionGrant.MISSING.value: BadgeStyle("Missing", "red", "x"),
            PermissionGrant.UNKNOWN.value: BadgeStyle("Not known", "gray", "circle_help"),
        }),
        ALERT_STATUS: MappingProxyType({
            AlertStatus.PENDING.value: BadgeStyle("Sending", "blue", "send"),
            AlertStatus.SENT.value: BadgeStyle("Sent", "green", "circle_check"),
            AlertStatus.FAILED.value: BadgeStyle("Not delivered", "red", "circle_x"),
        }),
    })

    # The enum each domain must cover completely.
    ENUMS: Mapping[str, type[StrEnum]] = MappingProxyType({
        RUN_STATUS: RunStatus,
        HEALTH_STATUS: HealthStatus,
        READINESS: ReadinessStatus,
        SECTION_STATUS: SectionStatus,
        PERMISSION_GRANT: PermissionGrant,
        ALERT_STATUS: AlertStatus,
    })

    @classmethod
    def domains(cls) -> tuple[str, ...]:
        return tuple(cls._DOMAINS)

    @classmethod
    def entries(cls, domain: str) -> Mapping[str, BadgeStyle]:
        return cls._DOMAINS[domain]

    @classmethod
    def style(cls, domain: str, value: str) -> BadgeStyle:
        return cls._DOMAINS[domain].get(value, _UNKNOWN_VALUE)

    @classmethod
    def missing(cls) -> dict[str, set[str]]:
        """Enum values without a badge, per domain (empty when the catalogue is complete)."""
        gaps = {domain: {m.value for m in enum} - set(cls._DOMAINS[domain]) for domain, enum in cls.ENUMS.items()}
        return {domain: values for domain, values in gaps.items() if values}

    @classmethod
    def badge(cls, domain: str, value: rx.Var[str] | str, *, test_id: rx.Var[str] | str | None = None
              ) -> rx.Component:
        """A badge for ``value`` (usually a state Var), chosen in the browser from this catalogue."""
        attrs: dict[str, rx.Var[str] | str] = {"data-status": value, "data-domain": domain}
        if test_id is not None:
            attrs["data-testid"] = test_id

        def render(style: BadgeStyle) -> rx.Component:
            return rx.badge(rx.icon(style.icon, size=14), style.label, color_scheme=style.colour,
                            variant="soft", custom_attrs=attrs)

        cases = [(value_key, render(style)) for value_key, style in cls._DOMAINS[domain].items()]
        return rx.match(value, *cases, render(_UNKNOWN_VALUE))


if BadgeCatalog.missing():  # pragma: no cover - a programming error caught at import
    raise RuntimeError(f"BadgeCatalog lacks entries for {BadgeCatalog.missing()}")
