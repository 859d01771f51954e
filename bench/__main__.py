"""`python -m bench [--smoke] [NAME ...]`: run the benchmarks, print each as a table and write its rows as JSON.

A benchmark is a module in this package with ``run(*, smoke: bool = False) -> list[dict]``; every row is one
measured case, and ratios are computed against a baseline measured in the same run. ``smoke`` runs the same code
on tiny inputs in seconds (the test suite does, so that no benchmark rots); its figures mean nothing.
JSON goes to ``$ATLAS_DATA_DIR/bench/NAME.json``. Modules whose names start with ``_`` are shared helpers.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import sys
import time
from pathlib import Path
from typing import Any

import bench


def table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(no rows)"
    columns = list(rows[0])
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.rjust(w) if _numeric(v) else v.ljust(w) for v, w in zip(r, widths, strict=True))
              for r in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _numeric(text: str) -> bool:
    return text.replace(".", "", 1).replace("-", "", 1).isdigit()


def available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if not m.name.startswith("_"))


def main(args: list[str]) -> int:
    smoke = "--smoke" in args
    names = [a for a in args if a != "--smoke"]
    chosen = names or available()
    unknown = sorted(set(chosen) - set(available()))
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {available()}", file=sys.stderr)
        return 2
    out_dir = Path(os.environ.get("ATLAS_DATA_DIR", ".atlas")) / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in chosen:
        module = importlib.import_module(f"bench.{name}")
        if not hasattr(module, "run"):
            continue
        print(f"\n== {name}: {(module.__doc__ or '').strip().splitlines()[0]}")
        started = time.perf_counter()
        rows = module.run(smoke=smoke)
        print(table(rows))
        print(f"({time.perf_counter() - started:.0f} s)")
        target = out_dir / f"{name}.json"
        target.write_text(json.dumps(rows, indent=2), encoding="utf-8")
        print(f"(written to {target})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
