"""Sign in with Microsoft in the worker: two short tasks whose only argument is the flow id.

``sso_begin`` asks MSAL for the authorization URL; ``sso_redeem`` redeems Microsoft's code and decides the sign-in.
Both act for nobody yet (the person is proving who they are), so no capability is re-checked; the flow row is bound
to the browser that started it and is single-use.
"""

from __future__ import annotations

import uuid

from atlas_jobs.huey_app import huey

# Sign-in flows live minutes; a task still queued after that finds its flow expired and does nothing.
_EXPIRES = 600
# What these tasks declare instead of a capability: they act before anyone is signed in, for the browser that
# holds the flow (tests/integration/test_run_lifecycle.py allows it to this module's tasks only).
PRE_AUTHENTICATION = "pre-authentication"


@huey.task(expires=_EXPIRES)  # type: ignore[untyped-decorator]
def sso_begin(flow_id: str) -> None:
    # Lazy: the web tier enqueues through this module but must not reach MSAL (listed in pyproject).
    from atlas_services.sso_worker import begin_flow

    begin_flow(uuid.UUID(flow_id))


@huey.task(expires=_EXPIRES)  # type: ignore[untyped-decorator]
def sso_redeem(flow_id: str) -> None:
    from atlas_services.sso_worker import redeem_flow

    redeem_flow(uuid.UUID(flow_id))


sso_begin.__atlas_capability__ = PRE_AUTHENTICATION
sso_redeem.__atlas_capability__ = PRE_AUTHENTICATION


def enqueue_begin(flow_id: uuid.UUID) -> None:
    huey.enqueue(sso_begin.s(str(flow_id)))


def enqueue_redeem(flow_id: uuid.UUID) -> None:
    huey.enqueue(sso_redeem.s(str(flow_id)))
