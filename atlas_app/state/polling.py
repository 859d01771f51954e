"""One poll at a time per tab: a timer tick is skipped while the previous tick's read is still running; and
one read of a changed page per process: the tabs of a tenant share it (SharedReads).

Call claim_poll and release_poll inside ``async with self`` of a background handler whose state has
``_poll_started_at: float``. A tick older than POLL_STALE_SECONDS no longer blocks (its read is presumed lost).
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

POLL_STALE_SECONDS = 15.0


def claim_poll(state: Any) -> bool:
    """True when this tick may read; it then holds the slot until release_poll()."""
    now = time.time()
    if 0 <= now - state._poll_started_at < POLL_STALE_SECONDS:
        return False
    state._poll_started_at = now
    return True


def release_poll(state: Any) -> None:
    state._poll_started_at = 0.0


class SharedReads:
    """Live-page snapshots read in this process, shared by the tabs of one tenant at one page position.

    A read is keyed by (page, tenant, position) and stamped with the tenant's change stamp seen before it began;
    a tab whose tenant is at stamp S takes any read stamped S or later, or the read of it already under way, so a
    change is read once per process instead of once per tab. Only what every viewer of the tenant may see can be
    shared: a page's ``_read_snapshot`` depends on the actor's tenant and the position alone, and each tab's guard
    has checked its own actor before asking. Each tab gets its own copy. At most ``size`` reads are kept.
    """

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._reads: OrderedDict[Hashable, tuple[int, asyncio.Future[Any]]] = OrderedDict()

    async def read(self, key: Hashable, stamp: int, read: Callable[[], Any]) -> Any:
        held = self._reads.get(key)
        if held is None or held[0] < stamp or (held[1].done() and held[1].exception() is not None):
            held = (stamp, asyncio.ensure_future(asyncio.to_thread(read)))
            self._reads[key] = held
            while len(self._reads) > self.size:
                self._reads.popitem(last=False)
        self._reads.move_to_end(key)
        try:
            snapshot = await asyncio.shield(held[1])
        except Exception:
            if self._reads.get(key) is held:
                del self._reads[key]
            raise
        return copy.deepcopy(snapshot)

    def clear(self) -> None:
        self._reads.clear()


SHARED_READS = SharedReads()
