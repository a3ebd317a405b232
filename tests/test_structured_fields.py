"""The tolerant reader of HTTP structured fields (RFC 9651 subset) under the generic
rate-limit headers: items, parameters, members (the headers: test_generic_ratelimit.py)."""

from __future__ import annotations

import pytest

from uploader.ratelimit import fields


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        ('"a";q=1;w=2', ("a", {"q": 1, "w": 2})),
        ("tok/en:x;k", ("tok/en:x", {"k": True})),
        ("-12;d=1.5", (-12, {"d": 1.5})),
        ('"say \\"hi\\"\\\\";b=?0', ('say "hi"\\', {"b": False})),
        (":aGk=:;x=?1", ("aGk=", {"x": True})),
        ('"a";k=1;k=2', ("a", {"k": 1})),  # the first of a repeated key
    ],
)
def test_items_are_read(member: str, expected: fields.Item) -> None:
    assert fields.item(member) == expected


@pytest.mark.parametrize(
    "member",
    ['"unclosed', "(a b);q=1", "1;q=", "1 2", "1;=3", "1234567890123456789", "1.2.3", "?2", ":x"],
)
def test_malformed_items_are_none(member: str) -> None:
    assert fields.item(member) is None


def test_members_split_outside_quotes_and_drop_empty_ones() -> None:
    assert fields.members(' "a,b";q=1 ,, 2 , "c\\",d" ') == ['"a,b";q=1', "2", '"c\\",d"']
    assert len(fields.members("1," * 10_000)) == fields.MAX_MEMBERS
