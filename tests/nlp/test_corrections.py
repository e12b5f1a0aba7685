"""Self-corrections in speech: the corrected value or project wins, the retracted one records
nothing."""

from __future__ import annotations

import datetime as dt

import pytest

from nlp.corrections import apply_corrections
from nlp.parser import Parser

SENT = dt.date(2023, 5, 10)


def updates(parser: Parser, text: str) -> list[dict]:
    return parser.parse(text, sender=None, sent=SENT).to_json()["updates"]


@pytest.mark.parametrize(("text", "wan"), [
    ("钢铁城本月完成投资二千五，不对，是二千六百万", 2600),
    ("钢铁城本月完成投资3.1亿元，说错了，应该是3.4亿元", 34000),
    ("钢铁城本月完成投资六百万，哦不对不对，七百万", 700),
])
def test_a_corrected_figure_replaces_the_retracted_one(parser: Parser, text: str,
                                                       wan: int) -> None:
    [u] = updates(parser, text)
    assert [(i["scope"], i["wan_yuan"]) for i in u["investment"]] == [("month", wan)]


def test_a_corrected_share_keeps_the_words_it_leaves_out(parser: Parser) -> None:
    [u] = updates(parser, "三一产业基地形象进度百分之六十二，不对，六十五")
    assert u["progress_pct"] == 65
    [u] = updates(parser, "三一产业基地形象进度三分之一，讲错了，三分之二")
    assert u["progress_pct"] == pytest.approx(66.67)


def test_a_corrected_date_and_a_restated_clause(parser: Parser) -> None:
    [u] = updates(parser, "钢铁城昨天封顶了，不对，封顶是今天")
    assert [(e["milestone"], e["status"], e["date"]) for e in u["events"]] == [
        ("topped_out", "done", "2023-05-10")]
    [u] = updates(parser, "钢铁城今天封顶了，不对，我说错了，是下周三封顶")
    assert [(e["milestone"], e["status"]) for e in u["events"]] == [("topped_out", "planned")]


def test_a_corrected_project_gets_the_update_alone(parser: Parser) -> None:
    out = updates(parser, "钢铁城，不对，说错了，是三一产业基地，今天封顶了")
    assert [u["project"] for u in out] == ["P004"]


@pytest.mark.parametrize("text", [
    "该区域不对外开放，钢铁城今天封顶",   # 不对 inside a word
    "钢铁城报表数据搞错了，本月完成投资3000万元",  # no retraction clause
])
def test_text_without_a_retraction_is_left_alone(text: str) -> None:
    assert apply_corrections(text, lambda s: []) == text


def test_not_this_but_that(parser: Parser) -> None:
    [u] = updates(parser, "钢铁城不是下周三封顶，是下周五，之前报错了")
    assert [(e["milestone"], e["status"], e["date"]) for e in u["events"]] == [
        ("topped_out", "planned", "2023-05-19")]
    assert apply_corrections("能不能下周，是不是要等", lambda s: []) == "能不能下周，是不是要等"
