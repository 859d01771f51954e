"""`atlas worker|web|simulator|demo|run`: Atlas's long-running processes and the demo data they serve."""

from __future__ import annotations

from typing import Annotated

import typer

from atlas_cli.commands.base import SYSTEM, Json, declares
from atlas_cli.demo import seed_demo
from atlas_cli.output import emit, guarded
from atlas_cli.supervisor import run_all, run_web, run_worker

# Registered without a name: these are top-level commands (`atlas worker`), not a group.
processes_app = typer.Typer()


@processes_app.command("worker")
@declares(SYSTEM)
def worker(workers: Annotated[int, typer.Option(help="Worker threads.")] = 2) -> None:
    """Run the job consumer."""
    with guarded(False):
        run_worker(workers)


@processes_app.command("web")
@declares(SYSTEM)
def web() -> None:
    """Serve the web UI (frontend and backend on one port)."""
    with guarded(False):
        raise typer.Exit(run_web())


@processes_app.command("simulator")
@declares(SYSTEM)
def simulator(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8765,
    scenario: Annotated[str | None, typer.Option(help="Scenario YAML (default: the demo).")] = None,
    fleet: Annotated[int | None, typer.Option(min=1, max=5000, help="Serve N customer tenants (atlas_sim.fleet) "
                                                                    "instead of a scenario.")] = None,
) -> None:
    """Serve the Microsoft cloud simulator."""
    # Lazy: the simulator's server and scenario models add about 0.25 s to every `atlas` start.
    from atlas_sim.fleet import fleet_scenario
    from atlas_sim.server import serve

    if fleet is not None and scenario is not None:
        raise typer.BadParameter("give --scenario or --fleet, not both")
    serve("127.0.0.1", port, fleet_scenario(fleet) if fleet is not None else scenario)


@processes_app.command("demo")
@declares(SYSTEM)
def demo(as_json: Json = False) -> None:
    """Seed (idempotently) a demo tenant, a user per role and connections against the simulator."""
    with guarded(as_json):
        made = seed_demo()
        lines = [f"tenant {t['name']}" for t in made["tenants"]]
        lines += [f"user {u['email']} ({u['role']}) password {u['password']}" for u in made["users"]]
        lines += [f"connection {c['name']}{' [default]' if c['default'] else ''}" for c in made["connections"]]
        emit(as_json, made, "\n".join(lines))


@processes_app.command("run")
@declares(SYSTEM)
def run(
    workers: Annotated[int, typer.Option(min=1, max=32, help="Worker processes (each an `atlas worker`).")] = 1,
    replace: Annotated[bool, typer.Option("--replace", help="Stop an Atlas already running from this checkout "
                                                            "(same data directory), then start.")] = False,
) -> None:
    """Run everything on this machine: database, simulator, workers and web UI, with demo data.

    Ctrl-C, SIGTERM and a closed terminal (SIGHUP) stop everything; so does SIGKILL (a watchdog cleans up)."""
    with guarded(False):
        raise typer.Exit(run_all(workers, replace))
