"""Tests share code only through tests/support: no test module or plugin imports another test module.

Fixtures live in tests/plugins (loaded by tests/conftest.py as pytest plugins, never imported); functions,
constants and harnesses live in tests/support.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
SHARED = "tests.support"


def _imported_modules(source: str, package: str) -> list[str]:
    """Every module ``source`` imports, as absolute names, read as a module of ``package``."""
    modules = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0]
                base = f"{parent}.{base}" if base else parent
            # `from tests import x` imports the module tests.x
            modules += [f"{base}.{alias.name}" if base == "tests" else base for alias in node.names]
    return modules


def _forbidden(module: str) -> bool:
    is_test_code = module == "tests" or module.startswith("tests.")
    return is_test_code and not (module == SHARED or module.startswith(f"{SHARED}."))


def test_no_test_module_imports_another_test_module() -> None:
    offences = []
    for path in sorted(TESTS.rglob("*.py")):
        package = ".".join(path.relative_to(TESTS.parent).parts[:-1])
        offences += [f"{path.relative_to(TESTS.parent)} imports {module}"
                     for module in _imported_modules(path.read_text(), package) if _forbidden(module)]
    assert offences == [], "share code through tests/support, fixtures through tests/plugins:\n" + "\n".join(offences)


@pytest.mark.parametrize("source", ["from tests.integration.test_cli import run_cli", "import tests.plugins.web",
                                    "from tests import graph_csdl", "from ..plugins.guard import OutboundLog",
                                    "from . import test_authz", "from .test_authz import ROLES"])
def test_the_check_sees_every_way_of_importing_a_test_module(source: str) -> None:
    assert any(_forbidden(module) for module in _imported_modules(source, "tests.unit"))


@pytest.mark.parametrize("source", ["from tests.support.factories import make_actor", "from tests.support import aio",
                                    "from ..support.aio import run_coroutine", "import atlas_services.db"])
def test_the_check_lets_shared_support_and_app_code_through(source: str) -> None:
    assert not any(_forbidden(module) for module in _imported_modules(source, "tests.unit"))
