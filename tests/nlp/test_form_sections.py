"""A report form's problem section: what is written under it is a problem, said plainly or
not; an empty one, a dash, or a bare column name is none."""

from __future__ import annotations

import datetime as dt

import pytest

from nlp.parser import Parser

SENT = dt.date(2023, 9, 1)


def issues(parser: Parser, text: str) -> list[tuple[str, str]]:
    result = parser.parse(text, sender=None, sent=SENT).to_json()["updates"]
    return [(i["category"], i["text"]) for u in result for i in u["issues"]]


@pytest.mark.parametrize("text", [
    "钢铁城\n本月完成投资：900万元\n需协调解决的问题：无",
    "钢铁城\n本月完成投资：900万元\n存在问题及需协调事项：暂无",
    "钢铁城\n本月完成投资\t900万元\n存在问题\t—",
    "钢铁城\n一、本月完成投资900万元\n二、存在困难和建议：/",
])
def test_an_empty_section_is_no_issue(parser: Parser, text: str) -> None:
    assert issues(parser, text) == []


def test_a_blank_form_records_nothing(parser: Parser) -> None:
    text = "请填报下表：\n项目名称\t本月完成投资\t存在问题\n\n周四前报送。"
    assert parser.parse(text, sender=None, sent=SENT).to_json()["updates"] == []


def test_what_is_written_under_the_label_is_a_problem(parser: Parser) -> None:
    found = issues(parser, "钢铁城\n本月完成投资：900万元\n存在问题：钢筋工到岗仅一半")
    assert [c for c, _t in found] == ["construction"]


def test_numbered_items_under_an_empty_label_line(parser: Parser) -> None:
    text = ("钢铁城\n需协调解决的问题：\n1.厂区外排水管网尚未接通；\n2.二期用地指标还没下达。\n"
            "下步计划：10月完成屋面")
    assert sorted(c for c, _t in issues(parser, text)) == ["land", "utilities"]


def test_the_section_ends_with_its_line(parser: Parser) -> None:
    text = "【钢铁城】\n- 存在问题：无。\n- 已于8月5日开工，计划年底封顶；"
    assert issues(parser, text) == []


def scopes(parser: Parser, text: str) -> list[tuple[str, float]]:
    result = parser.parse(text, sender=None, sent=SENT).to_json()["updates"]
    return [(i["scope"], float(i["wan_yuan"])) for u in result for i in u["investment"]]


def test_scope_words_of_a_form(parser: Parser) -> None:
    text = ("钢铁城\n本年累计完成投资：4100万元\n自开工累计完成投资：2.2亿元\n"
            "2022年完成投资：1.5亿元")
    assert scopes(parser, text) == [("year", 4100), ("cumulative", 22000), ("year", 15000)]


def test_since_the_start_is_a_scope_not_a_start(parser: Parser) -> None:
    result = parser.parse("钢铁城开工累计完成投资3.3亿元", sender=None, sent=SENT).to_json()
    assert [u["events"] for u in result["updates"]] == [[]]


def test_since_the_start_said_in_speech_is_no_start(parser: Parser) -> None:
    result = parser.parse("钢铁城开工到现在总共完成投资六个亿", sender=None, sent=SENT).to_json()
    assert [(u["events"], len(u["investment"])) for u in result["updates"]] == [([], 1)]
