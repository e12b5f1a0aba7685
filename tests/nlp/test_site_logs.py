"""Site logs pasted into the chat (施工日志, 日报): the heading names the project, parts of the
works are not other projects, and the site's own words for a stop (our own sentences)."""

from __future__ import annotations

import datetime as dt

from nlp.parser import Parser

SENT = dt.date(2023, 6, 21)


def updates(parser: Parser, text: str, sender: str | None = None) -> list[dict]:
    return parser.parse(text, sender=sender, sent=SENT).to_json()["updates"]


def issues(parser: Parser, text: str, sender: str | None = None) -> list[tuple[str, str]]:
    return [(u["project"], i["category"]) for u in updates(parser, text, sender)
            for i in u["issues"]]


def test_a_log_heading_names_its_project(parser: Parser) -> None:
    text = "北斗基地日报：天气 晴；出勤90人；研发楼主体施工至四层"
    assert [u["project"] for u in updates(parser, text)] == ["P022"]


def test_parts_of_the_works_are_not_other_projects(parser: Parser) -> None:
    # 荷塘 and 大桥 are fragments of other projects' names; here they name this one's parts.
    text = "扩容东线：湘江特大桥主墩承台今天完成，荷塘互通箱梁架设完成，本月完成投资1亿元"
    assert [u["project"] for u in updates(parser, text)] == ["P001"]


def test_the_same_as_yesterday_from_the_contact_of_one_project(parser: Parser) -> None:
    assert [u["project"] for u in updates(parser, "今日同上，无新增情况。", "邱实")] == ["P032"]
    assert [u["project"] for u in updates(parser, "今日无变化", "邱实")] == ["P032"]


def test_a_site_stopped_by_the_weather(parser: Parser) -> None:
    assert issues(parser, "钢铁城今日冻雨，高空作业全部停止") == [("P007", "construction")]
    assert issues(parser, "钢铁城钢筋价格涨得厉害，施工单位要求调差") == [("P007", "construction")]


def test_an_inspection_finding_nothing_is_none(parser: Parser) -> None:
    assert issues(parser, "钢铁城今日开展安全大检查，未发现重大隐患") == []


def test_money_owed_for_materials_is_funding(parser: Parser) -> None:
    assert issues(parser, "钢铁城7月进度款还没拨付，材料款压力较大") == [("P007", "funding")]


def test_holidays_as_deadlines(parser: Parser) -> None:
    def events(text: str, sent: dt.date) -> list[tuple[str, str, str | None]]:
        found = parser.parse(text, sender=None, sent=sent).to_json()["updates"]
        return [(e["milestone"], e["status"], e["date"]) for u in found for e in u["events"]]

    # 春节前 is the eve of the lunar new year (2024-02-10), 国庆前 the day before 10-01.
    assert events("钢铁城计划春节前主体封顶", dt.date(2024, 1, 15)) == [
        ("topped_out", "planned", "2024-02-09")]
    assert events("钢铁城计划国庆前试生产", dt.date(2023, 9, 1)) == [
        ("operating", "planned", "2023-09-30")]
    # after a holiday: planned, on no day said
    assert events("钢铁城竣工验收国庆后组织", dt.date(2023, 9, 1)) == [
        ("accepted", "planned", None)]


def test_a_building_number_is_no_day(parser: Parser) -> None:
    found = updates(parser, "钢铁城1号楼主体封顶")
    assert [(e["milestone"], e["date"]) for u in found for e in u["events"]] == [
        ("topped_out", None)]


def test_site_jargon_is_no_milestone(parser: Parser) -> None:
    # 商砼车 sounds like 通车; 具备通车条件 is ready for it; 进场验收 is of materials
    for text in ("钢铁城北侧道路未贯通，商砼车要绕行", "钢铁城已具备通车条件",
                 "钢铁城保温材料已进场验收"):
        assert all(not u["events"] for u in updates(parser, text)), text
