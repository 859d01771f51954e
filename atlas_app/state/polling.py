"""One poll at a time per tab: a timer tick is skipped while the previous tick's read is still running.

Call both inside ``async with self`` of a background handler whose state has ``_poll_started_at: float``.
A tick older than POLL_STALE_SECONDS no longer blocks (its read is presumed lost).
"""

from __future__ import annotations

import time
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
