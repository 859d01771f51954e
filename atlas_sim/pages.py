"""The encoded items of the simulator's Intune list pages, kept so a page asked for again costs no generation.

Generating a page of 1,000 managed devices (a seeded draw per property) and encoding it took about 50 ms, which
made the simulator, not the client, the bottleneck of a 100,000-device sync (issue 15). A page's items depend only
on (tenant, collection, first index, last index, $select) for a simulator's lifetime (Intune data are a function
of the seed, the tenant and the start hour), so their JSON array is rendered on first request and reused. The rest
of a body (context, count, nextLink) is still built per request, and faults are still decided per request before
any of it. Memory is bounded: beyond ``max_bytes`` the least recently used pages are dropped.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import Any

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
_COMPACT = (",", ":")


class RenderedItems:
    """A page's ``value`` array, already encoded as JSON; ``len()`` is its number of items."""

    __slots__ = ("count", "encoded")

    def __init__(self, encoded: bytes, count: int) -> None:
        self.encoded = encoded
        self.count = count

    def __len__(self) -> int:
        return self.count


class PageCache:
    """Least-recently-used encoded pages, at most ``max_bytes`` of them (a page larger than that is not kept)."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.renders = 0
        self._pages: OrderedDict[Hashable, RenderedItems] = OrderedDict()

    def __len__(self) -> int:
        return len(self._pages)

    def items(self, key: Hashable, render: Callable[[], list[dict[str, Any]]]) -> RenderedItems:
        """The encoded items for ``key``, rendered by ``render`` when not kept."""
        kept = self._pages.get(key)
        if kept is not None:
            self._pages.move_to_end(key)
            return kept
        items = render()
        self.renders += 1
        page = RenderedItems(json.dumps(items, separators=_COMPACT).encode(), len(items))
        if len(page.encoded) <= self.max_bytes:
            self._pages[key] = page
            self.bytes += len(page.encoded)
            while self.bytes > self.max_bytes:
                _, dropped = self._pages.popitem(last=False)
                self.bytes -= len(dropped.encoded)
        return page


def is_listing(value: object) -> bool:
    """Whether a body's ``value`` is a page of items (a plain list, or items kept encoded)."""
    return isinstance(value, list | RenderedItems)


def as_list(value: Any) -> list[Any]:
    """A page's items as a list a fault may cut (kept items are decoded; the kept copy stays intact)."""
    items: list[Any] = json.loads(value.encoded) if isinstance(value, RenderedItems) else value
    return items


def encode(body: Mapping[str, Any]) -> bytes:
    """``body`` as compact JSON, byte for byte what ``json.dumps`` gives, with RenderedItems spliced in as they are."""
    if not any(isinstance(value, RenderedItems) for value in body.values()):
        return json.dumps(body, separators=_COMPACT).encode()
    parts = [json.dumps(key).encode() + b":" + (value.encoded if isinstance(value, RenderedItems)
                                                else json.dumps(value, separators=_COMPACT).encode())
             for key, value in body.items()]
    return b"{" + b",".join(parts) + b"}"
