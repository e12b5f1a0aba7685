"""Telegraphic shorthand thumbed into the chat: ticks, 投 for 完成投资, 开累/年累, N成, one
space between statements (our own sentences, not corpus lines)."""

from __future__ import annotations

import datetime as dt

from nlp.parser import Parser

SENT = dt.date(2023, 8, 14)


def one(parser: Parser, text: str, sender: str | None = None) -> dict:
    found = parser.parse(text, sender=sender, sent=SENT).to_json()["updates"]
    assert len(found) == 1, found
    return found[0]


def test_a_tick_is_done_and_the_day_after_it_its_date(parser: Parser) -> None:
    update = one(parser, "钢铁城 2#厂房 封顶✓ 8.12 ；本月投3000万")
    assert [(e["milestone"], e["status"], e["date"]) for e in update["events"]] == [
        ("topped_out", "done", "2023-08-12")]
    assert [(i["scope"], i["wan_yuan"]) for i in update["investment"]] == [("month", 3000)]


def test_shorthand_scopes(parser: Parser) -> None:
    update = one(parser, "钢铁城 10月投1.05亿 年累12.6亿 开累60.2亿")
    assert sorted((i["scope"], i["wan_yuan"]) for i in update["investment"]) == [
        ("cumulative", 602000), ("month", 10500), ("year", 126000)]


def test_shares_in_shorthand(parser: Parser) -> None:
    assert one(parser, "钢铁城 形象72% 本月投9000万")["progress_pct"] == 72
    assert one(parser, "钢铁城 装修6成")["progress_pct"] == 60
    assert one(parser, "钢铁城 形象 85→92%")["progress_pct"] == 92
    assert one(parser, "钢铁城 16成新")["progress_pct"] is None


def test_shorthand_problems(parser: Parser) -> None:
    assert [i["category"] for i in one(parser, "钢铁城：环评还卡着")["issues"]] == ["approval"]
    assert [i["category"] for i in one(parser, "钢铁城 征地剩12户 待协调")["issues"]] == ["land"]


def test_nothing_from_the_contact_of_one_project(parser: Parser) -> None:
    assert one(parser, "本周 无", "邱实")["project"] == "P032"


def test_a_short_name_by_its_first_and_last_character(parser: Parser) -> None:
    # 钢铁城 said 钢城: a fragment, so a name only where something is said of it
    assert one(parser, "钢城：本月投1.1亿")["project"] == "P007"
    assert parser.parse("钢城的人", sender=None, sent=SENT).to_json()["updates"] == []


def test_shorthand_problems_said_in_a_word_or_two(parser: Parser) -> None:
    def cats(text: str) -> list[str]:
        return [i["category"] for i in one(parser, text)["issues"]]

    assert cats("钢铁城 市政雨污管网 未接通") == ["utilities"]
    assert cats("钢铁城 等规划许可") == ["approval"]
    assert cats("钢铁城 设备厂家延期交货") == ["construction"]
    assert cats("钢铁城 年底工人返乡 人手紧") == ["construction"]
    assert parser.parse("在开会，等下回你", sender="邱实", sent=SENT).to_json()["updates"] == []
