"""Running a coroutine from a synchronous test.

Playwright's sync API keeps an event loop running in the main thread for the whole session once a
browser test has run there, and asyncio.run() refuses to start inside it; a fresh thread has none.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    # In the caller's context: Reflex finds its registries in context variables.
    context = contextvars.copy_context()
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(context.run, asyncio.run, coroutine).result()
