"""The credential inputs shared by the create-connection form and the rotate-credential dialog.

Which kind of credential (client secret, PEM bundle, PFX file) is a radio group submitted with the form; the
inputs of that kind follow. Input ids (== names) carry a prefix so two forms can share a page; test ids carry
another, so a test can tell the forms apart.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

# The fields a credential error can name; any other error is shown for the whole form.
CREDENTIAL_FIELDS = ("client_secret", "expires_on", "certificate")


def error_line(field_var: rx.Var[str], error_var: rx.Var[str], field: str, test_id: str) -> rx.Component:
    """The form's error, under the input it names."""
    return rx.cond(field_var == field, rx.text(error_var, size="1", color_scheme="red",
                                               custom_attrs={"data-testid": test_id}))


def form_error(field_var: rx.Var[str], error_var: rx.Var[str], fields: tuple[str, ...], test_id: str
               ) -> rx.Component:
    """The form's error when it names none of ``fields`` (those are shown under their inputs)."""
    return rx.cond(
        (error_var != "") & ~rx.Var.create(list(fields)).contains(field_var),
        rx.text(error_var, size="2", color_scheme="red", custom_attrs={"data-testid": test_id}),
    )


def labelled(label: str, element_id: str, control: rx.Component, error: rx.Component | None = None
             ) -> rx.Component:
    return rx.vstack(
        rx.el.label(rx.text(label, size="2", weight="medium"), html_for=element_id),
        control,
        *([error] if error is not None else []),
        spacing="1",
        width="100%",
    )


def kind_picker(value: rx.Var[str], on_change: Any, test_id: str) -> rx.Component:
    """Which kind of credential the form takes; the choice is submitted with the form (hidden input)."""
    return rx.fragment(
        rx.el.input(type="hidden", name="credential_kind", value=value),
        rx.radio_group.root(
            rx.hstack(
                rx.radio_group.item(value="secret", custom_attrs={"data-testid": f"{test_id}-secret"}),
                rx.text("Client secret", size="2"),
                rx.radio_group.item(value="pem", custom_attrs={"data-testid": f"{test_id}-pem"}),
                rx.text("Certificate (PEM)", size="2"),
                rx.radio_group.item(value="pfx", custom_attrs={"data-testid": f"{test_id}-pfx"}),
                rx.text("Certificate (PFX file)", size="2"),
                spacing="2",
                align="center",
            ),
            value=value,
            on_change=on_change,
        ),
    )


def _pfx_upload(upload_id: str) -> rx.Component:
    return rx.vstack(
        rx.upload(
            rx.vstack(rx.icon("file_key", size=20), rx.text("Choose or drop a .pfx / .p12 file", size="2"),
                      align="center", spacing="1"),
            id=upload_id,
            max_files=1,
            multiple=False,
            border="1px dashed var(--gray-a7)",
            padding="1em",
            width="100%",
            custom_attrs={"data-testid": upload_id},
        ),
        rx.foreach(rx.selected_files(upload_id), lambda name: rx.text(name, size="1", color_scheme="gray")),
        spacing="1",
        width="100%",
    )


def _pem_inputs(prefix: str, errors: Any, test_prefix: str) -> rx.Component:
    pem_id = f"{prefix}certificate_pem"
    return labelled(
        "Certificate and private key (PEM)", pem_id,
        rx.text_area(id=pem_id, name=pem_id, rows="6", width="100%", font_family="monospace",
                     placeholder="-----BEGIN CERTIFICATE-----\n…\n-----BEGIN PRIVATE KEY-----\n…",
                     custom_attrs={"data-testid": f"{test_prefix}certificate-pem"}),
        errors("certificate"))


def _pfx_inputs(prefix: str, upload_id: str, errors: Any, test_prefix: str) -> rx.Component:
    passphrase_id = f"{prefix}pfx_passphrase"
    return rx.vstack(
        labelled("PFX file", upload_id, _pfx_upload(upload_id), errors("certificate")),
        labelled("Passphrase", passphrase_id,
                 rx.input(id=passphrase_id, name=passphrase_id, type="password", auto_complete="off",
                          width="100%", custom_attrs={"data-testid": f"{test_prefix}pfx-passphrase"})),
        spacing="3",
        width="100%",
    )


def _secret_inputs(prefix: str, guid_warning: rx.Var[bool], errors: Any, test_prefix: str) -> rx.Component:
    secret_id, expires_id = f"{prefix}client_secret", f"{prefix}expires_on"
    return rx.vstack(
        rx.grid(
            labelled("Client secret (its Value)", secret_id,
                     rx.input(id=secret_id, name=secret_id, type="password", auto_complete="new-password",
                              width="100%", custom_attrs={"data-testid": f"{test_prefix}client-secret"}),
                     errors("client_secret")),
            labelled("Secret expires on (optional)", expires_id,
                     rx.input(id=expires_id, name=expires_id, type="date", width="100%",
                              custom_attrs={"data-testid": f"{test_prefix}expires-on"}),
                     errors("expires_on")),
            columns="2",
            spacing="3",
            width="100%",
        ),
        rx.cond(
            guid_warning,
            rx.hstack(
                rx.checkbox(name=f"{prefix}allow_guid_shaped",
                            custom_attrs={"data-testid": f"{test_prefix}allow-guid"}),
                rx.text("I'm sure: this GUID-shaped value is the secret's Value.", size="2"),
                align="center",
            ),
        ),
        spacing="3",
        width="100%",
    )


def credential_inputs(kind: rx.Var[str], prefix: str, field_var: rx.Var[str], error_var: rx.Var[str],
                      guid_warning: rx.Var[bool], upload_id: str, test_prefix: str) -> rx.Component:
    """The inputs of the chosen kind of credential, each with its field error under it."""

    def errors(field: str) -> rx.Component:
        return error_line(field_var, error_var, field, f"{test_prefix}error-{field}")

    return rx.match(
        kind,
        ("pem", _pem_inputs(prefix, errors, test_prefix)),
        ("pfx", _pfx_inputs(prefix, upload_id, errors, test_prefix)),
        _secret_inputs(prefix, guid_warning, errors, test_prefix),
    )
