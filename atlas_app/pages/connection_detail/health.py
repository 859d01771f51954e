"""The connection page's health section: the last check's findings, readiness, permissions, credential."""

from __future__ import annotations

import reflex as rx

from atlas_app.components.tables import (
    detail_list,
    muted,
    over_privilege_callout,
    permissions_table,
    readiness_table,
    warnings_callout,
)
from atlas_app.pages.connection_detail.onboarding import app_credentials_table, missing_callout
from atlas_app.pages.connection_detail.section import section
from atlas_app.pages.connection_detail.state import ConnectionDetailState as S


def _credential() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text("Credential", weight="medium", size="2"),
            rx.hstack(rx.text(S.credential_kind, size="2"), rx.code(S.secret_hint, size="1"), spacing="2",
                      align="center"),
            rx.cond(S.credential_expires != "",
                    rx.text("Expires ", S.credential_expires, size="1", color_scheme="gray",
                            custom_attrs={"data-testid": "credential-expires"}),
                    rx.text("No expiry recorded", size="1", color_scheme="gray")),
            rx.cond(S.credential_warning != "",
                    rx.text(S.credential_warning, size="1", color_scheme="amber",
                            custom_attrs={"data-testid": "credential-warning"})),
            rx.cond(S.credential_expiry_note != "",
                    rx.text(S.credential_expiry_note, size="1", color_scheme="gray", max_width="22em",
                            custom_attrs={"data-testid": "credential-expiry-source"})),
            spacing="1",
        ),
        custom_attrs={"data-testid": "credential-card"},
    )


def health() -> rx.Component:
    return section(
        "Health",
        rx.hstack(
            rx.vstack(
                rx.cond(S.last_checked != "",
                        rx.text("Last checked ", S.last_checked, size="2",
                                custom_attrs={"data-testid": "last-checked"}),
                        muted("Not checked yet: start a health check to see what this connection may do.",
                              "health-never-checked")),
                rx.cond(S.health_reason_code != "",
                        rx.callout(
                            rx.vstack(rx.code(S.health_reason_code, size="1"), rx.text(S.health_message, size="2"),
                                      rx.cond(S.health_remediation != "",
                                              rx.text(S.health_remediation, size="2", color_scheme="gray")),
                                      spacing="1"),
                            icon="circle_alert", color_scheme="red", width="100%",
                            custom_attrs={"data-testid": "health-reason"})),
                rx.cond(S.organization.length() > 0, detail_list(S.organization, "organization")),
                spacing="2",
                flex="1",
            ),
            _credential(),
            width="100%",
            align="start",
            spacing="4",
            wrap="wrap",
        ),
        missing_callout(S.missing_permissions),
        warnings_callout(S.health_warnings),
        over_privilege_callout(S.over_privileged),
        rx.cond(S.readiness.length() > 0, readiness_table(S.readiness),
                rx.cond(S.last_checked != "",
                        muted("Readiness per capability is not known: the last health check did not get that far.",
                              "readiness-unknown"))),
        rx.cond(
            S.required_permissions.length() > 0,
            rx.vstack(
                rx.text("Granted vs required permissions", weight="medium", size="2"),
                permissions_table(S.required_permissions),
                spacing="2",
                width="100%",
            ),
        ),
        rx.cond(
            S.permissions_known,
            rx.vstack(
                rx.text("Granted permissions, read from ", S.permission_source, ":", size="2",
                        custom_attrs={"data-testid": "permission-source"}),
                rx.cond(S.granted.length() > 0,
                        rx.flex(rx.foreach(S.granted, lambda p: rx.code(p, size="1", custom_attrs={
                            "data-testid": "granted-permission"})), gap="2", wrap="wrap"),
                        muted("None could be read.", "granted-none")),
                rx.cond(S.permission_note != "", rx.text(S.permission_note, size="1", color_scheme="gray")),
                spacing="2",
                width="100%",
            ),
        ),
        app_credentials_table(S.app_credentials, S.app_credentials_at),
        test_id="health-section",
    )
