"""The worker waits for an unreachable PostgreSQL to come back when it opens a connection (a restart, a failover);
the web tier and the CLI fail at once, and nobody waits out a wrong password. tests/faults restarts a real server
under a running worker; these pin the rules with a refused loopback port and a fake driver."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from atlas_services import db
from atlas_services.config import Settings, get_settings


class _DriverError(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


class _FakeDriver:
    """Refuses ``failures`` connections with ``sqlstate``, then connects."""

    class Error:
        OperationalError = _DriverError

    def __init__(self, failures: int, sqlstate: str | None = None) -> None:
        self.failures, self.sqlstate, self.calls = failures, sqlstate, 0
        self.loaded_dbapi = self.Error

    def connect(self, *args: Any, **kwargs: Any) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise _DriverError(self.sqlstate)
        return "connection"


@pytest.fixture
def closed_port_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once the socket is closed
    monkeypatch.setenv("ATLAS_DATABASE_URL", f"postgresql://atlas@127.0.0.1:{port}/atlas")
    get_settings.cache_clear()
    db.reset_engines()
    yield
    db.configure_worker_sessions(connect_wait_seconds=0, idle_in_transaction_seconds=0)
    get_settings.cache_clear()
    db.reset_engines()


def _seconds_to_fail() -> float:
    started = time.monotonic()
    with pytest.raises(OperationalError):
        with db.get_engine().connect():
            pass
    return time.monotonic() - started


def test_by_default_a_refused_connection_fails_at_once(closed_port_database: None) -> None:
    assert _seconds_to_fail() < 0.5


def test_once_asked_to_wait_a_refused_connection_is_retried_for_that_long(closed_port_database: None) -> None:
    db.configure_worker_sessions(connect_wait_seconds=1.5, idle_in_transaction_seconds=0)
    assert 1.0 <= _seconds_to_fail() < 4


def test_the_wait_ends_as_soon_as_the_server_answers() -> None:
    driver = _FakeDriver(failures=3)
    assert db._connect_waiting(10)(driver, None, (), {}) == "connection"
    assert driver.calls == 4


def test_starting_up_is_waited_out_but_a_wrong_password_or_database_is_not() -> None:
    starting = _FakeDriver(failures=2, sqlstate="57P03")
    assert db._connect_waiting(10)(starting, None, (), {}) == "connection"
    for sqlstate in ("28P01", "3D000"):
        refused = _FakeDriver(failures=5, sqlstate=sqlstate)
        with pytest.raises(_DriverError):
            db._connect_waiting(10)(refused, None, (), {})
        assert refused.calls == 1


def test_the_worker_waits_less_than_the_heartbeat_timeout_by_default() -> None:
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert 0 < defaults.worker_db_wait_seconds < defaults.heartbeat_timeout_seconds


def test_the_idle_transaction_limit_is_set_on_each_new_connection_and_committed() -> None:
    class FakeConnection:
        def __init__(self) -> None:
            self.statements: list[str] = []
            self.committed = False

        def cursor(self) -> Any:
            connection = self

            class Cursor:
                def __enter__(self) -> Cursor:
                    return self

                def __exit__(self, *exc: object) -> None:
                    return None

                def execute(self, sql: str) -> None:
                    connection.statements.append(sql)

            return Cursor()

        def commit(self) -> None:
            self.committed = True

    connection = FakeConnection()
    db._limit_idle_transactions(2500)(connection, None)
    assert connection.statements == ["SET idle_in_transaction_session_timeout = 2500"] and connection.committed
