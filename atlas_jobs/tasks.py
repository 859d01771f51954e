"""huey tasks: thin adapters over services. Arguments carry ids only, never secrets."""

from __future__ import annotations

import uuid

from atlas_jobs.huey_app import huey
from atlas_services import operations


# huey ships no type hints.
@huey.task()  # type: ignore[untyped-decorator]
def execute_run(run_id: str) -> None:
    operations.execute_run(uuid.UUID(run_id))


def enqueue_run(run_id: uuid.UUID) -> None:
    execute_run(str(run_id))
