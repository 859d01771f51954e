"""/alerts: the tenant's alert webhook (shown as a hint; set, cleared and tested with provider.manage) and its
recent alerts (provider.view). The page only writes rows and enqueues: workers send."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import reflex as rx

from atlas_app.components.badges import BadgeCatalog
from atlas_app.components.layout import page_frame
from atlas_app.state.guard import PAGE_DENIED, form_arg, requires_capability, secret_field, text_field
from atlas_app.state.messages import when
from atlas_app.state.session import FAILED, SessionState
from atlas_jobs.alerts import enqueue_alert
from atlas_services.alerts import settings as alerts
from atlas_services.authz import Actor, Capability

ROUTE = "/alerts"
KINDS = ("teams", "slack", "json")
WEBHOOK_FORM = form_arg(kind=text_field("Kind", 10), webhook_url=secret_field("Webhook URL", 2000))


@dataclasses.dataclass
class AlertRow:
    id: str = ""
    at: str = ""
    event: str = ""
    title: str = ""
    status: str = ""
    attempts: int = 0
    error: str = ""


def _read(actor: Actor) -> tuple[alerts.WebhookView | None, list[AlertRow]]:
    webhook = alerts.show(actor)
    rows = [AlertRow(str(v.id), when(v.created_at), v.event, v.title, v.status, v.attempts, v.last_error_code or "")
            for v in alerts.recent(actor)]
    return webhook, rows


def _test(actor: Actor) -> uuid.UUID:
    alert_id = alerts.request_test(actor)
    enqueue_alert(alert_id)
    return alert_id


class AlertsState(SessionState):
    webhook_kind: rx.Field[str] = rx.field("")
    webhook_hint: rx.Field[str] = rx.field("")
    alert_rows: rx.Field[list[AlertRow]] = rx.field(default_factory=list)
    loaded: rx.Field[bool] = rx.field(False)

    def _clear_page(self) -> None:
        self.webhook_kind = self.webhook_hint = ""
        self.alert_rows, self.loaded = [], False

    async def _refresh(self, actor: Actor) -> None:
        read = await self._call(_read, actor)
        if read is FAILED:
            return
        webhook, rows = read
        self.webhook_kind = webhook.kind if webhook else ""
        self.webhook_hint = webhook.hint if webhook else ""
        self.alert_rows, self.loaded = rows, True

    @requires_capability(Capability.PROVIDER_VIEW, denied=PAGE_DENIED)
    async def on_page_load(self, actor: Actor) -> None:
        self.notice = ""
        await self._refresh(actor)

    @requires_capability(Capability.PROVIDER_MANAGE, form_data=WEBHOOK_FORM)
    async def save_webhook(self, actor: Actor, form_data: Any) -> Any:
        url = form_data["webhook_url"]
        kind = form_data["kind"] if form_data["kind"] in KINDS else "json"
        if url is None:
            self._say("Enter the webhook URL.", "error")
            return rx.set_value("webhook_url", "")
        if await self._call(alerts.set_webhook, actor, kind, url.reveal()) is not FAILED:
            self._say("Webhook saved.", "success")
        await self._refresh(actor)
        return rx.set_value("webhook_url", "")

    @requires_capability(Capability.PROVIDER_MANAGE)
    async def clear_webhook(self, actor: Actor) -> None:
        if await self._call(alerts.clear, actor) is not FAILED:
            self._say("Webhook removed.", "success")
        await self._refresh(actor)

    @requires_capability(Capability.PROVIDER_MANAGE)
    async def send_test(self, actor: Actor) -> None:
        if await self._call(_test, actor) is not FAILED:
            self._say("Test alert queued; a worker sends it.", "success")
        await self._refresh(actor)


def _row(row: AlertRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row.at, size="1", white_space="nowrap")),
        rx.table.cell(rx.code(row.event, size="1")),
        rx.table.cell(rx.text(row.title, size="2")),
        rx.table.cell(BadgeCatalog.badge(BadgeCatalog.ALERT_STATUS, row.status)),
        rx.table.cell(rx.text(row.attempts, size="2")),
        rx.table.cell(rx.code(row.error, size="1")),
        custom_attrs={"data-testid": "alert-row", "data-status": row.status},
    )


def _settings() -> rx.Component:
    return rx.vstack(
        rx.cond(AlertsState.webhook_hint != "",
                rx.text("Webhook: ", AlertsState.webhook_kind, " ", AlertsState.webhook_hint,
                        custom_attrs={"data-testid": "alerts-webhook-hint"}),
                rx.text("No webhook set: nothing is sent.", color_scheme="gray",
                        custom_attrs={"data-testid": "alerts-no-webhook"})),
        rx.cond(
            SessionState.can_manage,
            rx.vstack(
                rx.form(
                    rx.hstack(
                        rx.el.select(*(rx.el.option(kind, value=kind) for kind in KINDS), name="kind",
                                     custom_attrs={"data-testid": "alerts-kind"}),
                        rx.input(id="webhook_url", name="webhook_url", type="password", placeholder="https://…",
                                 width="28em", custom_attrs={"data-testid": "alerts-url", "autocomplete": "off"}),
                        rx.button("Save", type="submit", custom_attrs={"data-testid": "alerts-save"}),
                        align="center",
                    ),
                    on_submit=AlertsState.save_webhook,
                    reset_on_submit=False,
                ),
                rx.hstack(
                    rx.button("Send a test alert", variant="soft", on_click=AlertsState.send_test,
                              disabled=AlertsState.webhook_hint == "", custom_attrs={"data-testid": "alerts-test"}),
                    rx.button("Remove webhook", variant="soft", color_scheme="red",
                              on_click=AlertsState.clear_webhook, disabled=AlertsState.webhook_hint == "",
                              custom_attrs={"data-testid": "alerts-clear"}),
                ),
            ),
        ),
        spacing="3",
    )


def alerts_page() -> rx.Component:
    return page_frame(
        rx.heading("Alerts", size="6"),
        rx.cond(
            SessionState.can_view,
            rx.vstack(
                _settings(),
                rx.cond(
                    AlertsState.alert_rows.length() > 0,
                    rx.table.root(
                        rx.table.header(rx.table.row(*(rx.table.column_header_cell(t) for t in
                                                       ("When", "Event", "Alert", "Status", "Attempts", "Error")))),
                        rx.table.body(rx.foreach(AlertsState.alert_rows, _row)),
                        width="100%", variant="surface", custom_attrs={"data-testid": "alerts-table"},
                    ),
                    rx.cond(AlertsState.loaded, rx.text("No alerts yet.", color_scheme="gray",
                                                        custom_attrs={"data-testid": "alerts-empty"})),
                ),
                spacing="4",
                width="100%",
            ),
        ),
    )
