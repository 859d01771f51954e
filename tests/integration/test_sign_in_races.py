"""The sign-in throttle under parallel attempts: the count and the record are one step, so a burst of wrong
passwords cannot slip more than the limit past it."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from atlas_services import passwords, sessions, sign_in_throttle
from atlas_services.errors import InvalidInput, Throttled
from tests.support.factories import make_actor

ATTEMPTS = 50


def test_fifty_parallel_wrong_passwords_get_at_most_the_limit_evaluated(
        db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    owner = make_actor("owner")
    evaluated = 0
    lock = threading.Lock()

    def counting_verify(stored_hash: str, password: str) -> bool:
        nonlocal evaluated
        with lock:
            evaluated += 1
        return passwords.verify_password(stored_hash, password)

    monkeypatch.setattr(sessions, "verify_password", counting_verify)
    start = threading.Barrier(ATTEMPTS)

    def attempt(index: int) -> str:
        start.wait()
        try:
            sessions.authenticate(owner.email, f"wrong password {index}", f"10.7.{index}.1")
        except Throttled:
            return "throttled"
        except InvalidInput:
            return "refused"
        return "signed in"

    with ThreadPoolExecutor(max_workers=ATTEMPTS) as pool:
        outcomes = list(pool.map(attempt, range(ATTEMPTS)))

    limit = sign_in_throttle.MAX_FAILURES_PER_ACCOUNT
    assert evaluated <= limit, f"{evaluated} passwords were checked"
    assert outcomes.count("refused") == evaluated
    assert outcomes.count("throttled") == ATTEMPTS - evaluated
    with pytest.raises(Throttled):
        sessions.authenticate(owner.email, "correct horse battery", "10.8.0.1")
