"""Start one operation on every connection a fleet filter matches ("Check all shown"), each through the start gate.

The connections are the filter's matches read here, on the server, never ids sent by a browser; at most
``BULK_LIMIT`` of them. Each start is an ordinary person-started run: the same transaction, deduplication and
scope-busy answer as one click on one connection, so a bulk start never bypasses the gate. Disabled connections
are skipped (the gate would refuse them). A filter that matches nothing is refused before anything is written.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from atlas_services import audit
from atlas_services.authz import Actor, Capability, requires
from atlas_services.db import session_scope
from atlas_services.errors import InvalidInput, NotFound, ProviderError
from atlas_services.fleet import FleetFilter, matching_ids
from atlas_services.reasons import ReasonCode
from atlas_services.runs import start
from atlas_services.runs.types import AVAILABLE

BULK_LIMIT = 1_000


@dataclass(frozen=True)
class BulkResult:
    matched: int
    started: int = 0
    deduplicated: int = 0
    busy: int = 0  # another operation holds the connection's scope
    disabled: int = 0  # skipped: no run starts on a disabled connection
    refused: int = 0  # the gate refused for another reason (gone meanwhile, not available in its cloud, ...)
    # Set when the queue failed: the run it could not take is failed, the rest were not tried.
    stopped: str | None = None

    @property
    def not_tried(self) -> int:
        return self.matched - self.started - self.deduplicated - self.busy - self.disabled - self.refused


@requires(Capability.PROVIDER_RUN)
def start_for_filter(actor: Actor, op_type: str, flt: object, *, enqueue: Callable[[uuid.UUID], None],
                     limit: int = BULK_LIMIT) -> BulkResult:
    """Start ``op_type`` on each connection matching ``flt`` (a FleetFilter); say how each start went."""
    if not isinstance(flt, FleetFilter):
        raise InvalidInput("filter", "not a fleet filter")
    if op_type not in AVAILABLE:  # refused once, not once per connection
        raise InvalidInput("op_type", f"choose one of: {', '.join(AVAILABLE)}")
    targets = matching_ids(actor, flt.checked(), limit=limit + 1)
    if not targets:
        raise InvalidInput("filter", "No connections match these filters: nothing was started.")
    if len(targets) > limit:
        raise InvalidInput("filter", f"These filters match more than {limit} connections: narrow them first.")
    outcomes: Counter[str] = Counter()
    stopped: str | None = None
    for connection_id, enabled in targets:
        if not enabled:
            outcomes["disabled"] += 1
            continue
        try:
            outcomes[start.start_operation(actor, op_type, connection_id, enqueue=enqueue).outcome] += 1
        except ProviderError as exc:
            if exc.code == ReasonCode.QUEUE_UNAVAILABLE:
                outcomes["refused"] += 1  # this run was failed by the gate; the queue is down for the rest too
                stopped = exc.code.value
                break
            outcomes["refused"] += 1
        except NotFound:  # deleted since the filter was read
            outcomes["refused"] += 1
    result = BulkResult(matched=len(targets), started=outcomes["started"], deduplicated=outcomes["deduplicated"],
                        busy=outcomes["scope_busy"], disabled=outcomes["disabled"], refused=outcomes["refused"],
                        stopped=stopped)
    _record(actor, op_type, flt, result)
    return result


def _record(actor: Actor, op_type: str, flt: FleetFilter, result: BulkResult) -> None:
    """One audit event for the bulk action as a whole (each run's start has its own too)."""
    details = {"op_type": op_type, "filter": {k: v for k, v in vars(flt).items() if v is not None},
               "matched": result.matched, "started": result.started, "deduplicated": result.deduplicated,
               "busy": result.busy, "disabled": result.disabled, "refused": result.refused, "stopped": result.stopped}
    with session_scope() as session:
        audit.record(session, tenant_id=actor.tenant_id, actor_user_id=actor.user_id, action="run.bulk_start",
                     target_type="provider_connection", details=details)
