"""Shortcuts taken for speed change no result: each is checked against the slow way."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlp import clauses, corrections, numbers
from nlp import normalize as norm
from nlp.corrections import apply_corrections
from nlp.segment import pairs_pattern

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


# The retraction mark (不对，是…) as it was: it consumed the separators before it, so a search
# rescanned a long run of them from each of its places (4,000 spaces after 错: over a second).
_MARK_CONSUMING = re.compile(
    r"[，,。；;\s]+(?:(?:哦|噢|啊|呃|嗯)[，,]?\s*)?"
    r"(?:不对(?:[，,]?\s*不对)?|(?:我|刚才)?(?:说|讲|报|搞|写)错了|口误)"
    r"(?:[，,]?\s*(?:不对|(?:我|刚才)?(?:说|讲|报|搞|写)错了))?"
    r"(?=[，,：:\s]|是|应该)[，,：:\s]*(?:应该是|应该|是)?\s*"
)
_SPEECH = st.lists(st.sampled_from(
    ["，", ",", "。", "；", " ", "\n", "\u3000", "：", "不对", "错", "说错了", "我讲错了", "口误",
     "哦", "嗯", "是", "应该", "应该是", "明天", "开工", "二千六百万", "钢铁城", "了"]),
    max_size=16).map("".join)


@settings(max_examples=400, deadline=None)
@given(text=_SPEECH)
def test_the_retraction_mark_finds_what_the_consuming_one_found(text: str) -> None:
    """Where each retraction's clause ends and where its correction starts are as before."""
    old = [m.span() for m in _MARK_CONSUMING.finditer(text)]
    new: list[tuple[int, int]] = []
    pos = 0
    while (found := corrections.find_mark(text, pos)) is not None:
        new.append((found[0], found[1].end()))
        pos = found[1].end()
    assert new == old, text


@pytest.mark.parametrize("text", [
    "错" + " " * 4090 + "x", "不对" + "，" * 4090, "说错了" + "\u3000，" * 2046 + "是",
    "今天开工" + " " * 4000 + "不对", "错" + "，不对" * 1360,
], ids=["spaces", "commas", "ideographic", "trailing-mark", "repeated-mark"])
def test_a_separator_run_at_the_length_cap_is_looked_back_at_not_rescanned(text: str) -> None:
    """No match of the mark starts on a separator (each run is looked back at once, from the
    word after it), and such a message comes through whole: nothing in it is a correction."""
    assert all(not (text[m.start()] in "，,。；;" or text[m.start()].isspace())
               for m in corrections._MARK.finditer(text))
    said = apply_corrections(text, lambda _: [])
    assert said == text or len(said) < len(text), said[:20]


def test_a_message_without_a_retraction_word_is_not_scanned_for_one() -> None:
    # (the mark is searched only when 错 or 不对 is in the message)
    text = "今天开工" + "，" * 4000 + "明天封顶"
    assert corrections._MARK.search(text) is None
    assert apply_corrections(text, lambda _: []) == text


_LIST_SPLIT_EVERYWHERE = re.compile(
    r"[ \t]+(?=(?:\d{1,2}|[一二三四五六七八九十]{1,2})[、.．)）](?!\d))")
_LINE = st.lists(st.sampled_from([" ", "\t", "  ", "1.", "2、", "三)", "12.5", "进展", "主体封顶",
                                  "，", "了", "本月"]), max_size=14).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=_LINE)
def test_a_list_on_one_line_splits_where_it_did(text: str) -> None:
    """The one-line list split, tried from a run's first space only, splits the same places
    as when it was tried from every space (which rescanned a long run from each)."""
    everywhere = {m.span() for m in _LIST_SPLIT_EVERYWHERE.finditer(text)}
    first_only = {m.span() for m in clauses._CLAUSE_SPLIT.finditer(text)
                  if text[m.start()] in " \t"}
    assert first_only == everywhere, text


def test_the_traditional_check_finds_exactly_the_converters_characters() -> None:
    """A class of the BMP ones, the set beyond it: every character the converter changes is
    found, alone or inside text, and no other."""
    conv = norm._opencc()
    assert conv is not None
    trad, bmp, _cc = conv
    assert any(ord(c) > 0xFFFF for c in trad)  # (else the set's path is never taken)
    for cp in range(0x30000):
        ch = chr(cp)
        assert norm._has_traditional(ch, trad, bmp) == (ch in trad), hex(cp)
        assert norm._has_traditional(f"钢铁城🎉{ch}开工", trad, bmp) == (ch in trad), hex(cp)


@settings(max_examples=300, deadline=None)
@given(pairs=st.sets(st.text(alphabet="钢铁城项目-]^\\ab", min_size=2, max_size=2), max_size=8),
       text=st.text(alphabet="钢铁城项目-]^\\abc", max_size=20))
def test_the_pairs_pattern_finds_a_pair_where_the_set_does(pairs: set[str], text: str) -> None:
    found = pairs_pattern(pairs).search(text) is not None
    assert found == any(text[i:i + 2] in pairs for i in range(len(text) - 1))
