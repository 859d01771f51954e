"""Running a claimed run to its end: worker-only (it reaches the provider gateway, and through it Microsoft)."""

from __future__ import annotations

import logging
import uuid

from sqlmodel import col, select

from atlas_services import gateway
from atlas_services.authz import Capability, role_capabilities
from atlas_services.credential_rotation import finish_verification
from atlas_services.db import session_scope
from atlas_services.errors import CapabilityFailed, ProviderError
from atlas_services.logs import log_context
from atlas_services.models import Membership, RunStatus, RunTrigger, User
from atlas_services.reasons import ReasonCode, reason
from atlas_services.runs import lifecycle
from atlas_services.runs.summaries import StoredModel

log = logging.getLogger(__name__)


def execute_run(run_id: uuid.UUID) -> None:
    """Run a queued operation to its end (called by the worker with the run id only). Every log line on the way,
    in this thread and the run's heartbeat and read-ahead threads, carries the run and its tenant."""
    with log_context(run_id=run_id):
        claim = lifecycle.claim(run_id)
        if claim is None:
            log.info("run %s is no longer queued; nothing to do", run_id)
            return
        with log_context(tenant_id=claim.tenant_id, connection_id=claim.connection_id):
            _run_claimed(claim)


def _run_claimed(claim: lifecycle.Claim) -> None:
    run_id = claim.run_id
    if not _starter_may_still_run(claim):
        if claim.credential_id is not None:
            # Never verified, so never to be activated: retired unused, as a failed verification would be.
            finish_verification(claim.credential_id, succeeded=False, actor_user_id=claim.started_by)
        _finish(claim, RunStatus.FAILED, summary=None, code=ReasonCode.RUN_NOT_AUTHORIZED)
        return
    context = lifecycle.RunContext(claim)
    with lifecycle.HeartbeatThread(claim):
        try:
            outcome = gateway.run_capability(claim.op_type, claim.connection_id, context,
                                             credential_id=claim.credential_id, actor_user_id=claim.started_by)
        except lifecycle.LeaseLost:
            log.warning("run %s lost its lease; stopping without writing", run_id)
            return
        except lifecycle.RunCancelled:
            lifecycle.transition(run_id, RunStatus.CANCELLED, lease=claim.lease, message="Cancelled by a user.",
                                 summary=context.progress)
            return
        except ProviderError as exc:
            # A capability that failed as a whole may still carry what it found (sections, permissions).
            found = exc.summary if isinstance(exc, CapabilityFailed) else None
            _finish(claim, RunStatus.FAILED, summary=found, code=exc.code, message=exc.detail,
                    remediation=exc.remediation)
            return
        except Exception as exc:  # noqa: BLE001 - any failure ends the run, never the worker
            # Raw exception text may hold anything (even secrets): log the type only, store the catalogue text.
            log.error("run %s failed unexpectedly: %s", run_id, type(exc).__name__)
            _finish(claim, RunStatus.FAILED, summary=None, code=ReasonCode.INTERNAL_UNEXPECTED)
            return
    status = RunStatus.PARTIALLY_SUCCEEDED if outcome.partial else RunStatus.SUCCEEDED
    _finish(claim, status, summary=outcome.summary, code=ReasonCode.RUN_PARTIAL if outcome.partial else None)


def _starter_may_still_run(claim: lifecycle.Claim) -> bool:
    """Tasks re-authorize: the user who started the run must still be enabled and hold, in its tenant, what the
    run does: provider.run, and provider.manage for a credential's verification (passing it activates it)."""
    if claim.trigger == RunTrigger.SCHEDULE:  # started by Atlas itself: the schedule's setter was authorized
        return True
    if claim.started_by is None:  # the person who started it was deleted since
        return False
    needed = {Capability.PROVIDER_RUN}
    if claim.credential_id is not None:
        needed.add(Capability.PROVIDER_MANAGE)
    with session_scope() as session:
        role = session.exec(select(Membership.role).join(User, col(User.id) == col(Membership.user_id)).where(
            Membership.user_id == claim.started_by, Membership.tenant_id == claim.tenant_id,
            col(User.disabled).is_(False))).first()
    return role is not None and needed <= role_capabilities(role)


def _finish(claim: lifecycle.Claim, status: RunStatus, *, summary: StoredModel | None,
            code: ReasonCode | None = None, message: str | None = None, remediation: str | None = None) -> None:
    entry = reason(code) if code else None
    done = lifecycle.transition(
        claim.run_id, status, lease=claim.lease, summary=summary.stored() if summary is not None else {},
        reason_code=entry.code if entry else None,
        message=message or (entry.message if entry else None),
        remediation=remediation or (entry.remediation if entry else None))
    if not done:
        log.warning("run %s lost its lease before finishing; result dropped", claim.run_id)
