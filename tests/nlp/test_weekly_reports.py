"""Weekly reports (周报): sections headed 本周完成 / 下周计划 / 存在问题 / 需协调事项, problems said
through their cause, and notices about the reporting itself."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlp.parser import Parser

SENT = dt.date(2023, 12, 22)  # a Friday: 本周 ends after it


def parse(parser: Parser, text: str, sender: str | None = None) -> list[dict]:
    return parser.parse(text, sender=sender, sent=SENT).to_json()["updates"]


def events(parser: Parser, text: str) -> list[tuple[str, str, str | None]]:
    return [(e["milestone"], e["status"], e["date"]) for u in parse(parser, text)
            for e in u["events"]]


def issues(parser: Parser, text: str) -> list[tuple[str | None, str]]:
    return [(u["project"], i["category"]) for u in parse(parser, text) for i in u["issues"]]


# -- sections and the period a report covers -------------------------------------------------

@pytest.mark.parametrize("text", [
    "钢铁城周报：本周完成1#厂房主体封顶，形象进度约60%。",
    "钢铁城本周已主体封顶。",
    "钢铁城：本周共完成2#楼主体封顶。下周计划：二次结构砌筑。",
])
def test_done_this_week_is_done_not_a_plan_for_sunday(parser: Parser, text: str) -> None:
    assert events(parser, text) == [("topped_out", "done", None)]


def test_the_day_in_brackets_dates_what_was_done_this_week(parser: Parser) -> None:
    text = "钢铁城：本周完成研发楼主体封顶（12月19日），实验楼主体结构完成80%。"
    assert events(parser, text) == [("topped_out", "done", "2023-12-19")]


@pytest.mark.parametrize("text", [
    "钢铁城本周能完成主体封顶。",  # a forecast
    "钢铁城确保本周完成主体封顶。",
    "钢铁城本周内完成主体封顶。",
])
def test_this_week_as_a_deadline_stays_a_plan(parser: Parser, text: str) -> None:
    assert [s for _m, s, _d in events(parser, text)] == ["planned"]


def test_a_plan_heading_inside_a_line_makes_its_items_plans(parser: Parser) -> None:
    text = "钢铁城周报：本周完成1#厂房主体封顶。下周计划：2#厂房主体封顶。存在问题：无。"
    assert sorted(s for _m, s, _d in events(parser, text)) == ["done", "planned"]


def test_the_done_heading_ends_a_plan_section(parser: Parser) -> None:
    text = "钢铁城周报\n下周计划：\n1、承台施工\n本周完成：\n1、2#厂房主体封顶"
    assert events(parser, text) == [("topped_out", "done", None)]


# -- what a milestone word names ----------------------------------------------------------------

@pytest.mark.parametrize("part", ["幕墙", "装修", "外墙", "钢结构", "屋面", "运动场", "教学楼"])
def test_a_trade_finished_is_not_the_project_completed(parser: Parser, part: str) -> None:
    assert events(parser, f"火车站改扩建工程计划9月底前{part}完工。") == []


def test_an_announcement_is_not_the_land_taken(parser: Parser) -> None:
    found = events(parser, "松井汽车涂料：土地出让公告已发布，预计明年1月中旬摘牌。")
    assert found == [("land", "planned", "2024-01-20")]


def test_a_plan_said_after_the_step_dates_it(parser: Parser) -> None:
    found = events(parser, "博迈医疗基地：下一步办理竣工验收，计划明年4月底前完成。")
    assert found == [("accepted", "planned", "2024-04-30")]


# -- problem sections ---------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "生物医药产业园本周：\n本周完成 3#楼幕墙完成约45%；\n下周计划 室内装修；\n"
    "存在问题 无；\n需协调事项 无。",
    "钢铁城周报\n存在问题 暂无\n需协调事项 无",
])
def test_a_section_saying_none_is_no_issue(parser: Parser, text: str) -> None:
    assert issues(parser, text) == []


def test_a_label_line_then_items_is_a_section(parser: Parser) -> None:
    text = "广寒坪抽水蓄能周报：\n存在问题：\n1、探洞环评手续仍在报建；\n2、专项债资金未拨付。"
    assert sorted(c for _p, c in issues(parser, text)) == ["approval", "funding"]


def test_a_label_alone_on_its_line_is_no_issue_itself(parser: Parser) -> None:
    text = "硬质材料产业园：\n三、存在问题\n（一）7#厂房桩基施工队伍人员不足。"
    found = parse(parser, text)
    assert [[i["text"] for i in u["issues"]] for u in found] == [["7#厂房桩基施工队伍人员不足"]]


def test_a_closing_request_naming_a_project_is_that_projects(parser: Parser) -> None:
    text = ("【周报】\n一、硬质材料产业园：3#厂房主体封顶。\n二、三一硅能：计划12月28日试生产。\n"
            "需协调事项：硬质材料产业园二期用地尚未完成征拆。")
    found = {u["project"]: [i["category"] for i in u["issues"]] for u in parse(parser, text)}
    assert found == {"P002": ["land"], "P011": []}


def test_a_problem_and_the_request_under_its_own_label_are_two(parser: Parser) -> None:
    text = ("风电齿轮箱项目周报\n存在问题：施工用电尚未接入；\n需协调事项：请协调供电局尽快接电。")
    found = [i["text"] for u in parse(parser, text) for i in u["issues"]]
    assert found == ["施工用电尚未接入", "请协调供电局尽快接电"]


def test_the_project_and_generic_words_name_no_second_project(parser: Parser) -> None:
    text = "功率半导体配套产业园年度总结\n三、存在问题\n项目配套道路尚未移交，请区里协调。"
    assert issues(parser, text) == [("P019", "utilities")]


# -- problems said through their cause ------------------------------------------------------------

@pytest.mark.parametrize(("text", "category"), [
    ("铁东路新建工程：雨污水管网因电力迁改未完成而停工。", "utilities"),
    ("钢铁城由于征地补偿未谈妥导致停工。", "land"),
    ("博羿产业基地：原定10月底拿地，因土地出让手续未办完，尚未摘牌。", "approval"),
    ("硬质材料产业园：封顶推迟到3月15日，原因是钢筋供应不足。", "construction"),
    ("功率半导体配套产业园：项目贷款审批尚未下来，资金缺口约5000万元。", "funding"),
])
def test_the_cause_decides_the_category(parser: Parser, text: str, category: str) -> None:
    assert [c for _p, c in issues(parser, text)] == [category]


@pytest.mark.parametrize("text", [
    "博迈医疗基地本周无变化，节前停工。",
    "钢铁城春节放假停工。",
    "道岔二期国庆期间停工。",
])
def test_a_stop_for_a_holiday_is_no_problem(parser: Parser, text: str) -> None:
    assert issues(parser, text) == []


# -- notices about the reporting ----------------------------------------------------------------

_WHO = st.sampled_from(["", "@郑爽 ", "刘洋，", "各位，"])
_PROJECT = st.sampled_from(["文体中心", "高速扩容", "硬质材料产业园", "钢铁城", ""])
_WHEN = st.sampled_from(["", "本周", "这周", "上周", "本月", "元旦假期"])
_REPORT = st.sampled_from(["周报", "月报", "报表"])
_STATE = st.sampled_from(["还没交", "还没收到", "未报", "暂停一次", "没有提交", "一直没报",
                          "数据以陈晨报的为准"])
_TAIL = st.sampled_from(["", "。", "，请尽快。", "，1月5日恢复。", "！"])


@settings(max_examples=150, deadline=None)
@given(who=_WHO, p=_PROJECT, when=_WHEN, report=_REPORT, state=_STATE, tail=_TAIL)
def test_a_notice_about_the_reporting_records_nothing(parser: Parser, who: str, p: str,
                                                      when: str, report: str, state: str,
                                                      tail: str) -> None:
    text = who + p + when + report + state + tail
    assert parse(parser, text, sender="林晓") == [], text


def test_a_report_that_was_handed_in_still_reports(parser: Parser) -> None:
    found = parse(parser, "钢铁城周报已按时上报，本月完成投资1亿元。")
    assert [u["investment"] for u in found] == [[{"scope": "month", "wan_yuan": 10000}]]


def test_the_figures_beside_a_notice_still_count(parser: Parser) -> None:
    found = parse(parser, "钢铁城周报数据以冯军报的为准，本月完成投资1亿元。")
    assert [u["investment"] for u in found] == [[{"scope": "month", "wan_yuan": 10000}]]


# -- a step on course, corrections, periods --------------------------------------------------------

def test_a_step_under_way_with_its_expected_date_is_no_problem(parser: Parser) -> None:
    text = "博羿产业基地：12月20日签约，目前正在办理土地手续，预计明年1月底前拿地。"
    assert issues(parser, text) == []


def test_a_step_under_way_that_holds_up_another_milestone_is_one(parser: Parser) -> None:
    text = "博羿产业基地：施工许可证还在办，力争明年1月开工。"
    assert [c for _p, c in issues(parser, text)] == ["approval"]


@pytest.mark.parametrize(("text", "share"), [
    ("更正：上周报送的钢铁城形象进度应为65%，不是56%。", 65),
    ("更正：钢铁城形象进度56%应为65%。", 65),
])
def test_a_written_correction_keeps_the_corrected_share(parser: Parser, text: str,
                                                         share: int) -> None:
    assert [u["progress_pct"] for u in parse(parser, text)] == [share]


def test_a_written_correction_keeps_the_corrected_figure(parser: Parser) -> None:
    text = "更正：上条周报中“本月完成投资1.1亿元”应为“本月完成投资1.3亿元”，其余不变。"
    found = parse(parser, text, sender="孙浩")
    assert [(u["project"], u["investment"]) for u in found] == [
        ("P004", [{"scope": "month", "wan_yuan": 13000}])]


def test_so_far_in_the_quarter_is_the_quarter(parser: Parser) -> None:
    text = "功率半导体配套产业园：下周计划A栋主体封顶；本季度截至目前完成投资1500万元。"
    assert [u["investment"] for u in parse(parser, text)] == [
        [{"scope": "quarter", "wan_yuan": 1500}]]


def test_a_period_alone_labels_its_figure(parser: Parser) -> None:
    text = "道岔二期完成投资（单位：万元）\n本月：2600\n本年累计：8900\n开工以来累计：19500"
    assert [(i["scope"], i["wan_yuan"]) for u in parse(parser, text) for i in u["investment"]] \
        == [("month", 2600), ("year", 8900), ("cumulative", 19500)]


def test_a_step_still_under_way_is_late_even_with_its_expected_date(parser: Parser) -> None:
    text = "松井项目手续还在办，预计明年1月能拿到施工许可证。"
    assert [c for _p, c in issues(parser, text)] == ["approval"]


def test_a_deadline_before_a_part_is_a_plan_not_done(parser: Parser) -> None:
    found = events(parser, "钢铁城 本月底前东广场完工 本月投资3500万")
    assert all(s != "done" for _m, s, _d in found)


@pytest.mark.parametrize("text", ["火车站改扩建：下步计划：东广场12月底完工。",
                                  "火车站改扩建：东广场已完工并投入使用。"])
def test_a_plaza_finished_is_a_part(parser: Parser, text: str) -> None:
    assert all(m != "completed" for m, _s, _d in events(parser, text))


def test_the_project_finished_as_a_whole_is_completed(parser: Parser) -> None:
    found = events(parser, "清水塘大桥项目已全部完成，后续不再填报月报。")
    assert found == [("completed", "done", None)]


def test_a_dashed_form_line_under_a_label(parser: Parser) -> None:
    text = "铂威负极材料\n——本月完成投资：5800万元\n——存在问题：二期贷款尚未审批通过"
    found = [(i["category"], i["text"]) for u in parse(parser, text) for i in u["issues"]]
    assert found == [("funding", "二期贷款尚未审批通过")]


@pytest.mark.parametrize("text", ["康宁物流中心目前整体完成约95%，消防验收正在办理。",
                                  "文体中心方案设计已完成，正在办理用地规划许可，尚未摘牌。"])
def test_a_step_in_progress_is_no_problem_by_itself(parser: Parser, text: str) -> None:
    assert issues(parser, text) == []
