"""Where a figure's scope and project come from when the sentence does not put them right
before it (our own sentences, not corpus lines)."""

from __future__ import annotations

import datetime as dt

import pytest

from nlp.parser import Parser

SENT = dt.date(2023, 5, 10)


def invest(parser: Parser, text: str, sender: str | None = None) -> list[tuple]:
    result = parser.parse(text, sender=sender, sent=SENT).to_json()["updates"]
    return [(u["project"], i["scope"], i["wan_yuan"]) for u in result for i in u["investment"]]


@pytest.mark.parametrize(("text", "expected"), [
    # The scope said after the figure.
    ("清水塘大桥完成投资2100万，是本月的", [("P010", "month", 2100)]),
    ("清水塘大桥完成投资2100万（今年）", [("P010", "year", 2100)]),
    ("清水塘大桥完成投资2100万，属于一季度", [("P010", "quarter", 2100)]),
    # …but not a scope that belongs to a statement of its own.
    ("清水塘大桥完成投资2100万，本月计划再完成500万", [("P010", "unspecified", 2100)]),
    ("清水塘大桥完成投资2100万，本月主体封顶", [("P010", "unspecified", 2100)]),
])
def test_scope_said_after_the_figure(parser: Parser, text: str, expected: list) -> None:
    assert invest(parser, text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("雪峰岭学校当月投资是450万", [("P032", "month", 450)]),
    ("雪峰岭学校本季度投资为1200万元", [("P032", "quarter", 1200)]),
    ("雪峰岭学校总投资是3亿", []),
    ("雪峰岭学校本月计划投资是450万", []),
])
def test_scope_and_investment_then_a_copula(parser: Parser, text: str, expected: list) -> None:
    assert invest(parser, text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # The next project's figure repeats the statement before it, scope included.
    ("清水塘大桥本月完成投资700万，雪峰岭学校是650万",
     [("P010", "month", 700), ("P032", "month", 650)]),
    ("清水塘大桥今年完成投资1.1亿，雪峰岭学校完成9000万",
     [("P010", "year", 11000), ("P032", "year", 9000)]),
    # …unless it says its own scope.
    ("清水塘大桥本月完成投资700万，雪峰岭学校累计完成2亿",
     [("P010", "month", 700), ("P032", "cumulative", 20000)]),
    # A figure of another kind for the next project is not investment.
    ("清水塘大桥本月完成投资700万，雪峰岭学校资金缺口是650万", [("P010", "month", 700)]),
])
def test_a_figure_for_the_next_project_repeats_the_statement(parser: Parser, text: str,
                                                             expected: list) -> None:
    assert invest(parser, text) == expected


def test_a_period_label_scopes_the_list_after_it(parser: Parser) -> None:
    assert invest(parser, "二季度：清水塘大桥完成投资6000万，雪峰岭学校完成4000万") == [
        ("P010", "quarter", 6000), ("P032", "quarter", 4000)]
    # A month-day with a colon is a date, not a period label.
    assert invest(parser, "5月8日：清水塘大桥完成投资6000万") == [("P010", "unspecified", 6000)]


def projects_and_facts(parser: Parser, text: str, sender: str | None = None) -> list[tuple]:
    result = parser.parse(text, sender=sender, sent=SENT).to_json()["updates"]
    return [(u["project"], [(e["milestone"], e["status"]) for e in u["events"]],
             [i["wan_yuan"] for i in u["investment"]]) for u in result]


def test_a_new_project_is_not_the_one_named_before(parser: Parser) -> None:
    assert projects_and_facts(parser, "清水塘大桥本周无进展；新落地的星河材料项目昨天已开工") == [
        ("P010", [], []), (None, [("started", "done")], [])]
    # Said to be new but named in the ledger: that project.
    assert projects_and_facts(parser, "新引进的雪峰岭学校项目昨天已开工") == [
        ("P032", [("started", "done")], [])]


def test_one_name_made_of_two_projects_words_is_neither(parser: Parser) -> None:
    # Not the sender's project either: the message names a project, one the ledger lacks.
    assert projects_and_facts(parser, "清水塘雪峰岭配套项目 本月完成投资200万", "邱实") == [
        (None, [], [200])]
    # Two names joined by 和 are two projects.
    assert [p for p, _e, _i in projects_and_facts(
        parser, "清水塘大桥和雪峰岭学校项目本月均已开工")] == ["P010", "P032"]


def test_new_projects_counted_are_no_name(parser: Parser) -> None:
    assert projects_and_facts(parser, "清水塘大桥新落地的两个项目昨天已开工") == [
        ("P010", [("started", "done")], [])]
