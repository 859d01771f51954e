"""/account/security: the signed-in user's authenticator (status, set up, remove) and, for owners, the suite
tenant's policy "MFA required for local accounts".

Setting up and removing are plain HTTP routes (``atlas_app.mfa_routes``): the seed, the codes and the password
never pass through this page's state, which holds only what is shown here (status and counts).
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from atlas_app.components.layout import page_frame
from atlas_app.components.native_form import native_form
from atlas_app.mfa_routes import ENROL_PATH, REMOVE_PATH, RENEW_PATH
from atlas_app.state.guard import SIGNED_IN, flag_arg, requires_capability
from atlas_app.state.session import FAILED, SessionState
from atlas_services import mfa
from atlas_services.authz import Actor, Capability

ROUTE = "/account/security"

# What the routes' ?outcome= may say (anything else in the query string shows nothing).
OUTCOMES: dict[str, tuple[str, str]] = {
    "enrolled": ("Your authenticator is set up. Sign-ins now ask for a code.", "success"),
    "removed": ("Your authenticator was removed.", "success"),
    "already": ("An authenticator is already set up. Remove it first to set up another.", "error"),
    "wrong": ("That is neither a current code nor your password.", "error"),
    "wrong-code": ("That code is not valid. Enter the code your authenticator shows now.", "error"),
    "renewed": ("New recovery codes are set: the earlier ones no longer work.", "success"),
    "throttled": ("Too many attempts. Wait a few minutes and try again.", "error"),
    "invalid": ("That request was not valid.", "error"),
    "error": ("This is unavailable right now. Try again in a moment.", "error"),
}


class AccountSecurityState(SessionState):
    enrolled: rx.Field[bool] = rx.field(False)
    recovery_codes_left: rx.Field[int] = rx.field(0)
    required_for_me: rx.Field[bool] = rx.field(False)
    tenant_requires_mfa: rx.Field[bool] = rx.field(False)
    loaded: rx.Field[bool] = rx.field(False)

    def _clear_page(self) -> None:
        self.enrolled = False
        self.recovery_codes_left = 0
        self.required_for_me = False
        self.tenant_requires_mfa = False
        self.loaded = False

    async def _refresh(self, actor: Actor) -> None:
        mine = await self._call(mfa.status, actor)
        required = await self._call(mfa.policy, actor)
        if mine is FAILED or required is FAILED:
            return
        self.enrolled = mine.enrolled
        self.recovery_codes_left = mine.recovery_codes_left
        self.required_for_me = mine.required
        self.tenant_requires_mfa = required
        self.loaded = True

    @requires_capability(SIGNED_IN)
    async def on_page_load(self, actor: Actor) -> None:
        # The query string comes from the browser: only the fixed messages above can be shown.
        outcome = self.router.url.query_parameters.get("outcome", "")
        message, kind = OUTCOMES.get(outcome, ("", "info")) if isinstance(outcome, str) else ("", "info")
        self._say(message, kind)
        await self._refresh(actor)

    @requires_capability(Capability.TENANT_MANAGE, required=flag_arg)
    async def change_mfa_policy(self, actor: Actor, required: Any) -> None:
        """Owners: turn the tenant's "MFA required for local accounts" policy on or off."""
        result = await self._call(mfa.set_policy, actor, required)
        if result is not FAILED:
            self._say("Members must now use a second factor to sign in." if result
                      else "A second factor is now optional for members.", "success")
        await self._refresh(actor)


def _status() -> rx.Component:
    return rx.cond(
        AccountSecurityState.enrolled,
        rx.vstack(
            rx.hstack(rx.badge("Authenticator set up", color_scheme="green", variant="soft",
                               custom_attrs={"data-testid": "mfa-status"}),
                      rx.text(AccountSecurityState.recovery_codes_left.to_string() + " recovery codes left",
                              size="2", color_scheme="gray", custom_attrs={"data-testid": "recovery-codes-left"}),
                      align="center", spacing="3"),
            native_form(
                rx.hstack(
                    rx.input(name="code", required=True, auto_complete="one-time-code", max_length=9,
                             placeholder="Current code", custom_attrs={"data-testid": "mfa-renew-code"}),
                    rx.button("New recovery codes", type="submit", variant="soft",
                              custom_attrs={"data-testid": "mfa-renew"}),
                    spacing="2", align="center",
                ),
                action=RENEW_PATH,
                method="post",
            ),
            native_form(
                rx.hstack(
                    rx.input(name="proof", type="password", required=True, auto_complete="off",
                             placeholder="Current code or your password",
                             custom_attrs={"data-testid": "mfa-remove-proof"}),
                    rx.button("Remove authenticator", type="submit", color_scheme="red", variant="soft",
                              custom_attrs={"data-testid": "mfa-remove"}),
                    spacing="2", align="center",
                ),
                action=REMOVE_PATH,
                method="post",
            ),
            spacing="3",
        ),
        rx.vstack(
            rx.badge("No second factor", color_scheme="gray", variant="soft",
                     custom_attrs={"data-testid": "mfa-status"}),
            rx.cond(AccountSecurityState.required_for_me,
                    rx.text("Your organisation requires one: set it up now, or you will be asked at your next "
                            "sign-in.", size="2", color_scheme="orange")),
            # A native GET form: a full page load (a link would go through Reflex's client-side router, and the
            # route is served in front of Reflex).
            native_form(
                rx.button("Set up an authenticator", type="submit", custom_attrs={"data-testid": "mfa-enrol"}),
                action=ENROL_PATH,
                method="get",
            ),
            spacing="3",
        ),
    )


def _policy() -> rx.Component:
    return rx.cond(
        AccountSecurityState.can_manage_tenant,
        rx.card(
            rx.vstack(
                rx.heading("Tenant policy", size="4"),
                rx.hstack(
                    rx.switch(checked=AccountSecurityState.tenant_requires_mfa,
                              on_change=AccountSecurityState.change_mfa_policy,
                              custom_attrs={"data-testid": "mfa-required-switch"}),
                    rx.text("Require a second factor for local accounts in ", AccountSecurityState.tenant_name,
                            size="2"),
                    align="center", spacing="2",
                ),
                rx.text("Members without an authenticator must set one up at their next sign-in. An owner can "
                        "clear a member's lost authenticator with `atlas mfa reset`.", size="1",
                        color_scheme="gray"),
                spacing="2",
            ),
            width="100%",
        ),
    )


def account_security_page() -> rx.Component:
    return page_frame(
        rx.heading("Account security", size="6"),
        rx.text("A second factor protects your sign-in if your password is ever phished.", size="2",
                color_scheme="gray"),
        rx.cond(AccountSecurityState.loaded, _status()),
        _policy(),
    )
