"""Spoken replies from older cadres: dialect negators, indirect requests, colloquial verbs."""

from __future__ import annotations

import datetime as dt

import pytest

from nlp.parser import Parser

SENT = dt.date(2023, 5, 10)


def one(parser: Parser, text: str) -> dict:
    [update] = parser.parse(text, sender=None, sent=SENT).to_json()["updates"]
    return update


@pytest.mark.parametrize(("text", "category"), [
    ("钢铁城的供水管道还冇接通，麻烦领导帮忙催一下水务公司", "utilities"),
    ("钢铁城征收的事还是要请街道出面", "land"),
    ("钢铁城有几户不肯搬，还冇拆完", "land"),
    ("钢铁城上级拨的钱还冇到位，工程款拖了三个月", "funding"),
    ("钢铁城资金这块有点紧", "funding"),
    ("钢铁城总包欠工人工资，要请劳动监察介入", "construction"),
    ("钢铁城天太热，中午不准施工", "construction"),
])
def test_problems_and_requests_said_on_the_phone(parser: Parser, text: str,
                                                 category: str) -> None:
    assert [i["category"] for i in one(parser, text)["issues"]] == [category]


@pytest.mark.parametrize("text", [
    "钢铁城春节放假停工十天，节后复工",
    "钢铁城五一期间冇停工",
    "钢铁城莫得啥子问题，放心",
])
def test_routine_or_good_news_is_no_issue(parser: Parser, text: str) -> None:
    assert one(parser, text)["issues"] == []


@pytest.mark.parametrize(("text", "pct"), [
    ("钢铁城主体完成了两成", 20), ("钢铁城形象进度八成五", 85), ("钢铁城完成六成三号楼在装修", 60),
    ("钢铁城形象进度百分之七十几", None), ("钢铁城装修完成了一半多", None),
])
def test_spoken_shares(parser: Parser, text: str, pct: int | None) -> None:
    assert one(parser, text)["progress_pct"] == pct


@pytest.mark.parametrize(("text", "events"), [
    ("钢铁城已经整完了", [("completed", "done")]),
    ("三一产业基地整体搞完了，谢谢领导", [("completed", "done")]),
    ("钢铁城的仓库整完了", []),          # a part of the work
    ("钢铁城装修基本弄好了", []),
    ("钢铁城还没搞完", []),
])
def test_colloquial_finish_of_the_project_itself(parser: Parser, text: str,
                                                 events: list[tuple[str, str]]) -> None:
    assert [(e["milestone"], e["status"]) for e in one(parser, text)["events"]] == events


@pytest.mark.parametrize(("text", "items"), [
    ("钢铁城这个月投了六百万", [("month", 600)]),
    ("钢铁城前两个季度完成投资三个亿", [("year", 30000)]),
    ("钢铁城季度完成投资是九百万", [("quarter", 900)]),
    ("钢铁城今年完成投资估计两个亿", []),          # a forecast
    ("钢铁城明年打算投三个亿", []),
])
def test_spoken_investment(parser: Parser, text: str, items: list[tuple[str, int]]) -> None:
    assert [(i["scope"], i["wan_yuan"]) for i in one(parser, text)["investment"]] == items


def test_a_bare_not_yet_is_about_the_verb_after_it(parser: Parser) -> None:
    # the road is where; 拆 (demolition) is what is not done
    assert [i["category"] for i in one(parser, "钢铁城进场道路那块还没拆完")["issues"]] == ["land"]


@pytest.mark.parametrize("text", [
    "跟上个礼拜一样，冇得变化", "这个星期莫得新情况", "我们那边一切正常，莫得问题",
])
def test_a_terse_reply_in_dialect_from_a_one_project_contact(parser: Parser, text: str) -> None:
    [u] = parser.parse(text, sender="冯军", sent=SENT).to_json()["updates"]
    assert (u["project"], u["events"], u["issues"]) == ("P007", [], [])
    assert parser.parse(text, sender=None, sent=SENT).updates == []


@pytest.mark.parametrize(("text", "sent", "event"), [
    ("钢铁城下半年投产", dt.date(2023, 3, 8), ("operating", "planned", "2023-12-31")),
    ("钢铁城五月底封顶要推到七月份", dt.date(2023, 5, 10), ("topped_out", "planned", "2023-07-31")),
    ("钢铁城竣工怕是要拖到年底", dt.date(2023, 5, 10), ("completed", "planned", "2023-12-31")),
])
def test_spoken_dates(parser: Parser, text: str, sent: dt.date,
                      event: tuple[str, str, str]) -> None:
    [u] = parser.parse(text, sender=None, sent=sent).to_json()["updates"]
    assert [(e["milestone"], e["status"], e["date"]) for e in u["events"]] == [event]


@pytest.mark.parametrize(("text", "events"), [
    ("钢铁城今年一月主体封顶了", [("topped_out", "done", "2023-01-31")]),
    ("钢铁城去年就开工了", [("started", "done", "2022-12-31")]),
    ("钢铁城的地还冇拿到", [("land", "not_done", None)]),
    ("钢铁城的地昨天拿到了", [("land", "done", "2023-05-09")]),
    ("钢铁城工地拿到了一批钢材", []),
])
def test_years_and_split_land_said_on_the_phone(parser: Parser, text: str,
                                                events: list[tuple[str, str, str | None]]) -> None:
    assert [(e["milestone"], e["status"], e["date"]) for e in one(parser, text)["events"]] == events


def test_cumulative_said_with_you_and_a_project_put_on_hold(parser: Parser) -> None:
    u = one(parser, "钢铁城开工以来累计有3.5个亿了")
    assert [(i["scope"], i["wan_yuan"]) for i in u["investment"]] == [("cumulative", 35000)]
    assert [i["category"] for i in one(parser, "钢铁城企业要重新评估，项目暂时缓一缓")["issues"]] \
        == ["other"]


def test_people_who_cannot_come_are_an_issue(parser: Parser) -> None:
    assert [i["category"] for i in one(parser, "钢铁城调试推迟，厂家的技术人员过不来")["issues"]] \
        == ["other"]


def test_drawing_review_not_passed_is_approval(parser: Parser) -> None:
    assert [i["category"] for i in one(parser, "钢铁城审图还冇过")["issues"]] == ["approval"]
