"""Shortcuts taken for speed change no result: each is checked against the slow way."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from nlp import normalize as norm
from nlp import numbers

_PIECES = ["0", "1", "25", "3.5", "1,200", ".", ",", "%", " ",
           *"零〇○一二两三五八九十百千万亿点个元成半",
           *"过半 一半 分之 百分之 吨 台 本月完成投资 约 达到 人民币 陆成".split()]
_NUMERIC = st.lists(st.sampled_from(_PIECES), max_size=14).map("".join)


def _without_lookahead(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """The pattern as it would be without its leading speed lookahead."""
    m = re.match(r"\(\?=(?:\\d|\[[^\]]*\])\)(?:\(\?:(?P<body>.*)\)|(?P<rest>.*))$", pattern.pattern,
                 re.S)
    assert m is not None, "the pattern no longer opens with its lookahead"
    return re.compile(m["body"] if m["body"] is not None else m["rest"], pattern.flags)


def _matches(pattern: re.Pattern[str], text: str) -> list[tuple[tuple[int, int], dict]]:
    return [(m.span(), m.groupdict()) for m in pattern.finditer(text)]


@settings(max_examples=400, deadline=None)
@given(text=_NUMERIC)
def test_numeral_lookaheads_drop_no_match(text: str) -> None:
    for pattern in (numbers._MONEY, numbers._MIXED_MONEY, numbers._PERCENT):
        assert _matches(pattern, text) == _matches(_without_lookahead(pattern), text)


def test_the_lookaheads_are_there() -> None:
    # (If one is removed, the test above compares a pattern with itself.)
    assert numbers._MONEY.pattern.startswith(numbers._NUMERAL_AHEAD)
    assert numbers._MIXED_MONEY.pattern.startswith("(?=\\d)")
    assert numbers._PERCENT.pattern.startswith("(?=[")


def test_normalize_skips_only_text_it_would_not_change() -> None:
    changed = [cp for cp in range(0x30000) if chr(cp).translate(norm._TABLE) != chr(cp)]
    found = [cp for cp in range(0x30000) if norm._MAPPED.search(chr(cp))]
    assert changed == found
