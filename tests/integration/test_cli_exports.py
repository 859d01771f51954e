"""`atlas audit export`, `atlas op export`, `atlas inventory export` (issue 10), run as the real console script:
the rows go to stdout or --output, with the list filters; a refusal writes no file and says why in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.exports import TenantWorld, csv_rows, ndjson_rows, seed_tenant
from tests.support.processes import run_cli


@pytest.fixture
def alpha(db: None) -> TenantWorld:
    seed_tenant("beta")  # another tenant's rows, which no export below may hold
    return seed_tenant("alpha")


def _as(world: TenantWorld, role: str) -> list[str]:
    return ["--tenant", world.name, "--as", world.actors[role].email]


def test_op_export_writes_ndjson_to_stdout_with_the_filters(alpha: TenantWorld) -> None:
    result = run_cli("op", "export", "--format", "json", "--status", "failed", *_as(alpha, "readonly"))
    assert result.returncode == 0, result.stderr
    rows = ndjson_rows(result.stdout)
    assert rows and {row["status"] for row in rows} == {"failed"}
    assert {row["id"] for row in rows} <= set(alpha.run_ids)


def test_audit_export_to_a_file(alpha: TenantWorld, tmp_path: Path) -> None:
    target = tmp_path / "audit.csv"
    result = run_cli("audit", "export", "--format", "csv", "--output", str(target), "--json", *_as(alpha, "readonly"))
    assert result.returncode == 0, result.stderr
    rows = csv_rows(target.read_text())
    assert json.loads(result.stdout) == {"format": "csv", "output": str(target), "rows": len(rows)}
    assert sum(row["action"] == "alpha.event" for row in rows) == 4
    assert not any(row["action"].startswith("beta") for row in rows)
    assert list(tmp_path.iterdir()) == [target]


def test_inventory_export_by_kind_and_search(alpha: TenantWorld) -> None:
    result = run_cli("inventory", "export", alpha.connection_id, "--kind", "managed_device", "--search", "item 00",
                     *_as(alpha, "operator"))
    assert result.returncode == 0, result.stderr
    assert [row["display_name"] for row in csv_rows(result.stdout)] == \
        ["alpha item 000", "alpha item 002", "alpha item 004"]


def test_a_refused_export_writes_no_file(alpha: TenantWorld, tmp_path: Path) -> None:
    target = tmp_path / "audit.csv"
    result = run_cli("audit", "export", "--output", str(target), *_as(alpha, "operator"))
    assert result.returncode == 1
    assert result.stderr.strip() == "error: you lack the 'audit.view' permission for this action"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("args", "says"), [
    (["op", "export", "--format", "xml"], "error: format must be one of: csv, json"),
    (["op", "export", "--status", "exploded"], "error: status must be one of:"),
    (["inventory", "export", "not-an-id"], "error: connection not found"),
])
def test_bad_arguments_say_why_in_one_line(alpha: TenantWorld, args: list[str], says: str) -> None:
    result = run_cli(*args, *_as(alpha, "owner"))
    assert result.returncode == 1 and result.stderr.startswith(says), result.stderr
    assert result.stdout == ""
