"""huey tasks: thin adapters over services. Arguments carry ids only, never secrets."""

from __future__ import annotations

import uuid

from atlas_jobs.huey_app import huey
from atlas_services.authz import Capability


# huey ships no type hints.
@huey.task()  # type: ignore[untyped-decorator]
def execute_run(run_id: str) -> None:
    # The one lazy edge: the web tier enqueues through this module, and must not reach the worker-only
    # runs.execute (and through it the gateway and Microsoft). Listed in pyproject's import-linter config.
    from atlas_services.runs.execute import execute_run as run_to_end

    run_to_end(uuid.UUID(run_id))


# The run re-checks that its starter still holds this capability before it does anything.
execute_run.__atlas_capability__ = Capability.PROVIDER_RUN


def enqueue_run(run_id: uuid.UUID) -> None:
    execute_run(str(run_id))


def enqueue_scheduled_run(run_id: uuid.UUID) -> None:
    # Placeholder until the queue work lands (scheduled runs behind people's, fair across tenants).
    enqueue_run(run_id)
