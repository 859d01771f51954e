"""The connection page's onboarding parts: the admin-consent URL and the manifest fragment (copy-ready, no secret,
so any viewer sees them), what is still missing after consent and why, and the app registration's credentials as
Microsoft listed them. Rows are shaped here from the health read model; the state only holds them."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import reflex as rx
from reflex.vars import ArrayVar

from atlas_app.pages.connection_detail.section import section
from atlas_app.state.messages import when
from atlas_services.connection_health import ConnectionHealthView

STATE_LABELS = {
    "propagating": "Propagating: granted in the directory, not yet in the access token. Check again in a few minutes.",
    "not_granted": "Not granted: add it to the app registration and grant admin consent.",
    "not_in_token": "Not in the access token (Atlas cannot read the directory to tell propagation from not granted).",
}


@dataclasses.dataclass
class NeedRow:
    capability: str = ""
    permission: str = ""
    role_id: str = ""
    kind: str = ""  # required | recommended


@dataclasses.dataclass
class MissingRow:
    permission: str = ""
    state: str = ""
    explanation: str = ""
    needed_for: str = ""


@dataclasses.dataclass
class AppCredentialRow:
    kind: str = ""
    name: str = ""
    identifier: str = ""  # a secret's hint or a certificate's thumbprint
    expires: str = ""
    in_use: bool = False


def need_rows(health: ConnectionHealthView | None) -> list[NeedRow]:
    return [NeedRow(n.capability_label, n.permission, n.role_id, "required" if n.required else "recommended")
            for n in health.onboarding.needs] if health else []


def missing_rows(health: ConnectionHealthView | None) -> list[MissingRow]:
    return [MissingRow(m.permission, m.state, STATE_LABELS.get(m.state, m.state),
                       ", ".join(c.replace("_", " ") for c in m.needed_for))
            for m in health.missing_permissions] if health else []


def app_credential_rows(health: ConnectionHealthView | None) -> list[AppCredentialRow]:
    return [AppCredentialRow("Certificate" if c.kind == "certificate" else "Client secret", c.display_name or "",
                             (c.thumbprint or "") if c.kind == "certificate" else f"{c.hint or ''}…",
                             c.end_at.strftime("%Y-%m-%d") if c.end_at else "", c.in_use)
            for c in health.app_credentials] if health else []


def listed_at(health: ConnectionHealthView | None) -> str:
    return when(health.app_credentials[0].observed_at) if health and health.app_credentials else ""


def _copy_button(value: rx.Var[str], test_id: str) -> rx.Component:
    return rx.button(rx.icon("copy", size=14), "Copy", size="1", variant="soft", on_click=rx.set_clipboard(value),
                     custom_attrs={"data-testid": test_id})


def onboarding_section(consent_url: rx.Var[str], manifest: rx.Var[str],
                       needs: ArrayVar[Sequence[NeedRow]]) -> rx.Component:
    return section(
        "Onboarding",
        rx.text("1. Paste the permissions into the app registration's manifest (requiredResourceAccess). "
                "2. Open the admin-consent URL as an admin of the customer tenant. 3. Run the health check.", size="2"),
        rx.hstack(rx.link(consent_url, href=consent_url, is_external=True, size="2", word_break="break-all",
                          custom_attrs={"data-testid": "consent-url"}),
                  _copy_button(consent_url, "copy-consent-url"), align="center", spacing="2", wrap="wrap"),
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in
                                           ("Capability", "Permission", "App-role id", "")])),
            rx.table.body(rx.foreach(needs, lambda n: rx.table.row(
                rx.table.cell(n.capability), rx.table.cell(rx.code(n.permission, size="1")),
                rx.table.cell(rx.code(n.role_id, size="1")), rx.table.cell(rx.text(n.kind, size="1")),
                custom_attrs={"data-testid": "permission-need", "data-permission": n.permission}))),
            size="1", width="100%"),
        rx.hstack(rx.text("requiredResourceAccess", weight="medium", size="2"),
                  _copy_button(manifest, "copy-manifest"), align="center", spacing="2"),
        # Plain preformatted text: a syntax highlighter would add a frontend dependency for one block.
        rx.el.pre(manifest, style={"font_family": "var(--code-font-family)", "font_size": "12px", "padding": "8px",
                                   "background": "var(--gray-a3)", "border_radius": "6px", "overflow_x": "auto",
                                   "width": "100%"},
                  custom_attrs={"data-testid": "manifest"}),
        test_id="onboarding-section",
    )


def missing_callout(rows: ArrayVar[Sequence[MissingRow]]) -> rx.Component:
    return rx.cond(
        rows.length() > 0,
        rx.callout(
            rx.vstack(
                rx.text("Still missing after consent:", weight="medium", size="2"),
                rx.foreach(rows, lambda m: rx.hstack(
                    rx.code(m.permission, size="1"), rx.text(m.explanation, " Needed for ", m.needed_for, ".",
                                                             size="2"),
                    spacing="2", align="center", wrap="wrap",
                    custom_attrs={"data-testid": "missing-permission", "data-state": m.state})),
                spacing="1"),
            icon="key_round", color_scheme="orange", width="100%",
            custom_attrs={"data-testid": "missing-permissions"}),
    )


def app_credentials_table(rows: ArrayVar[Sequence[AppCredentialRow]], at: rx.Var[str]) -> rx.Component:
    return rx.cond(
        rows.length() > 0,
        rx.vstack(
            rx.text("The app registration's credentials, as Microsoft listed them ", at, ":", size="2"),
            rx.table.root(
                rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in
                                               ("Kind", "Name", "Hint / thumbprint", "Expires", "")])),
                rx.table.body(rx.foreach(rows, lambda c: rx.table.row(
                    rx.table.cell(c.kind), rx.table.cell(c.name), rx.table.cell(rx.code(c.identifier, size="1")),
                    rx.table.cell(c.expires),
                    rx.table.cell(rx.cond(c.in_use, rx.badge("In use by Atlas", color_scheme="blue"), "")),
                    custom_attrs={"data-testid": "app-credential", "data-in-use": rx.cond(c.in_use, "yes", "no")}))),
                size="1", width="100%"),
            spacing="2", width="100%", custom_attrs={"data-testid": "app-credentials"}),
        rx.fragment(),
    )
