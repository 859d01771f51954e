"""Reflex configuration for the Atlas web tier.

No ``db_url`` here on purpose: Atlas has its own engine (``atlas_services.db``) and runs Alembic itself;
with ``db_url`` set, ``reflex run`` would autogenerate migrations against the schema.

The websocket accepts only the app's own origin. The port comes from ``REFLEX_FRONTEND_PORT``
(``reflex run --frontend-port`` sets it for its workers) or ``ATLAS_WEB_PORT``; extra origins (for a
proxy in front) come from ``ATLAS_WEB_ORIGINS`` (comma separated).
"""

from __future__ import annotations

import os

import reflex as rx


def _own_origins() -> list[str]:
    explicit = [o.strip().rstrip("/") for o in os.environ.get("ATLAS_WEB_ORIGINS", "").split(",") if o.strip()]
    port = os.environ.get("REFLEX_FRONTEND_PORT") or os.environ.get("ATLAS_WEB_PORT") or "3000"
    hosts = {"127.0.0.1", "localhost", os.environ.get("ATLAS_WEB_HOST", "127.0.0.1")}
    hosts.discard("0.0.0.0")
    return explicit + sorted(f"http://{host}:{port}" for host in hosts)


config = rx.Config(
    app_name="atlas_app",
    app_module_import="atlas_app.atlas_app",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    cors_allowed_origins=_own_origins(),
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="indigo", radius="medium"))],
    disable_plugins=[rx.plugins.SitemapPlugin],
    # No pre-compressed copies of the bundle: a faster build on small machines.
    frontend_compression_formats=[],
)
