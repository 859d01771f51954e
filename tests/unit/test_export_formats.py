"""The export writers: CSV cells a spreadsheet would run as formulas are defused, NDJSON is one object a line,
and both write row by row (nothing reads the whole input first)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from atlas_services.errors import InvalidInput
from atlas_services.exports.formats import csv_cell, csv_lines, ndjson_lines, parse_format, write


@pytest.mark.parametrize("text", ["=1+2", "+SUM(A1)", "-2+3", "@SUM(A1)", "\tx", "\rx",
                                  '=HYPERLINK("http://evil.example","x")', "=cmd|' /C calc'!A0"])
def test_cells_that_start_like_formulas_get_an_apostrophe(text: str) -> None:
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize(("value", "cell"), [("plain", "plain"), ("a=b", "a=b"), ("", ""), (None, ""), (42, "42"),
                                             (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "2026-01-02T03:04:05+00:00"),
                                             ({"b": 1, "a": "x"}, '{"a": "x", "b": 1}')])
def test_other_cells_are_left_as_they_are(value: Any, cell: str) -> None:
    assert csv_cell(value) == cell


def test_negative_numbers_are_defused_too() -> None:
    assert csv_cell(-5) == "'-5"


def test_csv_has_a_header_quotes_what_needs_it_and_reads_back() -> None:
    rows = [{"a": 'say "hi", then\nleave', "b": "=1+1"}, {"a": "", "b": None}]
    body = "".join(csv_lines(("a", "b"), rows))
    assert body.startswith("a,b\r\n")
    assert list(csv.DictReader(io.StringIO(body))) == [{"a": 'say "hi", then\nleave', "b": "'=1+1"},
                                                      {"a": "", "b": ""}]


def test_ndjson_is_one_object_per_line_with_only_the_columns_asked_for() -> None:
    moment = datetime(2026, 1, 2, tzinfo=UTC)
    lines = list(ndjson_lines(("a", "at"), [{"a": "=x", "at": moment, "secret": "no"}, {"a": None, "at": None}]))
    assert [json.loads(line) for line in lines] == [{"a": "=x", "at": "2026-01-02T00:00:00+00:00"},
                                                    {"a": None, "at": None}]
    assert all(line.endswith("\n") and line.count("\n") == 1 for line in lines)


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_writers_pull_one_row_per_chunk(fmt: str) -> None:
    pulled = []

    def rows() -> Iterator[dict[str, Any]]:
        for n in range(1000):
            pulled.append(n)
            yield {"a": n}

    chunks = write(fmt, ("a",), rows())
    for _ in range(3):
        next(chunks)
    assert len(pulled) <= 3


@pytest.mark.parametrize("bad", ["xml", "", "CSV", None, ["csv"]])
def test_only_csv_and_json_are_formats(bad: object) -> None:
    with pytest.raises(InvalidInput):
        parse_format(bad)
