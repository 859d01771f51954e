"""Every browser-callable State event handler in atlas_app declares who may call it and checks every argument;
no web-tier code decides anything by comparing role names.

Reflex makes every public State method callable from the browser (reflex-notes §2), so the set checked here is
what Reflex itself registers as callable, cross-checked against a walk of every State subclass in atlas_app.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
from reflex.state import EventHandlerSetVar
from reflex_base.registry import RegistrationContext

import atlas_app.atlas_app  # noqa: F401 - registers every page and state
from atlas_app.state.guard import PUBLIC, SIGNED_IN, access_of, validators_of
from atlas_services.authz import Capability
from atlas_services.models import Role
from tests.support.web_registry import atlas_handlers, atlas_states

ROOT = Path(__file__).resolve().parents[2]
# Public handlers are rare and deliberate: adding one means adding it here.
EXPECTED_PUBLIC = {"IndexState.route", "LoginState.on_page_load", "SecondFactorState.on_page_load"}


def test_the_walk_finds_the_states_and_matches_what_reflex_registers() -> None:
    states = {cls.__name__ for cls in atlas_states()}
    assert {"SessionState", "ConnectionsState", "MembersState", "AuditState", "RunState", "LoginState",
            "IndexState"} <= states
    registered = {
        f"{entry.states[0].__name__}.{full_name.rsplit('.', 1)[1]}"
        for full_name, entry in RegistrationContext.get().event_handlers.items()
        if entry.states and entry.states[0].__module__.startswith("atlas_app")
        and not isinstance(entry.handler, EventHandlerSetVar)
    }
    assert registered == set(atlas_handlers())
    assert not any(name.rsplit(".", 1)[1].startswith("_") for name in registered)


def test_every_public_handler_declares_its_capability() -> None:
    handlers = atlas_handlers()
    assert len(handlers) >= 25
    allowed = {*Capability, SIGNED_IN, PUBLIC}
    offenders = sorted(name for name, handler in handlers.items() if access_of(handler.fn) not in allowed)
    assert offenders == [], f"handlers without a declared capability (use atlas_app.state.guard): {offenders}"
    public = {name for name, handler in handlers.items() if access_of(handler.fn) == PUBLIC}
    assert public == EXPECTED_PUBLIC


def test_every_argument_of_every_handler_has_a_validator() -> None:
    offenders = []
    for name, handler in atlas_handlers().items():
        params = list(inspect.signature(handler.fn).parameters)[1:]  # what the browser may send (no self)
        validators = validators_of(handler.fn)
        if validators is None or set(validators) != set(params) or "actor" in params:
            offenders.append(f"{name}{params}")
    assert offenders == [], f"handlers with unchecked arguments: {offenders}"


def test_no_state_defines_a_setter_that_setvar_could_reach() -> None:
    # setvar(name, value) calls getattr(state, "set_" + name): with no set_* method it can set nothing.
    offenders = sorted(f"{cls.__name__}.{attr}" for cls in atlas_states() for attr in vars(cls)
                       if attr.startswith("set_"))
    assert offenders == []


# ---------------------------------------------------------------- role names


ROLE_NAMES = {role.value for role in Role}


def _role_comparisons(source: str) -> list[int]:
    """Lines where a role name (a string literal, Role.X, or a `.role` value) takes part in a comparison or match."""

    def mentions_role(node: ast.AST) -> bool:
        for part in ast.walk(node):
            if isinstance(part, ast.Constant) and isinstance(part.value, str) and part.value.lower() in ROLE_NAMES:
                return True
            if isinstance(part, ast.Attribute) and isinstance(part.value, ast.Name) and part.value.id == "Role":
                return True
            if isinstance(part, ast.Attribute) and part.attr in ("role", "user_role"):
                return True
            if isinstance(part, ast.Name) and part.id in ("role", "user_role"):
                return True
        return False

    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and mentions_role(node):
            lines.append(node.lineno)
        elif isinstance(node, ast.Match) and mentions_role(node.subject):
            lines.append(node.lineno)
        elif isinstance(node, ast.MatchValue) and mentions_role(node.value):
            lines.append(node.lineno)
    return lines


@pytest.mark.parametrize("source", [
    'if actor.role == "owner":\n    pass',
    'allowed = user_role in ("manager", "owner")',
    'ok = Role.OPERATOR != role',
    'match actor.role:\n    case "readonly":\n        pass',
    'ok = "OWNER" == x',
])
def test_the_role_name_detector_catches_role_comparisons(source: str) -> None:
    assert _role_comparisons(source)


def test_the_role_name_detector_leaves_capability_checks_alone() -> None:
    assert not _role_comparisons('if can(actor, Capability.TENANT_MANAGE) and view.user_id == actor.user_id:\n'
                                 '    label = "owner"')


def test_no_web_tier_module_compares_role_names() -> None:
    offenders = []
    for path in sorted((ROOT / "atlas_app").rglob("*.py")):
        offenders += [f"{path.relative_to(ROOT)}:{line}" for line in _role_comparisons(path.read_text())]
    assert offenders == [], f"compare capabilities with can(), not role names: {offenders}"
