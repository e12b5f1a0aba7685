"""Replies typed on a phone to a reminder: work in hand, permits being applied for, promises to
report later, two projects at once (our own sentences, not corpus lines)."""

from __future__ import annotations

import datetime as dt

import pytest

from nlp.parser import Parser

SENT = dt.date(2023, 6, 21)  # a Wednesday


def updates(parser: Parser, text: str, sender: str | None = None) -> list[dict]:
    return parser.parse(text, sender=sender, sent=SENT).to_json()["updates"]


def events(parser: Parser, text: str) -> list[tuple[str, str]]:
    return [(e["milestone"], e["status"]) for u in updates(parser, text) for e in u["events"]]


@pytest.mark.parametrize("text", [
    "钢铁城施工许可正在办",          # 正 is 正在, not the 证 of 施工许可证
    "钢铁城施工许可证还在办理中",
    "钢铁城施工许可这两天就能拿到",
    "钢铁城投产要等设备调试完",
    "钢铁城施工单位还在进场",
    "钢铁城施工许可在办，年底开工没问题",
    "钢铁城施工许可还在审",
    "钢铁城还剩竣工验收",
    "钢铁城消防整改完再约验收",
    "钢铁城主体工程开工只能等路修好了",
])
def test_under_way_or_soon_is_never_done(parser: Parser, text: str) -> None:
    found = events(parser, text)
    assert found, text
    assert all(status != "done" for _m, status in found), found


def test_moving_in_done_is_still_done(parser: Parser) -> None:
    assert events(parser, "钢铁城施工单位已进场") == [("started", "done")]
    assert events(parser, "钢铁城今天正式进场施工了") == [("started", "done")]


def test_a_part_name_then_work_in_hand_names_the_project(parser: Parser) -> None:
    # 永磁 alone is a fragment of a name; with a statement of work it is that project's update.
    assert [u["project"] for u in updates(parser, "永磁这边基础做完了，下周开始吊装")] == ["P008"]
    assert updates(parser, "永磁这个词什么意思") == []


def test_work_in_hand_and_nothing_to_coordinate_from_a_one_project_contact(
        parser: Parser) -> None:
    text = "这周在做室外道路，没什么需要协调的"
    assert [u["project"] for u in updates(parser, text, "邱实")] == ["P032"]
    assert updates(parser, "我这周在出差", "邱实") == []     # no status of the project
    assert updates(parser, text, "罗军") == []               # the contact of two projects


def test_a_fragment_joined_to_a_name(parser: Parser) -> None:
    assert [u["project"] for u in updates(parser, "硅能和钢铁城这周都没有变化")] == [
        "P011", "P007"]


@pytest.mark.parametrize("text", ["钢铁城的月报下午报", "收到，钢铁城和硅能的明天一起报",
                                  "钢铁城本月投资这两天报给你"])
def test_a_promise_to_report_records_nothing(parser: Parser, text: str) -> None:
    assert updates(parser, text, "罗军") == []


def test_a_utility_company_is_no_opening(parser: Parser) -> None:
    assert events(parser, "钢铁城的光缆迁改，运营商一直拖着不动") == []


def test_an_access_road_is_not_the_project(parser: Parser) -> None:
    assert events(parser, "钢铁城辅道已全部完工") == []
    assert events(parser, "钢铁城进场道路县里已经开工修了") == []


def test_one_statement_of_work_after_a_fragment_names_the_project(parser: Parser) -> None:
    assert [u["project"] for u in updates(parser, "北斗基坑开挖基本完成，准备做垫层")] == ["P022"]


def test_an_inspection_announced_and_a_leaders_request_record_nothing(parser: Parser) -> None:
    text = "各位联系人：本周三上午市里督查组到钢铁城、三一产业基地现场检查，请提前做好准备"
    assert updates(parser, text, "林晓") == []
    assert updates(parser, "请发改局汇总本周重点项目存在问题，周五前报我", "孔德明") == []
