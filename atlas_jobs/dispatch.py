"""The start gate wired to the queue: what the UI and the CLI call to start provider work."""

from __future__ import annotations

from atlas_jobs.tasks import enqueue_run
from atlas_services.authz import Actor
from atlas_services.credential_input import CredentialInput
from atlas_services.credential_rotation import RotationStarted
from atlas_services.credential_rotation import rotate_credential as rotate
from atlas_services.runs import bulk, start
from atlas_services.runs.bulk import BulkResult
from atlas_services.runs.start import StartResult


def start_operation(actor: Actor, op_type: str, connection_id: object | None = None) -> StartResult:
    """Write a run row (or find the active one) and enqueue its job; no provider call happens here."""
    return start.start_operation(actor, op_type, connection_id, enqueue=enqueue_run)


def rotate_credential(actor: Actor, connection_id: object, credential: CredentialInput) -> RotationStarted:
    """Store a new credential and enqueue the health check that decides whether it replaces the current one."""
    return rotate(actor, connection_id, credential, enqueue=enqueue_run)


def start_for_filter(actor: Actor, op_type: str, fleet_filter: object) -> BulkResult:
    """Start ``op_type`` on every connection the fleet filter matches, each through the start gate and the queue."""
    return bulk.start_for_filter(actor, op_type, fleet_filter, enqueue=enqueue_run)
