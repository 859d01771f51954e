"""The Reflex app: pages, plus the sign-in routes mounted in front of Reflex's own on the same origin."""

from __future__ import annotations

import logging
import traceback

import reflex as rx
from reflex_base.event import EventSpec

from atlas_app.auth_routes import build_auth_api
from atlas_app.cookie_shield import CookieShield
from atlas_app.export_routes import build_export_api
from atlas_app.invite_routes import build_invite_api
from atlas_app.mfa_routes import build_mfa_api
from atlas_app.ops_routes import build_ops_api
from atlas_app.pages import (
    account_security,
    alerts,
    audit,
    connection_detail,
    connections,
    invitations,
    login,
    members,
    operations,
    second_factor,
    sign_in_settings,
)
from atlas_app.pages.runs import state as run_state
from atlas_app.pages.runs import view as run_view
from atlas_app.sso_routes import build_sso_api
from atlas_app.state.guard import public_handler
from atlas_app.state.session import HOME_ROUTE, LOGIN_ROUTE, SessionState
from atlas_app.state.tab_identity import ForgetPreviousUser
from atlas_app.upload_gate import UploadGate
from atlas_services.logs import configure_logging
from atlas_services.netguard import install_outbound_guard

log = logging.getLogger(__name__)


def _on_backend_exception(exception: Exception) -> EventSpec:
    """An error a handler did not translate (a bug, or a forged event such as ``setvar``).

    The log gets the type and the stack but not the message, which may carry anything (even a secret);
    the user gets a generic line, in every mode (Reflex's own handler shows the message outside prod).
    """
    log.error("unhandled %s in an event handler\n%s", type(exception).__name__,
              "".join(traceback.format_tb(exception.__traceback__)))
    return rx.toast.error("Something went wrong. Try again in a moment.", id="backend_error",
                          position="top-center")


def _configure_logging() -> None:
    configure_logging()


# The sign-in and invitation routes go in front of Reflex's; UploadGate lets an upload through only for
# the tab's own user;
# CookieShield wraps everything (one session cookie per request; the event socket's and uploads' Cookie
# header carry only the session digest by the time Reflex or the gate sees them).
app = rx.App(api_transformer=[build_auth_api(), build_mfa_api(), build_sso_api(), build_invite_api(), build_ops_api(),
                               build_export_api(), UploadGate, CookieShield],
             backend_exception_handler=_on_backend_exception)
# Before every event (hydrate included): a tab whose session changed starts from an empty state tree.
app.add_middleware(ForgetPreviousUser(), index=0)
# In the serving process only (not while `reflex run` compiles): HTTP may reach loopback and nothing else.
app.register_lifespan_task(install_outbound_guard)
# Also only there: ATLAS_LOG_FORMAT, the run/tenant context and the secret redaction for the web's own lines.
app.register_lifespan_task(_configure_logging)


def index() -> rx.Component:
    return rx.center(rx.text("Loading…"), min_height="50vh")


class IndexState(SessionState):
    @public_handler()
    async def route(self) -> EventSpec:
        """/ sends signed-in users to their connections and everyone else to the login page."""
        if await self._actor() is None:
            return rx.redirect(LOGIN_ROUTE)
        return rx.redirect(HOME_ROUTE)


app.add_page(index, route="/", title="Atlas", on_load=IndexState.route)
app.add_page(login.login_page, route=login.ROUTE, title="Sign in · Atlas", on_load=login.LoginState.on_page_load)
app.add_page(connections.connections_page, route=connections.ROUTE, title="Connections · Atlas",
             on_load=connections.ConnectionsState.on_page_load)
app.add_page(connection_detail.connection_detail_page, route=connection_detail.ROUTE, title="Connection · Atlas",
             on_load=connection_detail.ConnectionDetailState.on_page_load)
app.add_page(operations.operations_page, route=operations.ROUTE, title="Operations · Atlas",
             on_load=operations.OperationsState.on_page_load)
app.add_page(alerts.alerts_page, route=alerts.ROUTE, title="Alerts · Atlas", on_load=alerts.AlertsState.on_page_load)
app.add_page(sign_in_settings.sign_in_settings_page, route=sign_in_settings.ROUTE, title="Sign-in settings · Atlas",
             on_load=sign_in_settings.SignInSettingsState.on_page_load)
app.add_page(members.members_page, route=members.ROUTE, title="Members · Atlas",
             on_load=members.MembersState.on_page_load)
app.add_page(invitations.invitations_page, route=invitations.ROUTE, title="Invitations · Atlas",
             on_load=invitations.InvitationsState.on_page_load)
app.add_page(audit.audit_page, route=audit.ROUTE, title="Audit log · Atlas", on_load=audit.AuditState.on_page_load)
app.add_page(run_view.run_page, route=run_state.ROUTE, title="Run · Atlas", on_load=run_state.RunState.on_page_load)
app.add_page(second_factor.second_factor_page, route=second_factor.ROUTE, title="Second step · Atlas",
             on_load=second_factor.SecondFactorState.on_page_load)
app.add_page(account_security.account_security_page, route=account_security.ROUTE, title="Account security · Atlas",
             on_load=account_security.AccountSecurityState.on_page_load)
