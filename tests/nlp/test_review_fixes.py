"""Bugs found in review, each reproduced with our own sentences (not corpus lines)."""

from __future__ import annotations

import datetime as dt

import pytest

from nlp.numbers import find_money, find_percents, plain_numerals
from nlp.parser import Parser

SENT = dt.date(2023, 5, 10)


def updates(parser: Parser, text: str, sender: str | None = None,
            sent: dt.date = SENT) -> list[dict]:
    return parser.parse(text, sender=sender, sent=sent).to_json()["updates"]


def one(parser: Parser, text: str, sender: str | None = None, sent: dt.date = SENT) -> dict:
    [update] = updates(parser, text, sender, sent)
    return update


@pytest.mark.parametrize(("text", "wan"), [
    ("完成投资一个亿零五百万", 10500),
    ("完成投资两个亿三千万元", 23000),
    ("完成投资1个亿零500万", 10500),
    ("完成投资三个亿零八十万元", 30080),
])
def test_a_measure_word_before_yi_keeps_the_wan_after_it(text: str, wan: int) -> None:
    [span] = find_money(text)
    assert span.value == wan


def test_one_hundred_percent_in_words() -> None:
    assert [s.value for s in find_percents("基础完成百分之百")] == [100]


def test_financial_share_is_not_a_name() -> None:
    # 柒成 at the end of a cell is a share; 陆成 followed by a verb is a person.
    assert plain_numerals("外墙完成柒成") == "外墙完成七成"
    assert plain_numerals("外墙完成陆成左右") == "外墙完成六成左右"
    assert plain_numerals("已完成陆成安排的清表") == "已完成陆成安排的清表"


def test_person_called_like_a_share_is_no_progress(parser: Parser) -> None:
    assert one(parser, "钢铁城本周已完成陆成安排的清表工作")["progress_pct"] is None


def test_label_ending_in_done_keeps_its_figure(parser: Parser) -> None:
    update = one(parser, "钢铁城\n本年累计完成：肆亿伍仟万元")
    assert update["investment"] == [{"scope": "year", "wan_yuan": 45000}]


@pytest.mark.parametrize("text", [
    "嗯我们这边那个本周无新进展",
    "呃 那个 就是 这周没什么变化",
    "那个，项目上同上",
])
def test_terse_reply_wrapped_in_fillers(parser: Parser, text: str) -> None:
    # 程诚 is the contact of exactly one project (P029).
    assert updates(parser, text, sender="程诚") == [
        {"project": "P029", "events": [], "progress_pct": None, "progress_part": None,
         "investment": [], "issues": []}]
    assert updates(parser, text, sender=None) == []
