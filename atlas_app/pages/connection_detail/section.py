"""One titled section of the connection page."""

from __future__ import annotations

import reflex as rx


def section(title: str, *children: rx.Component, test_id: str, extra: rx.Component | None = None) -> rx.Component:
    heading = rx.hstack(rx.heading(title, size="4"), *([extra] if extra is not None else []), align="center")
    return rx.vstack(heading, *children, spacing="3", width="100%", custom_attrs={"data-testid": test_id})
