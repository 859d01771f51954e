"""`atlas keys`: the encryption keys that seal credentials, and re-sealing under the primary key."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import Progress

from atlas_cli.commands.base import SYSTEM, Json, declares
from atlas_cli.output import emit, guarded
from atlas_services.credentials import KeyUsage, key_usage, reseal_all

keys_app = typer.Typer(no_args_is_help=True, help="Encryption keys that seal credentials.")


@keys_app.command("status")
@declares(SYSTEM)
def keys_status(as_json: Json = False) -> None:
    """How many credentials each encryption key seals."""
    with guarded(as_json):
        usage = key_usage()
        emit(as_json, {"keys": usage}, "\n".join(_usage_line(u) for u in usage))


def _usage_line(usage: KeyUsage) -> str:
    role = "primary" if usage.primary else ("configured" if usage.configured else "NOT CONFIGURED")
    advice = ""
    if not usage.primary:
        advice = ("  safe to remove from ATLAS_ENCRYPTION_KEYS" if usage.rows == 0
                  else f"  still used by {usage.rows} row(s): run `atlas keys rotate` before removing it")
    return f"{usage.key_id}: {usage.rows} credential(s), {role}{advice}"


@keys_app.command("rotate")
@declares(SYSTEM)
def keys_rotate(batch_size: Annotated[int, typer.Option(min=1, max=10_000)] = 200, as_json: Json = False) -> None:
    """Re-seal every credential under the primary key (batched and resumable)."""
    with guarded(as_json):
        with Progress(disable=as_json, transient=True) as progress:
            task = progress.add_task("re-sealing credentials", total=None)
            report = reseal_all(batch_size, on_batch=lambda done, total: progress.update(
                task, completed=done, total=total))
        usage = key_usage()
        lines = [f"re-sealed {report.resealed} credential(s) under the primary key"]
        if report.unavailable:
            lines.append(f"{report.unavailable} credential(s) could not be opened (their key is not configured); "
                         "rotate those connections' credentials")
        lines += [_usage_line(u) for u in usage]
        emit(as_json, {"resealed": report.resealed, "unavailable": report.unavailable, "keys": usage},
             "\n".join(lines))
