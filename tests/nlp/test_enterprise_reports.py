"""Reports from the enterprises behind industrial projects: trial production, figures that are
not investment, shares that are not work, what happens after a milestone (our own sentences)."""

from __future__ import annotations

import datetime as dt

from nlp.parser import Parser

SENT = dt.date(2023, 9, 6)


def one(parser: Parser, text: str) -> dict:
    found = parser.parse(text, sender=None, sent=SENT).to_json()["updates"]
    assert len(found) == 1, found
    return found[0]


def test_trial_production_said_short(parser: Parser) -> None:
    assert [(e["milestone"], e["status"], e["date"]) for e in one(
        parser, "钢铁城9月3日点火试产")["events"]] == [("operating", "done", "2023-09-03")]


def test_money_that_is_not_investment(parser: Parser) -> None:
    update = one(parser, "钢铁城订单金额累计4.2亿元，8月产值1.1亿元")
    assert update["investment"] == []


def test_shares_that_are_not_work(parser: Parser) -> None:
    assert one(parser, "钢铁城良品率从80%提到93%")["progress_pct"] is None
    assert one(parser, "钢铁城设备已到厂80%")["progress_pct"] is None
    assert one(parser, "钢铁城主体完成80%")["progress_pct"] == 80


def test_after_a_milestone_is_no_event(parser: Parser) -> None:
    assert one(parser, "钢铁城建成后可新增产能800组，今天破土动工")["events"] == [
        {"milestone": "started", "status": "done", "date": "2023-09-06"}]
    assert one(parser, "钢铁城投产后员工缺口较大，还缺280人")["events"] == []


def test_other_companies_are_not_the_project(parser: Parser) -> None:
    assert one(parser, "钢铁城园区已签约入驻企业14家，已投产企业5家，主体完成60%")["events"] == []


def test_an_application_for_acceptance_is_no_event(parser: Parser) -> None:
    assert [e["milestone"] for e in one(
        parser, "钢铁城今天全面完工，下一步申请竣工验收")["events"]] == ["completed"]


def test_last_year_and_the_years_plan(parser: Parser) -> None:
    sent = dt.date(2023, 1, 9)
    found = parser.parse("钢铁城去年完成投资3.2亿元。今年计划投资2.5亿元，8月份投产。",
                         sender=None, sent=sent).to_json()["updates"][0]
    assert [(i["scope"], i["wan_yuan"]) for i in found["investment"]] == [("year", 32000)]
    assert [(e["milestone"], e["status"], e["date"]) for e in found["events"]] == [
        ("operating", "planned", "2023-08-31")]


def test_a_periods_investment_said_short(parser: Parser) -> None:
    def scopes(text: str) -> list[tuple[str, float]]:
        return [(i["scope"], float(i["wan_yuan"])) for i in one(parser, text)["investment"]]

    assert scopes("钢铁城4月投资3500万") == [("month", 3500)]
    assert scopes("钢铁城一季度投资1.9亿") == [("quarter", 19000)]
    assert scopes("钢铁城一季度计划投资1.9亿") == []


def test_after_the_holiday_already_started_is_no_plan(parser: Parser) -> None:
    statuses = [e["status"] for e in one(parser, "钢铁城节后2月6号已开工")["events"]]
    assert "planned" not in statuses


def test_which_projects_is_no_event(parser: Parser) -> None:
    found = parser.parse("已建成投产的项目不用再报了", sender="马骏", sent=SENT).to_json()
    assert all(not u["events"] for u in found["updates"])
