"""Short replies from site contacts: statuses that record nothing, a question after a report,
help asked as a question, afterthoughts (our own sentences, not corpus lines)."""

from __future__ import annotations

import datetime as dt

import pytest

from nlp.parser import Parser

SENT = dt.date(2023, 5, 10)  # a Wednesday


def updates(parser: Parser, text: str, sender: str | None = None) -> list[dict]:
    return parser.parse(text, sender=sender, sent=SENT).to_json()["updates"]


@pytest.mark.parametrize("text", [
    "目前正常施工", "施工正常", "暂时没有困难", "无需区里协调", "这周没有新进展，也没有问题",
    "收到，同上周", "好的，一切正常",
    # what and when in any order, and a form's line typed out
    "项目建设情况与上周一样", "这周工程无新进展", "本月项目没有变化，存在问题：暂无",
])
def test_a_status_from_the_contact_of_one_project(parser: Parser, text: str) -> None:
    assert [(u["project"], u["events"], u["issues"], u["investment"])
            for u in updates(parser, text, "邱实")] == [("P032", [], [], [])]
    assert updates(parser, text, None) == []     # nobody's project
    assert updates(parser, text, "罗军") == []   # the contact of two projects


# (好的，没问题 answers a request — "yes, we will" — and is no status of the project.)
@pytest.mark.parametrize("text", ["收到", "好的", "收到，谢谢", "好的，没问题"])
def test_an_acknowledgement_alone_records_nothing(parser: Parser, text: str) -> None:
    assert updates(parser, text, "邱实") == []


def test_a_lone_fragment_with_a_status_of_its_own_names_its_project(parser: Parser) -> None:
    assert [u["project"] for u in updates(parser, "永磁 施工正常；清水塘大桥主体封顶")] == [
        "P008", "P010"]
    # A lone fragment saying nothing is still no name (火车站 may be any station).
    assert [u["project"] for u in updates(parser, "火车站人很多；清水塘大桥主体封顶")] == ["P010"]


def test_a_question_after_a_report_leaves_the_report(parser: Parser) -> None:
    [u] = updates(parser, "雪峰岭学校外墙完成六成，想问一下月报几号交？")
    assert (u["project"], u["progress_pct"], u["progress_part"]) == ("P032", 60, "外墙")
    assert updates(parser, "请问雪峰岭学校外墙完成六成了吗？") == []


def test_help_asked_as_a_question_is_a_request(parser: Parser) -> None:
    [u] = updates(parser, "请问能否协调一下清水塘大桥的电力迁改？")
    assert (u["project"], [i["category"] for i in u["issues"]]) == ("P010", ["utilities"])
    assert updates(parser, "请问清水塘大桥的月报怎么填？") == []


def test_a_part_named_by_a_letter_starts_a_clause(parser: Parser) -> None:
    [u] = updates(parser, "雪峰岭学校本月完成投资300万 B区教学楼完成45%")
    assert (u["progress_pct"], u["progress_part"]) == (45, "B区教学楼")
    assert u["investment"] == [{"scope": "month", "wan_yuan": 300}]


@pytest.mark.parametrize(("text", "date"), [
    ("雪峰岭学校主体封顶了，昨天的事", "2023-05-09"),
    ("雪峰岭学校主体封顶了，是前天那天", "2023-05-08"),
])
def test_the_day_said_after_the_fact(parser: Parser, text: str, date: str) -> None:
    [u] = updates(parser, text)
    assert u["events"] == [{"milestone": "topped_out", "status": "done", "date": date}]


@pytest.mark.parametrize(("text", "expected"), [
    ("雪峰岭学校昨天正式开学", [("operating", "done", "2023-05-09")]),
    ("雪峰岭学校力争9月开学", [("operating", "planned", "2023-09-30")]),
    ("雪峰岭学校开学前完成竣工验收", [("accepted", "planned", None)]),
])
def test_a_school_opening_is_operating(parser: Parser, text: str, expected: list) -> None:
    [u] = updates(parser, text)
    assert [(e["milestone"], e["status"], e["date"]) for e in u["events"]] == expected


def test_an_approval_still_at_a_step_is_a_problem(parser: Parser) -> None:
    [u] = updates(parser, "雪峰岭学校规划方案还在评审")
    assert [i["category"] for i in u["issues"]] == ["approval"]


def test_a_school_opening_as_a_time_is_no_event(parser: Parser) -> None:
    [u] = updates(parser, "雪峰岭学校力争8月底前投入使用，保证秋季开学用得上")
    assert [(e["milestone"], e["status"]) for e in u["events"]] == [("operating", "planned")]
