"""A plain HTML form that the browser submits itself (``rx.el.form`` always prevents the default submit)."""

from __future__ import annotations

from reflex_base.vars.base import Var
from reflex_components_core.el.elements.base import BaseHTML


class NativeForm(BaseHTML):  # type: ignore[misc]  # reflex_components_core ships no type information
    """``<form action=... method=...>`` with no Reflex submit handler: a real navigation on submit."""

    tag = "form"

    action: Var[str]
    method: Var[str]


native_form = NativeForm.create
