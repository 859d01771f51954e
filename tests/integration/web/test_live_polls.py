"""Issue 15 item 3: a live page's poll re-reads the page only when its tenant's change stamp moved, and an
unchanged stamp never skips the guard: a member removed a moment ago is still refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from atlas_app.pages.connections.state import ConnectionsState
from atlas_app.pages.operations import OperationsState
from atlas_app.state import session as session_module
from atlas_app.state.polling import SHARED_READS
from atlas_services import change_stamps, sessions
from atlas_services.db import get_engine
from atlas_services.members import remove_member
from tests.support.factories import PASSWORD, join_tenant, random_suffix
from tests.support.reflex_harness import redirect_target, run, state_for
from tests.support.web_world import World, new_connection, new_run

PAGES = {"/connections": ConnectionsState, "/operations": OperationsState}


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """Every SQL statement sent while the test runs."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(get_engine(), "before_cursor_execute", record)
    yield seen
    event.remove(get_engine(), "before_cursor_execute", record)


@pytest.fixture(autouse=True)
def _slow_clocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing a test does expires by itself on a slow machine: each test says when a check is stale."""
    monkeypatch.setattr(session_module, "ACTOR_CACHE_SECONDS", 60.0)
    monkeypatch.setattr(change_stamps, "STAMP_MAX_AGE_SECONDS", 60.0)
    change_stamps.forget_stamps()
    SHARED_READS.clear()


def _member_tab(world: World, path: str) -> tuple[Any, Any]:
    """A new readonly member of tenant A with ``path`` loaded in a tab; returns (member, page state)."""
    member = join_tenant(world.owner_a, email=f"live-{random_suffix()}@example.test", role="readonly")
    digest = sessions.token_digest(sessions.authenticate(member.email, PASSWORD))
    state = state_for(PAGES[path], digest, path)
    run(state.on_page_load())
    assert state.loaded and state.notice_kind != "error"
    return member, state


def _poll(state: Any) -> Any:
    return run(type(state).event_handlers["poll"].fn(state, tick="x"))


@pytest.mark.parametrize("path", list(PAGES))
def test_a_poll_of_an_unchanged_tenant_reads_nothing_but_still_says_when_it_checked(
        world: World, path: str, statements: list[str]) -> None:
    _member, state = _member_tab(world, path)
    runs = [row.id for row in state.runs]
    statements.clear()
    _poll(state)
    assert statements == []  # the actor and the stamp were checked a moment ago
    assert state.checked_at and [row.id for row in state.runs] == runs


@pytest.mark.parametrize("path", list(PAGES))
def test_an_unchanged_stamp_costs_one_tiny_read_once_remembered_stamps_expire(
        world: World, path: str, statements: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    _member, state = _member_tab(world, path)
    new_connection(world.owner_b)  # another tenant's change is not this page's
    monkeypatch.setattr(change_stamps, "STAMP_MAX_AGE_SECONDS", 0.0)
    statements.clear()
    _poll(state)
    assert len(statements) == 1 and "tenant_change_stamps" in statements[0]


@pytest.mark.parametrize("path", list(PAGES))
def test_a_moved_stamp_re_reads_the_page(world: World, path: str, statements: list[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _member, state = _member_tab(world, path)
    started = new_run(world.owner_a)
    monkeypatch.setattr(change_stamps, "STAMP_MAX_AGE_SECONDS", 0.0)
    statements.clear()
    _poll(state)
    assert started in [row.id for row in state.runs]
    page_reads = [s for s in statements if "tenant_change_stamps" not in s]
    # The page's widgets, one statement each, in one snapshot: /connections has the fleet's page, its counts, the
    # recent runs and "is anything active"; /operations the history and the running and queued runs.
    assert page_reads and len(page_reads) <= {"/connections": 4, "/operations": 3}[path]


@pytest.mark.parametrize("path", list(PAGES))
def test_an_unchanged_stamp_never_skips_the_guard(world: World, path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    member, state = _member_tab(world, path)
    assert state.runs  # something to lose
    remove_member(world.owner_a, member.user_id)  # memberships move no stamp: the page's data did not change
    monkeypatch.setattr(session_module, "ACTOR_CACHE_SECONDS", 0.0)
    result = _poll(state)
    assert redirect_target(result) == "/login"
    assert state.runs == [] and not state.loaded


@pytest.mark.parametrize("path", list(PAGES))
def test_the_tabs_of_a_tenant_share_one_read_of_a_change(world: World, path: str, statements: list[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    tabs = [_member_tab(world, path)[1] for _ in range(3)]
    started = new_run(world.owner_a)
    monkeypatch.setattr(change_stamps, "STAMP_MAX_AGE_SECONDS", 0.0)  # every poll reads the stamp itself
    reads = []
    for tab in tabs:
        statements.clear()
        _poll(tab)
        assert started in [row.id for row in tab.runs]
        reads.append(len([s for s in statements if "tenant_change_stamps" not in s]))
    assert reads[0] > 0 and reads[1:] == [0, 0]
    tabs[0].runs[0].status = "tampered"  # each tab has its own copy
    assert tabs[1].runs[0].status != "tampered"
