"""Pasted tables, financial numerals, colloquial amounts, unreadable numerals, done dates."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from nlp.numbers import find_money, plain_numerals
from nlp.parser import Parser
from nlp.tables import rewrite

SENT = dt.date(2023, 11, 28)


def parse(parser: Parser, text: str, sent: dt.date = SENT) -> list[dict[str, Any]]:
    return parser.parse(text, sender=None, sent=sent).to_json()["updates"]


def facts(update: dict[str, Any]) -> tuple[Any, ...]:
    return (update["project"], update["progress_pct"],
            [(i["scope"], i["wan_yuan"]) for i in update["investment"]],
            [i["category"] for i in update["issues"]])


def test_tab_table_one_project_per_row_units_in_headers(parser: Parser) -> None:
    text = ("项目编号\t简称\t本月完成投资(万元)\t年度累计完成投资(亿元)\t形象进度\n"
            "P011\t三一硅能\t5200\t11.6\t98%\n"
            "P019\t功率半导体配套产业园\t1800\t6.2\t45%")
    assert [facts(u) for u in parse(parser, text)] == [
        ("P011", 98, [("month", 5200), ("year", 116000)], []),
        ("P019", 45, [("month", 1800), ("year", 62000)], []),
    ]


def test_space_aligned_table_unit_in_the_title(parser: Parser) -> None:
    text = ("11月重点项目调度表（单位：万元）\n"
            "项目名称  本月完成投资  累计完成投资  形象进度  存在问题\n"
            "雪峰岭学校  5000  21000  80  无\n"
            "三一硅能  3000  380000  95  供电专线未接通")
    assert [facts(u) for u in parse(parser, text)] == [
        ("P032", 80, [("month", 5000), ("cumulative", 21000)], []),
        ("P011", 95, [("month", 3000), ("cumulative", 380000)], ["utilities"]),
    ]


def test_one_item_per_row(parser: Parser) -> None:
    text = ("雪峰岭学校11月情况\n指标\t数值\n本月完成投资\t3200\n形象进度\t80%\n"
            "存在问题\t征地还有5户未签")
    assert [facts(u) for u in parse(parser, text)] == [
        ("P032", 80, [("month", 3200)], ["land"])]


def test_bar_table_with_events(parser: Parser) -> None:
    text = ("项目 | 本月完成投资 | 节点\n文体中心 | 1200万元 | 已于11月8日封顶\n"
            "清水塘大桥 | 800万元 | 计划12月底通车")
    updates = parse(parser, text)
    assert [(u["project"], [(e["milestone"], e["status"], e["date"]) for e in u["events"]])
            for u in updates] == [("P006", [("topped_out", "done", "2023-11-08")]),
                                  ("P010", [("operating", "planned", "2023-12-31")])]


def test_what_a_table_supplied_is_recorded() -> None:
    text, inferred = rewrite("项目名称\t本月完成投资\t形象进度\n钢铁城\t5000\t80")  # type: ignore[misc]
    assert {i.reason for i in inferred} == {"unit", "column"}
    assert "本月完成投资5000万元" in text


def test_plain_text_is_no_table() -> None:
    assert rewrite("钢铁城今天开工  本月完成投资1亿元") is None


@pytest.mark.parametrize(("text", "wan"), [
    ("伍佰万元", 500), ("壹亿贰仟万元整", 12000), ("叁仟伍佰万圆", 3500),
    ("两亿三", 23000), ("3亿5", 35000), ("一亿二", 12000), ("两亿三千万元", 23000),
    ("3亿5000万", 35000), ("一万五千元", 1.5),
])
def test_amounts(text: str, wan: float) -> None:
    [span] = find_money(plain_numerals(text))
    assert float(span.value) == wan


def test_a_surname_is_not_a_numeral() -> None:
    assert plain_numerals("陆总说伍佰万元") == "陆总说五百万元"


def test_an_unreadable_numeral_drops_that_number_only(parser: Parser) -> None:
    [update] = parse(parser, "钢铁城本月完成投资零十五万元，今天主体封顶，形象进度80%")
    assert update["events"] == [{"milestone": "topped_out", "status": "done",
                                 "date": "2023-11-28"}]
    assert update["progress_pct"] == 80


@pytest.mark.parametrize(("text", "date"), [
    ("钢铁城9.26已投产", "2023-09-26"), ("钢铁城于贰〇贰叁年伍月拾日开工", "2023-05-10"),
    ("钢铁城二〇二三年十月八日竣工", "2023-10-08"), ("钢铁城于10.15正式投产", "2023-10-15"),
])
def test_dates_of_done_events(parser: Parser, text: str, date: str) -> None:
    [update] = parse(parser, text)
    assert [(e["status"], e["date"]) for e in update["events"]] == [("done", date)]


@pytest.mark.parametrize("text", ["钢铁城完成投资1.2亿元", "钢铁城形象进度12.5%"])
def test_decimals_are_not_dates(parser: Parser, text: str) -> None:
    [update] = parse(parser, text)
    assert update["events"] == []


def test_excel_rows_keep_their_empty_cells(parser: Parser) -> None:
    text = ("项目名称\t本月完成投资(万元)\t形象进度\t存在问题\n雪峰岭学校\t\t80%\t无\n"
            "三一硅能\t3000\t\t供电专线未接通")
    assert [facts(u) for u in parse(parser, text)] == [
        ("P032", 80, [], []), ("P011", None, [("month", 3000)], ["utilities"])]


def test_item_rows_under_period_columns(parser: Parser) -> None:
    text = ("雪峰岭学校投资情况（单位：万元）\n指标\t本月\t累计\n完成投资\t3000\t21000\n"
            "形象进度\t80%\t")
    assert [facts(u) for u in parse(parser, text)] == [
        ("P032", 80, [("month", 3000), ("cumulative", 21000)], [])]


def test_numbered_task_table(parser: Parser) -> None:
    text = ("雪峰岭学校调度表\n序号\t工作事项\t完成情况\t备注\n1\t主体封顶\t已完成\t10月20日\n"
            "2\t设备采购\t进行中\t\n3\t竣工验收\t未开始\t计划明年5月")
    [update] = parse(parser, text, dt.date(2023, 10, 31))
    assert [(e["milestone"], e["status"], e["date"]) for e in update["events"]] == [
        ("topped_out", "done", "2023-10-20"), ("accepted", "not_done", None),
        ("accepted", "planned", "2024-05-31")]  # the remark column gives the new plan


def test_a_forms_problem_label_is_not_the_problem(parser: Parser) -> None:
    text = ("雪峰岭学校\n四、需协调解决的问题：1.专线报装手续尚未批复；"
            "2.园区道路未贯通，影响材料运输。")
    [update] = parse(parser, text)
    assert [i["category"] for i in update["issues"]] == ["approval", "utilities"]


def test_done_so_far_columns_are_money_in_the_titles_unit() -> None:
    text, _ = rewrite("5月调度（单位：亿元）\n项目名称\t当月完成\t自开工累计\t形象进度\n"  # type: ignore[misc]
                      "钢铁城\t0.3\t12.5\t主体完成50%")
    assert "当月完成投资0.3亿元" in text
    assert "自开工累计完成投资12.5亿元" in text
    assert "形象进度：主体完成50%" in text


def test_label_value_lines_without_a_header_read_as_a_form() -> None:
    text, _ = rewrite("文体中心8月\n本年累计\t3200万元\n形象进度\t屋面完成60%\n存在问题\t无")  # type: ignore[misc]
    assert text.splitlines()[1:] == ["本年累计完成投资：3200万元", "形象进度：屋面完成60%",
                                     "存在问题：无"]


def test_scope_columns_apply_to_money_only_and_empty_rows_say_nothing() -> None:
    text, _ = rewrite("钢铁城9月\n\t当月\t年度累计\n完成投资（万元）\t800\t5600\n"  # type: ignore[misc]
                      "形象进度\t整体完成70%\t\n存在问题\t—\t")
    assert "当月完成投资800万元" in text and "年度累计完成投资5600万元" in text
    assert "形象进度：整体完成70%" in text
    assert "存在问题" not in text


def test_a_unit_line_after_the_table_and_a_record_without_names() -> None:
    text, _ = rewrite("钢铁城6月\n本月完成投资\t年度累计\n320\t2100\n（单位：万元）")  # type: ignore[misc]
    assert "本月完成投资320万元" in text and "年度累计完成投资2100万元" in text


def test_a_title_with_its_unit_is_no_header() -> None:
    text, _ = rewrite("8月调度  单位：亿元\n项目名称    当月完成    存在问题\n"  # type: ignore[misc]
                      "钢铁城      0.4         无")
    assert "钢铁城：当月完成投资0.4亿元" in text


def test_a_financial_digit_before_cheng_is_a_share() -> None:
    assert plain_numerals("屋面完成玖成") == "屋面完成九成"
    assert plain_numerals("陆先生") == "陆先生"
