"""The create-connection form and the rotate-credential dialog of /connections."""

from __future__ import annotations

import reflex as rx

from atlas_app.components.credential_form import (
    CREDENTIAL_FIELDS,
    credential_inputs,
    error_line,
    form_error,
    kind_picker,
    labelled,
)
from atlas_app.pages.connections.credentials import CREATE_PFX_UPLOAD, ROTATE_PFX_UPLOAD, ROTATE_PREFIX
from atlas_app.pages.connections.state import ConnectionsState as S
from atlas_services.config import get_settings

CLOUDS = ["global", "usgov", "usgov_dod", "china", "simulator"]
GUID_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"


def _id_input(label: str, field: str, test_id: str) -> rx.Component:
    return labelled(label, field,
                    rx.input(id=field, name=field, required=True, placeholder=GUID_PLACEHOLDER, width="100%",
                             custom_attrs={"data-testid": test_id}),
                    error_line(S.form_field, S.form_error, field, f"form-error-{field}"))


def create_form() -> rx.Component:
    return rx.card(
        rx.heading("Connect a Microsoft tenant", size="4", margin_bottom="0.75em"),
        rx.form(
            rx.vstack(
                rx.grid(
                    labelled("Name", "name",
                             rx.input(id="name", name="name", required=True, max_length=100,
                                      placeholder="Contoso production", width="100%",
                                      custom_attrs={"data-testid": "create-name"}),
                             error_line(S.form_field, S.form_error, "name", "form-error-name")),
                    labelled("Cloud", "cloud",
                             rx.select(CLOUDS, name="cloud", default_value=get_settings().default_cloud)),
                    _id_input("Entra tenant id", "entra_tenant_id", "create-entra-tenant-id"),
                    _id_input("Client id", "client_id", "create-client-id"),
                    columns=rx.breakpoints(initial="1", sm="2"),
                    spacing="3",
                    width="100%",
                ),
                kind_picker(S.create_kind, S.choose_create_kind, "create-kind"),
                credential_inputs(S.create_kind, "", S.form_field, S.form_error, S.create_guid_warning,
                                  CREATE_PFX_UPLOAD, "create-"),
                rx.hstack(
                    rx.checkbox(name="make_default", custom_attrs={"data-testid": "create-make-default"}),
                    rx.text("Make this the default connection", size="2"),
                    align="center",
                ),
                form_error(S.form_field, S.form_error, ("name", "entra_tenant_id", "client_id", *CREDENTIAL_FIELDS),
                           "form-error"),
                rx.button("Create connection", type="submit", custom_attrs={"data-testid": "create-connection"}),
                spacing="3",
                width="100%",
            ),
            # The fields travel with the (possibly empty) PFX upload: one request, nothing kept in state.
            on_submit=lambda form_data: S.create_connection(rx.upload_files(upload_id=CREATE_PFX_UPLOAD), form_data),
            reset_on_submit=False,
            id="create-connection-form",
        ),
        width="100%",
    )


def rotate_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Rotate credential"),
            rx.dialog.description(
                rx.text("Add a new credential for ", rx.text.strong(S.rotate_name),
                        ". Atlas verifies it with a health check; the current credential stays active until that "
                        "check succeeds.", size="2"),
            ),
            rx.form(
                rx.vstack(
                    rx.el.input(type="hidden", name="connection_id", value=S.rotate_id),
                    kind_picker(S.rotate_kind, S.choose_rotate_kind, "rotate-kind"),
                    credential_inputs(S.rotate_kind, ROTATE_PREFIX, S.rotate_field, S.rotate_error,
                                      S.rotate_guid_warning, ROTATE_PFX_UPLOAD, "rotate-"),
                    form_error(S.rotate_field, S.rotate_error, CREDENTIAL_FIELDS, "rotate-error"),
                    rx.hstack(
                        rx.dialog.close(rx.button("Cancel", type="button", variant="soft", color_scheme="gray")),
                        rx.button("Add and verify", type="submit", custom_attrs={"data-testid": "rotate-submit"}),
                        justify="end",
                        spacing="3",
                        width="100%",
                    ),
                    spacing="3",
                    width="100%",
                    margin_top="1em",
                ),
                on_submit=lambda form_data: S.rotate_credential(rx.upload_files(upload_id=ROTATE_PFX_UPLOAD),
                                                                form_data),
                reset_on_submit=False,
                id="rotate-credential-form",
            ),
            custom_attrs={"data-testid": "rotate-dialog"},
        ),
        open=S.rotate_open,
        on_open_change=S.rotation_dialog,
    )
