"""Reason codes are one StrEnum with one catalogue entry each; every code the code base passes is a member."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from atlas_services.errors import ProviderError
from atlas_services.reasons import REASONS, ReasonCode, reason

ROOT = Path(__file__).resolve().parents[2]
# Calls whose first argument (or ``code=``/``reason_code=`` keyword) is a reason code.
CODE_CALLS = {"ProviderError", "CapabilityFailed", "GraphRequestError", "reason", "fail_with"}
CODE_KEYWORDS = {"code", "reason_code"}


def _callee(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _codes_passed() -> dict[str, list[str]]:
    """String literals passed as reason codes anywhere in the application packages: code -> where."""
    found: dict[str, list[str]] = {}
    for package in ("atlas_app", "atlas_services", "atlas_jobs", "atlas_cli"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                candidates = [node.args[0]] if _callee(node) in CODE_CALLS and node.args else []
                candidates += [k.value for k in node.keywords if k.arg in CODE_KEYWORDS]
                for arg in candidates:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        found.setdefault(arg.value, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_code_passed_in_the_code_base_is_a_member() -> None:
    unknown = {code: where for code, where in _codes_passed().items() if code not in set(ReasonCode)}
    assert unknown == {}


def test_the_catalogue_has_one_entry_per_member() -> None:
    assert set(REASONS) == set(ReasonCode)
    assert all(entry.code == code and entry.message and entry.remediation for code, entry in REASONS.items())


def test_an_unknown_code_is_refused_not_mapped() -> None:
    with pytest.raises(ValueError):
        reason("no.such_code")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ProviderError("no.such_code")  # type: ignore[arg-type]
    assert reason(ReasonCode.GRAPH_TIMEOUT).code == "graph.timeout"


def test_the_readme_lists_every_reason_code_with_its_catalogue_text() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [code.value for code, entry in REASONS.items()
               if f"| `{code.value}` | {entry.message} | {entry.remediation} |" not in readme]
    assert not missing, f"README's reason table is missing or out of date for: {missing}"
