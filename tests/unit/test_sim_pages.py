"""The simulator's page cache: encoded bodies identical to json.dumps, each page rendered once, memory bounded."""

from __future__ import annotations

import json
from typing import Any

from atlas_sim.pages import PageCache, RenderedItems, encode


def _items(n: int, tag: str = "x") -> list[dict[str, Any]]:
    return [{"id": f"{tag}-{i}", "name": "Zoë \"quoted\"", "n": i, "ok": i % 2 == 0, "none": None} for i in range(n)]


def test_a_body_with_rendered_items_encodes_byte_for_byte_as_json_dumps() -> None:
    items = _items(3)
    cache = PageCache()
    body = {"@odata.context": "https://graph/$metadata#x", "@odata.count": 3, "@odata.nextLink": "https://n?a=b&c",
            "value": cache.items("k", lambda: items)}
    expected = json.dumps({**body, "value": items}, separators=(",", ":")).encode()
    assert encode(body) == expected
    # A key added after the value (a fault's nextLink on a last page) stays where the dict puts it.
    body_last = {"@odata.context": "c", "value": cache.items("k", lambda: items), "@odata.nextLink": "n"}
    assert encode(body_last) == json.dumps({"@odata.context": "c", "value": items, "@odata.nextLink": "n"},
                                           separators=(",", ":")).encode()
    assert encode({"value": [1, 2]}) == b'{"value":[1,2]}'


def test_each_page_is_rendered_once_and_counts_its_items() -> None:
    cache = PageCache()
    calls: list[str] = []

    def render(tag: str) -> list[dict[str, Any]]:
        calls.append(tag)
        return _items(4, tag)

    first = cache.items(("t", "devices", 0), lambda: render("a"))
    again = cache.items(("t", "devices", 0), lambda: render("b"))
    other = cache.items(("t", "devices", 4), lambda: render("c"))
    assert calls == ["a", "c"] and cache.renders == 2 and len(cache) == 2
    assert again is first and len(first) == 4 and isinstance(other, RenderedItems)
    assert json.loads(first.encoded)[0]["id"] == "a-0" and json.loads(other.encoded)[0]["id"] == "c-0"


def test_memory_stays_within_the_bound_by_dropping_the_least_recently_used() -> None:
    size = len(json.dumps(_items(10, "p0"), separators=(",", ":")).encode())
    cache = PageCache(max_bytes=size * 3)
    for page in range(3):
        cache.items(page, lambda page=page: _items(10, f"p{page}"))
    cache.items(0, lambda: _items(10, "again"))  # a hit: page 0 becomes the most recently used
    cache.items(3, lambda: _items(10, "p3"))
    assert cache.bytes <= cache.max_bytes and len(cache) == 3
    assert json.loads(cache.items(0, lambda: _items(10, "re-rendered")).encoded)[0]["id"] == "p0-0"
    assert json.loads(cache.items(1, lambda: _items(10, "re-rendered")).encoded)[0]["id"] == "re-rendered-0"
    nothing_kept = PageCache(max_bytes=0)
    assert len(nothing_kept.items("k", lambda: _items(2))) == 2 and len(nothing_kept) == 0 and nothing_kept.bytes == 0
