"""What `atlas audit export`, `atlas op export` and `atlas inventory export` share: the options and the writing.

The export is opened (authorized, validated, first page read) before anything is written, so a refusal leaves
no file behind; then it is written page by page to --output or stdout.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated

import typer

from atlas_cli.commands.base import acting_as
from atlas_cli.output import guarded
from atlas_services.exports import ExportFilters, open_export

Format = Annotated[str, typer.Option("--format", help="csv, or json (one JSON object per line).")]
Output = Annotated[str | None, typer.Option("--output", "-o", help="Write to this file (default: stdout).")]
ExportJson = Annotated[bool, typer.Option("--json", help="Errors, and with --output the result, as one JSON "
                                                         "object.")]


def run_export(kind: str, *, tenant: str, actor_email: str, fmt: str, output: str | None, as_json: bool,
               filters: ExportFilters = ExportFilters()) -> None:
    with guarded(as_json):
        export = open_export(acting_as(tenant, actor_email), kind, fmt, filters)
        if output is None:
            for chunk in export.chunks:
                sys.stdout.write(chunk)
            sys.stdout.flush()
            return
        written = 0
        partial = f"{output}.partial"
        with open(partial, "w", encoding="utf-8", newline="") as handle:
            for chunk in export.chunks:
                handle.write(chunk)
                written += 1
        os.replace(partial, output)  # a failure halfway leaves no half-written file under the asked name
        rows = written - 1 if export.format == "csv" else written  # the CSV header is a line too
        if as_json:
            typer.echo(json.dumps({"output": output, "rows": rows, "format": export.format}, sort_keys=True))
        else:
            typer.echo(f"{rows} row(s) written to {output}", err=True)
