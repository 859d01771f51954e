"""ReadAhead: the same pages in order, at most one fetched ahead of the caller, failures where the page would have
been, and leaving early stops the listing after the request in flight."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from atlas_services.graph.read_ahead import ReadAhead


class Listing:
    """A listing that records which pages were requested, and from which thread."""

    def __init__(self, pages: int, fail_at: int | None = None) -> None:
        self.pages = pages
        self.fail_at = fail_at
        self.requested: list[int] = []
        self.threads: set[str] = set()
        self.closed = False

    def __iter__(self) -> Iterator[int]:
        try:
            for number in range(self.pages):
                self.requested.append(number)
                self.threads.add(threading.current_thread().name)
                if number == self.fail_at:
                    raise RuntimeError(f"page {number} failed")
                yield number
        finally:
            self.closed = True


def test_every_page_arrives_in_order_from_one_worker_thread() -> None:
    listing = Listing(5)
    with ReadAhead(iter(listing)) as pages:
        assert list(pages) == [0, 1, 2, 3, 4]
    assert listing.requested == [0, 1, 2, 3, 4] and listing.closed
    assert len(listing.threads) == 1 and threading.current_thread().name not in listing.threads


def test_at_most_one_page_is_fetched_ahead_of_the_caller() -> None:
    listing = Listing(10)
    seen: list[tuple[int, int]] = []
    with ReadAhead(iter(listing)) as pages:
        for page in pages:
            # The next page may be under way, never the one after it.
            seen.append((page, len(listing.requested)))
    assert all(requested <= page + 2 for page, requested in seen)


def test_a_failure_reaches_the_caller_where_its_page_would_have() -> None:
    listing = Listing(5, fail_at=3)
    got: list[int] = []
    with pytest.raises(RuntimeError, match="page 3 failed"), ReadAhead(iter(listing)) as pages:
        for page in pages:
            got.append(page)
    assert got == [0, 1, 2] and listing.requested == [0, 1, 2, 3]


def test_leaving_early_stops_the_listing_after_the_request_in_flight() -> None:
    listing = Listing(100)
    with pytest.raises(KeyboardInterrupt), ReadAhead(iter(listing)) as pages:
        for page in pages:
            if page == 2:
                raise KeyboardInterrupt  # a cancel at the page boundary
    assert listing.requested == [0, 1, 2, 3] and listing.closed
