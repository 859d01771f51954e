"""/settings/sign-in: owners configure Sign in with Microsoft (the sign-in app: home Entra tenant, client id, and
a client secret or certificate, shown afterwards only as a hint) and the "SSO required" policy with its named
break-glass owner. DB-only: nothing here talks to Microsoft."""

from __future__ import annotations

from typing import Any

import reflex as rx

from atlas_app.components.layout import page_frame
from atlas_app.state.guard import PAGE_DENIED, form_arg, requires_capability, secret_field, text_field
from atlas_app.state.session import FAILED, SessionState
from atlas_services import sso_config
from atlas_services.authz import Actor, Capability

ROUTE = "/settings/sign-in"
CLOUDS = ("global", "usgov", "usgov_dod", "china", "simulator")
APP_FORM = form_arg(cloud=text_field("Cloud", 20), entra_tenant_id=text_field("Entra tenant id", 64),
                    client_id=text_field("Client id", 64), client_secret=secret_field("Client secret", 1024),
                    certificate_pem=secret_field("Certificate (PEM)", 20_000))
POLICY_FORM = form_arg(required=text_field("SSO required", 3), break_glass_email=text_field("Break-glass owner", 254))


class SignInSettingsState(SessionState):
    sso_configured: rx.Field[bool] = rx.field(False)
    sso_summary: rx.Field[str] = rx.field("")
    sso_required: rx.Field[bool] = rx.field(False)
    break_glass_email: rx.Field[str] = rx.field("")
    loaded: rx.Field[bool] = rx.field(False)

    async def _refresh(self, actor: Actor) -> None:
        view = await self._call(sso_config.settings, actor)
        if view is FAILED:
            return
        self.sso_configured, self.sso_required = view.configured, view.sso_required
        self.break_glass_email = view.break_glass_email
        self.sso_summary = (f"App {view.client_id} in Entra tenant {view.entra_tenant_id} ({view.cloud}); "
                            f"{view.kind.replace('_', ' ')} {view.hint}") if view.configured else ""
        self.loaded = True

    @requires_capability(Capability.TENANT_MANAGE, denied=PAGE_DENIED)
    async def on_page_load(self, actor: Actor) -> None:
        self.notice = ""
        await self._refresh(actor)

    @requires_capability(Capability.TENANT_MANAGE, form_data=APP_FORM)
    async def save_sign_in_app(self, actor: Actor, form_data: Any) -> Any:
        secret, pem = form_data["client_secret"], form_data["certificate_pem"]
        result = await self._call(sso_config.configure, actor, cloud=form_data["cloud"] or "global",
                                  entra_tenant_id=form_data["entra_tenant_id"], client_id=form_data["client_id"],
                                  client_secret=secret.reveal() if secret else None,
                                  certificate_pem=pem.reveal() if pem else None)
        if result is not FAILED:
            self._say("Sign-in app saved.", "success")
        await self._refresh(actor)

    @requires_capability(Capability.TENANT_MANAGE, form_data=POLICY_FORM)
    async def change_sso_policy(self, actor: Actor, form_data: Any) -> None:
        if form_data["required"] not in ("on", "off"):
            self._say("Choose whether Sign in with Microsoft is required.", "error")
            return
        required = form_data["required"] == "on"
        if await self._call(sso_config.require, actor, required, form_data["break_glass_email"]) is not FAILED:
            self._say("Members must now sign in with Microsoft." if required
                      else "Members may use their passwords again.", "success")
        await self._refresh(actor)

    @requires_capability(Capability.TENANT_MANAGE)
    async def remove_sign_in_app(self, actor: Actor) -> None:
        if await self._call(sso_config.clear, actor) is not FAILED:
            self._say("Sign in with Microsoft removed.", "success")
        await self._refresh(actor)


def _app_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.el.select(*(rx.el.option(c, value=c) for c in CLOUDS), name="cloud",
                         custom_attrs={"data-testid": "sso-cloud"}),
            rx.input(id="entra_tenant_id", name="entra_tenant_id", placeholder="Home Entra tenant id", width="28em",
                     custom_attrs={"data-testid": "sso-entra-tenant-id"}),
            rx.input(id="client_id", name="client_id", placeholder="Client id", width="28em",
                     custom_attrs={"data-testid": "sso-client-id"}),
            rx.input(id="client_secret", name="client_secret", type="password", placeholder="Client secret",
                     width="28em", custom_attrs={"data-testid": "sso-client-secret", "autocomplete": "off"}),
            rx.text_area(id="certificate_pem", name="certificate_pem", placeholder="…or a PEM bundle (certificate "
                         "and private key)", width="28em", custom_attrs={"data-testid": "sso-certificate"}),
            rx.button("Save sign-in app", type="submit", custom_attrs={"data-testid": "sso-save"}),
            spacing="2",
        ),
        on_submit=SignInSettingsState.save_sign_in_app,
        reset_on_submit=False,
    )


def _policy_form() -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.el.select(rx.el.option("SSO optional", value="off"), rx.el.option("SSO required", value="on"),
                         name="required", custom_attrs={"data-testid": "sso-required"}),
            rx.input(id="break_glass_email", name="break_glass_email", placeholder="Break-glass owner's email",
                     width="20em", custom_attrs={"data-testid": "sso-break-glass"}),
            rx.button("Save policy", type="submit", custom_attrs={"data-testid": "sso-policy-save"}),
            align="center",
        ),
        on_submit=SignInSettingsState.change_sso_policy,
        reset_on_submit=False,
    )


def sign_in_settings_page() -> rx.Component:
    return page_frame(
        rx.heading("Sign-in settings", size="6"),
        rx.cond(
            SessionState.can_manage_tenant,
            rx.vstack(
                rx.cond(SignInSettingsState.sso_configured,
                        rx.text(SignInSettingsState.sso_summary, custom_attrs={"data-testid": "sso-summary"}),
                        rx.text("Sign in with Microsoft is not configured.", color_scheme="gray",
                                custom_attrs={"data-testid": "sso-not-configured"})),
                rx.cond(SignInSettingsState.sso_required,
                        rx.text("SSO required; break-glass owner: ", SignInSettingsState.break_glass_email,
                                custom_attrs={"data-testid": "sso-policy"})),
                _app_form(),
                rx.cond(SignInSettingsState.sso_configured,
                        rx.vstack(_policy_form(),
                                  rx.button("Remove sign-in app", variant="soft", color_scheme="red",
                                            on_click=SignInSettingsState.remove_sign_in_app,
                                            custom_attrs={"data-testid": "sso-remove"}))),
                spacing="4",
            ),
        ),
    )
