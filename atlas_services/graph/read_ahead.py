"""Read one page ahead: while the caller stores a page, the request for the next is already under way.

A sync that fetches a page (waiting on the network) and then stores it (waiting on the database) pays both in turn;
read ahead, it pays about the slower of the two (issue 15). At most one page waits beyond the one the caller holds,
so memory stays flat. Leaving the block stops the listing: it waits for the request in flight (one page at most,
with that request's own retries) and issues no other. Failures of the listing reach the caller where the page
would have.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")


class ReadAhead(Generic[T]):
    """``with ReadAhead(graph.iter_pages(key)) as pages: for page in pages: ...``; the listing runs on one worker
    thread (a GraphClient is never used by two threads at once)."""

    def __init__(self, pages: Iterator[T]) -> None:
        self._pages = pages
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="graph-read-ahead")
        self._pending: Future[T | None] | None = None

    def _next(self) -> T | None:
        return next(self._pages, None)

    def _fetch_next(self) -> Future[T | None]:
        # The caller's context (its log context, say) goes with the request.
        self._pending = self._pool.submit(contextvars.copy_context().run, self._next)
        return self._pending

    def __iter__(self) -> Iterator[T]:
        pending = self._fetch_next()
        while (page := pending.result()) is not None:
            pending = self._fetch_next()
            yield page

    def __enter__(self) -> ReadAhead[T]:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._pending is not None:
            wait([self._pending])
        self._pool.shutdown(wait=True)
        close = getattr(self._pages, "close", None)
        if close is not None:
            close()
