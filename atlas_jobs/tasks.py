"""huey tasks: thin adapters over services. Arguments carry ids only, never secrets.

What decides priorities, the tenant cap and the outbox sweep lives in atlas_services (runs.outbox, runs.lifecycle);
here they only meet huey.
"""

from __future__ import annotations

import uuid

from atlas_jobs.huey_app import huey
from atlas_services.authz import Capability
from atlas_services.runs import outbox
from atlas_services.runs.lifecycle import TenantAtCap


# huey ships no type hints.
@huey.task()  # type: ignore[untyped-decorator]
def execute_run(run_id: str) -> None:
    # The one lazy edge: the web tier enqueues through this module, and must not reach the worker-only
    # runs.execute (and through it the gateway and Microsoft). Listed in pyproject's import-linter config.
    from atlas_services.runs.execute import execute_run as run_to_end

    try:
        run_to_end(uuid.UUID(run_id))
    except TenantAtCap as wait:
        # The run stays queued; it comes back after a delay (in huey's schedule, not the queue: no busy loop).
        redeliver(wait.run_id, delay=wait.retry_in)


# The run re-checks that its starter still holds this capability before it does anything.
execute_run.__atlas_capability__ = Capability.PROVIDER_RUN


def enqueue_run(run_id: uuid.UUID) -> None:
    """Enqueue a run a person started (UI or CLI): ahead of every scheduled run."""
    huey.enqueue(execute_run.s(str(run_id), priority=outbox.PERSON_PRIORITY))


def enqueue_scheduled_run(run_id: uuid.UUID) -> None:
    """Enqueue a run a schedule started: behind people's runs, interleaved with other tenants' scheduled runs."""
    redeliver(run_id)


def redeliver(run_id: uuid.UUID, delay: float | None = None) -> None:
    """Enqueue a queued run's job at the priority its row gives it now (after ``delay`` seconds, in the schedule)."""
    priority = outbox.priority_of(run_id)
    if priority is not None:  # else it is claimed, cancelled or failed already: nothing to deliver
        deliver(outbox.Delivery(run_id, priority), delay)


def deliver(delivery: outbox.Delivery, delay: float | None = None) -> None:
    task = execute_run.s(str(delivery.run_id), priority=delivery.priority, delay=delay)
    if delay:
        huey.add_schedule(task)  # straight to the schedule: waiting runs do not cycle through the queue
    else:
        huey.enqueue(task)


def run_ids_in_queue() -> set[str]:
    """The run ids of every job waiting in the queue or in its schedule (for the outbox sweep)."""
    return {str(task.args[0]) for task in (*huey.pending(), *huey.scheduled())
            if isinstance(task, execute_run.task_class) and task.args}


# Registered with every worker that imports the tasks (the sign-in tasks live beside, in atlas_jobs.sso).
from atlas_jobs import sso as _sso  # noqa: E402,F401
