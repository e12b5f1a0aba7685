"""Feedback on assigned tasks (交办件, 督办回复, 整改情况): a matter closed, a deadline moved, a
target given up, a past visit's request (our own sentences, not corpus lines)."""

from __future__ import annotations

import datetime as dt

from nlp.parser import Parser

SENT = dt.date(2023, 9, 1)


def updates(parser: Parser, text: str, sender: str | None = None) -> list[dict]:
    return parser.parse(text, sender=sender, sent=SENT).to_json()["updates"]


def events(parser: Parser, text: str) -> list[tuple[str, str, str | None]]:
    return [(e["milestone"], e["status"], e["date"]) for u in updates(parser, text)
            for e in u["events"]]


def test_a_closed_matter_is_no_issue_and_a_status_of_the_project(parser: Parser) -> None:
    text = "钢铁城整改情况：督查指出的临边防护不到位问题已全部整改到位，已闭环。"
    assert [(u["project"], u["issues"]) for u in updates(parser, text)] == [("P007", [])]
    # from the contact of one project, without naming it
    assert [u["project"] for u in updates(parser, "林主任，这个督办可以销号了", "邱实")] == ["P032"]
    assert updates(parser, "林主任，我在开会", "邱实") == []


def test_a_deadline_moved_replaces_the_old_one(parser: Parser) -> None:
    text = "钢铁城督办的年底竣工任务，受阴雨影响，申请延期至明年3月底竣工。"
    assert events(parser, text) == [("completed", "planned", "2024-03-31")]


def test_a_target_given_up_gives_no_event_but_the_new_date_does(parser: Parser) -> None:
    assert events(parser, "钢铁城年底竣工有困难") == []
    assert events(parser, "钢铁城年底竣工有困难，可能要推到明年2月") == [
        ("completed", "planned", "2024-02-29")]


def test_a_past_visits_request_is_no_notice(parser: Parser) -> None:
    text = "按照市领导调研要求，钢铁城确保10月28日正式投产。"
    assert events(parser, text) == [("operating", "planned", "2023-10-28")]
    # an announced visit still records nothing
    assert updates(parser, "明天区领导到钢铁城调研，请做好准备") == []


def test_the_cause_said_before_the_delay(parser: Parser) -> None:
    found = updates(parser, "钢铁城因设计变更，原定9月的封顶推迟到10月中旬。")
    assert [i["category"] for u in found for i in u["issues"]] == ["other"]


def test_investment_of_two_months_and_of_the_year_so_far(parser: Parser) -> None:
    def scopes(text: str) -> list[str]:
        return [i["scope"] for u in updates(parser, text) for i in u["investment"]]

    assert scopes("钢铁城7、8月份完成投资1800万") == ["unspecified"]
    assert scopes("钢铁城一至二月完成投资2.2亿元") == ["year"]
    assert scopes("钢铁城2022年共完成投资8.3亿元") == ["year"]


def test_filed_elsewhere_records_nothing(parser: Parser) -> None:
    assert updates(parser, "钢铁城和硅能的督办事项都已经回复到系统里了", "罗军") == []


def test_a_replys_heading_is_no_problem(parser: Parser) -> None:
    def issues(text: str) -> list[str]:
        return [i["category"] for u in updates(parser, text) for i in u["issues"]]

    assert issues("关于钢铁城近期需协调解决问题的回复：暂无需协调事项，项目按计划推进。") == []
    assert issues("钢铁城选址问题督办回复：计划5月摘牌。") == []
    # a problem pointed out, then dealt with in the same sentence
    text = "钢铁城市领导指出的进度滞后问题，已督促施工单位增加两个班组，目前已追回工期。"
    assert issues(text) == []
