"""Every live page gets its own guarded poll, declared with the capability the page names."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from reflex.state import BaseState

import atlas_app.atlas_app  # noqa: F401 - registers every page and state
from atlas_app.state.guard import access_of, validators_of
from atlas_app.state.live import LivePageState
from atlas_app.state.polling import SharedReads
from atlas_app.state.session import SessionState
from tests.support.aio import run_coroutine


def _live_pages() -> list[type[BaseState]]:
    found, pending = [], list(SessionState.get_substates())
    while pending:
        cls = pending.pop()
        pending.extend(cls.get_substates())
        if issubclass(cls, LivePageState):
            found.append(cls)
    return found


def test_each_live_page_registers_its_own_poll_with_its_own_capability() -> None:
    pages = _live_pages()
    assert {cls.__name__ for cls in pages} >= {"ConnectionsState", "ConnectionDetailState", "OperationsState"}
    for cls in pages:
        handler = cls.event_handlers["poll"]
        assert access_of(handler.fn) == cls.watched_with, cls.__name__
        assert set(validators_of(handler.fn) or {}) == {"tick"}
        assert handler.fn.__qualname__ == f"{cls.__name__}.poll"
    assert len({id(cls.event_handlers["poll"].fn) for cls in pages}) == len(pages)


def test_a_live_page_that_names_no_capability_is_refused() -> None:
    with pytest.raises(TypeError, match="watched_with"):
        class Unwatched(LivePageState, SessionState):
            pass


def test_shared_reads_serve_a_stamp_or_newer_and_forget_a_failure() -> None:
    reads, calls = SharedReads(size=2), []

    def reader(value: str) -> Callable[[], str]:
        def read() -> str:
            calls.append(value)
            if value == "boom":
                raise RuntimeError("the read failed")
            return value
        return read

    assert run_coroutine(reads.read("page", 5, reader("first"))) == "first"
    assert run_coroutine(reads.read("page", 4, reader("older"))) == "first"  # read at 5 serves 4 and 5
    assert run_coroutine(reads.read("page", 6, reader("newer"))) == "newer"
    with pytest.raises(RuntimeError):
        run_coroutine(reads.read("other", 1, reader("boom")))
    assert run_coroutine(reads.read("other", 1, reader("again"))) == "again"  # a failure is not kept
    run_coroutine(reads.read("third", 1, reader("third")))
    assert run_coroutine(reads.read("page", 6, reader("evicted"))) == "evicted"  # at most two kept
    assert calls == ["first", "newer", "boom", "again", "third", "evicted"]
