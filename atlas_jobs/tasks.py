"""huey tasks: thin adapters over services. Arguments carry ids only, never secrets."""

from __future__ import annotations

import uuid

from atlas_jobs.huey_app import huey
from atlas_services import operations
from atlas_services.authz import Capability


# huey ships no type hints.
@huey.task()  # type: ignore[untyped-decorator]
def execute_run(run_id: str) -> None:
    operations.execute_run(uuid.UUID(run_id))


# The run re-checks that its starter still holds this capability before it does anything.
execute_run.__atlas_capability__ = Capability.PROVIDER_RUN


def enqueue_run(run_id: uuid.UUID) -> None:
    execute_run(str(run_id))
