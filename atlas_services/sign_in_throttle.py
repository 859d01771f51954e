"""The sign-in throttle: failed attempts per account and per client address within a window.

An attempt is counted and recorded in one step, under a PostgreSQL advisory lock per account and per client, before
its password is checked; only a successful sign-in takes its record back. So parallel attempts cannot all read the
same count before any of them is recorded: at most the limit of them ever reach the (slow) password check.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

from sqlalchemy import text
from sqlmodel import Session, col, delete, func, select

from atlas_services.client_address import throttle_bucket
from atlas_services.db import session_scope
from atlas_services.errors import Throttled
from atlas_services.models import LoginAttempt, utcnow

# Failures within the window that lock further tries: per account, and per client address.
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_CLIENT = 20
_THROTTLED = "Too many sign-in attempts. Wait a few minutes and try again."


def reserve_attempt(account: str, client: str) -> uuid.UUID:
    """Record an attempt as failed unless the account or the client is already at its limit (then Throttled).

    Returns the record's id, which ``attempt_succeeded`` takes back. Unknown accounts count like known ones.
    """
    bucket = throttle_bucket(client)
    since = utcnow() - THROTTLE_WINDOW
    with session_scope() as session:
        # Always the account's lock first, then the client's: one order, so two attempts never wait on each other
        # in a cycle. Both are held until the commit, which publishes the new record to the next in line.
        _lock(session, "account", account)
        if bucket:
            _lock(session, "client", bucket)
        by_account = session.exec(select(func.count()).select_from(LoginAttempt).where(
            LoginAttempt.account == account, col(LoginAttempt.at) > since)).one()
        by_client = session.exec(select(func.count()).select_from(LoginAttempt).where(
            LoginAttempt.client == bucket, col(LoginAttempt.at) > since)).one() if bucket else 0
        if by_account >= MAX_FAILURES_PER_ACCOUNT or by_client >= MAX_FAILURES_PER_CLIENT:
            raise Throttled(_THROTTLED)
        # Attempts older than the window no longer count: dropping them keeps the table small.
        session.execute(delete(LoginAttempt).where(col(LoginAttempt.at) < since))
        attempt = LoginAttempt(account=account, client=bucket)
        session.add(attempt)
        return attempt.id


def attempt_succeeded(attempt_id: uuid.UUID) -> None:
    """A right password: its attempt was no failure after all."""
    with session_scope() as session:
        session.execute(delete(LoginAttempt).where(col(LoginAttempt.id) == attempt_id))


def _lock(session: Session, kind: str, key: str) -> None:
    digest = hashlib.blake2b(f"atlas-sign-in|{kind}|{key}".encode(), digest_size=8).digest()
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                    {"key": int.from_bytes(digest, "big", signed=True)})
