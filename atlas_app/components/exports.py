"""Download links (CSV, JSON) to the export routes (atlas_app.export_routes), carrying the page's current filters.

``<a download>`` links that React Router leaves to the browser (``reload_document``): the browser fetches the file
with its own session cookie, and the route authorizes the request afresh; nothing of the download passes through
the page's state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import reflex as rx
from reflex_base.vars import FunctionStringVar

from atlas_services.exports import FORMATS

# A filter: the parameter name and the page's value for it (a state var, or a fixed string).
Filter = tuple[str, rx.Var[str] | str]
_ENCODE: FunctionStringVar[Any] = FunctionStringVar.create("encodeURIComponent")
LABELS = {"csv": "CSV", "json": "JSON"}


def export_href(kind: str, fmt: str, filters: Sequence[Filter] = ()) -> rx.Var[str]:
    href: rx.Var[str] = rx.Var.create(f"/exports/{kind}?format={fmt}")
    for name, value in filters:
        encoded = _ENCODE.call(value).to(str) if isinstance(value, rx.Var) else rx.Var.create(value)
        href = href + f"&{name}=" + encoded  # type: ignore[operator]
    return href


def export_links(kind: str, filters: Sequence[Filter] = (), test_id: str = "export") -> rx.Component:
    """"Export: CSV · JSON" for ``kind`` (audit, runs, inventory)."""
    return rx.hstack(
        rx.icon("download", size=14),
        rx.text("Export", size="1", color_scheme="gray"),
        *(rx.el.a(rx.text(LABELS[fmt], size="1"), href=export_href(kind, fmt, filters), download="",
                  reload_document=True,  # a document request the browser saves, not a client-side route
                  custom_attrs={"data-testid": f"{test_id}-{fmt}"}) for fmt in FORMATS),
        align="center",
        spacing="2",
        custom_attrs={"data-testid": test_id},
    )
