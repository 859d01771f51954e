"""Structural rules no linter config states on its own: who may touch the cipher and who may open secrets, how
large a module may grow, and that no import is hidden from import-linter."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["atlas_app", "atlas_services", "atlas_jobs", "atlas_cli", "atlas_sim"]


def _modules() -> dict[str, ast.Module]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name] = ast.parse(path.read_text(encoding="utf-8"))
    return found


def _imports(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _calls(tree: ast.Module, function: str) -> bool:
    return any(isinstance(node, ast.Call) and (
        (isinstance(node.func, ast.Name) and node.func.id == function)
        or (isinstance(node.func, ast.Attribute) and node.func.attr == function)) for node in ast.walk(tree))


def test_only_the_credential_module_imports_the_cipher() -> None:
    modules = _modules()
    assert "atlas_services.credentials" in modules
    offenders = sorted(name for name, tree in modules.items()
                       if any("ciphers" in imported or "AESGCM" in imported for imported in _imports(tree))
                       and name != "atlas_services.credentials")
    assert offenders == []


def test_only_the_gateway_opens_sealed_credentials() -> None:
    callers = sorted(name for name, tree in _modules().items() if _calls(tree, "open_sealed"))
    # credentials itself opens only to re-seal under a new key (key rotation).
    assert callers == ["atlas_services.credentials", "atlas_services.gateway"]


MAX_LINES = 400


def test_no_module_in_the_app_or_the_services_exceeds_400_lines() -> None:
    too_long: dict[str, int] = {}
    for package in ("atlas_app", "atlas_services"):
        for path in (ROOT / package).rglob("*.py"):
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > MAX_LINES:
                too_long[str(path.relative_to(ROOT))] = lines
    assert too_long == {}


def test_the_services_load_no_module_by_name() -> None:
    """importlib would hide an import edge from import-linter and the cycle test."""
    offenders = sorted(name for name, tree in _modules().items() if name.startswith("atlas_services.")
                       and (any(imported.split(".")[0] == "importlib" for imported in _imports(tree))
                            or _calls(tree, "__import__")))
    assert offenders == []
