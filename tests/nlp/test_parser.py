"""End-to-end parsing on our own sentences (ledger: tests/fixtures/ledger.csv)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from nlp.parser import Parser

SENT = dt.date(2023, 5, 10)  # a Wednesday


def parse(parser: Parser, text: str, sender: str | None = None,
          sent: dt.date = SENT) -> list[dict[str, Any]]:
    return parser.parse(text, sender=sender, sent=sent).to_json()["updates"]


def events(parser: Parser, text: str, sender: str | None = None) -> list[tuple[Any, ...]]:
    return [(e["milestone"], e["status"], e["date"]) for u in parse(parser, text, sender)
            for e in u["events"]]


# -- projects ------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "code"), [
    ("三一集团产业基地本周正常施工", "P004"),      # full name
    ("三一产业基地本周正常施工", "P004"),          # short name
    ("三一产业机地本周正常施工", "P004"),          # one wrong character
    ("清水塘大侨本周正常施工", "P010"),
    ("华瑞精密二期本周正常施工", "P014"),
    ("道岔二期本周正常施工", "P020"),              # bracketed part of the full name
    ("风电齿轮箱项目本周正常施工", "P023"),
    ("齿轮箱项目本周正常施工", "P023"),            # partial name
    ("东线扩容本周正常施工", "P001"),
    ("永磁项目本周正常施工", "P008"),
    ("三一產業基地本週正常施工", "P004"),          # traditional characters
    ("湖南铂威负极材料项目本周正常施工", "P024"),
])
def test_project_names(parser: Parser, text: str, code: str) -> None:
    assert [u["project"] for u in parse(parser, text)] == [code]


def test_ambiguous_name_has_no_project_but_candidates(parser: Parser) -> None:
    result = parser.parse("功率半导体产业园本月完成投资500万元", sender=None, sent=SENT)
    [update] = result.updates
    assert update.project is None
    assert sorted(update.candidates) == ["P019", "P021"]


def test_ambiguous_name_from_a_contact_of_one_candidate(parser: Parser) -> None:
    assert [u["project"] for u in parse(parser, "功率半导体产业园今天开工", "袁野")] == ["P019"]


def test_place_is_not_a_project(parser: Parser) -> None:
    assert parse(parser, "荷塘区召开重点项目推进会") == []


def test_lone_fragment_names_a_project_only_in_a_report(parser: Parser) -> None:
    assert parse(parser, "明天去火车站接领导") == []
    assert [u["project"] for u in parse(parser, "火车站本月完成投资1亿元")] == ["P030"]
    updates = parse(parser, "明天去火车站接领导，钢铁城今天封顶")
    assert [u["project"] for u in updates] == ["P007"]


def test_several_projects_in_order(parser: Parser) -> None:
    text = "①钢铁城：形象进度62%；②三一硅能：本月完成投资8000万元；③文体中心：计划下周三封顶"
    updates = parse(parser, text)
    assert [u["project"] for u in updates] == ["P007", "P011", "P006"]
    assert updates[0]["progress_pct"] == 62
    assert updates[1]["investment"] == [{"scope": "month", "wan_yuan": 8000}]
    assert updates[2]["events"] == [
        {"milestone": "topped_out", "status": "planned", "date": "2023-05-17"}]


def test_facts_said_of_two_projects_go_to_both(parser: Parser) -> None:
    updates = parse(parser, "三一产业基地和钢铁城今天均已复工复产，昨天均已封顶")
    assert [u["project"] for u in updates] == ["P004", "P007"]
    assert all(u["events"][0]["milestone"] == "topped_out" for u in updates)


def test_find_projects(parser: Parser) -> None:
    assert parser.find_projects("三一产业基地") == ["P004"]
    assert parser.find_projects("清水塘大侨") == ["P010"]
    assert parser.find_projects("道岔二期") == ["P020"]
    assert sorted(parser.find_projects("功率半导体产业园")) == ["P019", "P021"]
    assert len(parser.find_projects("三一")) > 1
    assert parser.find_projects("") == []


# -- who the update is for -----------------------------------------------------------------
def test_sender_with_one_project(parser: Parser) -> None:
    assert [u["project"] for u in parse(parser, "主体今天封顶了", "邱实")] == ["P032"]


def test_sender_with_two_projects_gives_none_with_candidates(parser: Parser) -> None:
    [update] = parser.parse("主体今天封顶了", sender="罗军", sent=SENT).updates
    assert update.project is None
    assert sorted(update.candidates) == ["P007", "P011"]


@pytest.mark.parametrize("text", [
    "收到", "好的，谢谢", "请问月报怎么填？", "清水塘大桥什么时候验收？",
    "通知：请各项目周五前报送调度表。", "各位领导早上好！", "", "   ",
])
def test_nothing_to_record(parser: Parser, text: str) -> None:
    assert parse(parser, text, "高远") == []


def test_naming_a_project_is_an_update(parser: Parser) -> None:
    assert parse(parser, "雪峰岭学校本周无新进展") == [{
        "project": "P032", "events": [], "progress_pct": None, "progress_part": None,
        "investment": [],
        "issues": []}]


# -- milestones ----------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), [
    ("钢铁城今天主体封顶", [("topped_out", "done", "2023-05-10")]),
    ("钢铁城已经开工", [("started", "done", None)]),
    ("钢铁城计划下周三开工", [("started", "planned", "2023-05-17")]),
    ("钢铁城力争月底前取得施工许可证", [("permit", "planned", "2023-05-31")]),
    ("钢铁城还没有开工", [("started", "not_done", None)]),
    ("钢铁城施工许可证尚未办下来", [("permit", "not_done", None)]),
    ("钢铁城没有按计划摘牌，推迟到下月初", [("land", "not_done", None),
                                           ("land", "planned", "2023-06-10")]),
    ("钢铁城昨天通过竣工验收", [("accepted", "done", "2023-05-09")]),
    ("钢铁城预计年底竣工投产", [("completed", "planned", "2023-12-31"),
                               ("operating", "planned", "2023-12-31")]),
    ("钢铁城投资协议前天正式签订", [("signed", "done", "2023-05-08")]),
    ("钢铁城开工以来完成投资30亿元", []),
    ("钢铁城还有5户未签征收协议", []),
    ("钢铁城4月18日已全部完工", [("completed", "done", "2023-04-18")]),
    ("钢铁城二季度试生产", [("operating", "planned", "2023-06-30")]),
    ("钢铁城已于上周五正式开工", [("started", "done", "2023-05-05")]),
    ("钢铁城暑假前完工", [("completed", "planned", None)]),
    ("钢铁城施工许可证正在办理", [("permit", "not_done", None)]),
    ("钢铁城与供电公司签订供电协议", []),
    ("钢铁城力争国庆前投产", [("operating", "planned", "2023-09-30")]),  # the eve: a deadline
])
def test_events(parser: Parser, text: str, expected: list[tuple[Any, ...]]) -> None:
    assert events(parser, text) == expected


# -- investment and progress ---------------------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), [
    ("钢铁城本月完成投资1.5亿元", [("month", 15000)]),
    ("钢铁城这个月完成投资900万元", [("month", 900)]),
    ("钢铁城二季度完成投资2亿元", [("quarter", 20000)]),
    ("钢铁城今年以来完成投资5亿元", [("year", 50000)]),
    ("钢铁城开工以来累计完成投资二十亿元", [("cumulative", 200000)]),
    ("钢铁城完成投资3000万元", [("unspecified", 3000)]),
    ("钢铁城总投资60亿元，今年计划投资18亿元", []),
    ("钢铁城资金缺口约2亿元", []),
    ("钢铁城本年度完成投资9亿元，年度计划完成率50%", [("year", 90000)]),
    ("钢铁城下月力争完成投资1亿元", []),
    ("钢铁城1-6月完成投资9.5亿元", [("year", 95000)]),
    ("钢铁城二季度计划完成投资4亿元，实际完成4.3亿元", [("quarter", 43000)]),
    ("钢铁城建成5万吨生产线，完成投资3亿元", [("unspecified", 30000)]),
    ("钢铁城本月完成产值5000万元", []),
    ("钢铁城今年完成投资9亿元，其中二季度完成4亿元", [("year", 90000), ("quarter", 40000)]),
])
def test_investment(parser: Parser, text: str, expected: list[tuple[str, int]]) -> None:
    [update] = parse(parser, text)
    assert [(i["scope"], i["wan_yuan"]) for i in update["investment"]] == expected


@pytest.mark.parametrize(("text", "pct"), [
    ("钢铁城形象进度72%", 72), ("钢铁城整体进度约百分之四十", 40), ("钢铁城形象进度过半", 50),
    ("钢铁城形象进度三分之二", 66.67), ("钢铁城已有九成工人返岗", None),
    ("钢铁城年度计划完成率93%", None), ("钢铁城进度款已支付80%", None),
])
def test_progress(parser: Parser, text: str, pct: float | None) -> None:
    [update] = parse(parser, text)
    assert update["progress_pct"] == pct


# -- issues --------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "categories"), [
    ("钢铁城还有12亩用地没有交付，请协调", ["land"]),
    ("钢铁城资金链紧张，希望帮忙对接银行", ["funding"]),
    ("钢铁城环评批复还没拿到", ["approval"]),
    ("钢铁城厂区供电线路还没接通", ["utilities"]),
    ("钢铁城因连续暴雨停工三天", ["construction"]),
    ("钢铁城员工子女入学难，希望教育部门协调", ["other"]),
    ("钢铁城征地还剩50亩没有完成；规划许可还在办理，进度偏慢", ["land", "approval"]),
    ("钢铁城暂无困难", []),
    ("钢铁城没有遇到需要协调的问题", []),
    ("钢铁城尚未开工", []),
    ("钢铁城还剩最后一跨未合龙", []),
    ("钢铁城征地工作进展顺利", []),
    ("钢铁城征拆问题已经解决", []),
    ("钢铁城资金已到位，但用地指标还没落实", ["land"]),
    ("钢铁城土方施工受雨天影响较大", ["construction"]),
])
def test_issues(parser: Parser, text: str, categories: list[str]) -> None:
    [update] = parse(parser, text)
    assert [i["category"] for i in update["issues"]] == categories


def test_issue_text_is_the_clause(parser: Parser) -> None:
    [update] = parse(parser, "钢铁城今天封顶，天然气管道还没接通")
    assert update["issues"] == [{"category": "utilities", "text": "天然气管道还没接通"}]


def test_result_types(parser: Parser) -> None:
    [update] = parser.parse("钢铁城本月完成投资1.5亿元", sender=None, sent=SENT).updates
    assert update.investment[0].wan_yuan == Decimal("15000")


def test_partial_names_without_short_names() -> None:
    """A ledger with full names only: fragments still find their project."""
    from nlp.types import ProjectEntry

    parser = Parser([
        ProjectEntry("A", "三一集团产业基地", contacts=("甲",)),
        ProjectEntry("B", "三一智慧钢铁城", contacts=("甲",)),
        ProjectEntry("C", "春晓数字健康产业园"),
        ProjectEntry("D", "生物医药产业园2.1期"),
    ])
    updates = parser.parse("三一产业基地和钢铁城本周均无新情况；数字健康产业园今天开工",
                           sender=None, sent=SENT).updates
    assert [u.project for u in updates] == ["A", "B", "C"]


# -- facts said of several projects and progress without the word 进度 -----------------------
def test_issue_of_coordinated_projects_belongs_to_each(parser: Parser) -> None:
    updates = parse(parser, "雪峰岭学校和博迈医疗基地的用电报装迟迟批不下来")
    assert [u["project"] for u in updates] == ["P032", "P025"]
    assert [[i["category"] for i in u["issues"]] for u in updates] == [["utilities"]] * 2
    assert updates[1]["issues"][0]["text"] == "用电报装迟迟批不下来"


def test_issue_of_the_second_project_stays_with_it(parser: Parser) -> None:
    updates = parse(parser, "雪峰岭学校已开工，博迈医疗基地征地还有两户没签")
    assert [len(u["issues"]) for u in updates] == [0, 1]


@pytest.mark.parametrize("text", ["雪峰岭学校春节期间未停工", "雪峰岭学校一天也没停工，主体已封顶"])
def test_work_that_did_not_stop_is_no_issue(parser: Parser, text: str) -> None:
    assert all(u["issues"] == [] for u in parse(parser, text))


@pytest.mark.parametrize(("text", "pct"), [
    ("雪峰岭学校整体完成了九成", 90),
    ("雪峰岭学校工程总体完成65%", 65),
    ("雪峰岭学校主体已完成七成", 70),
    ("雪峰岭学校目前完成85%", 85),
    ("雪峰岭学校现已完成约六成", 60),
])
def test_share_of_the_whole_work_is_progress(parser: Parser, text: str, pct: float) -> None:
    [update] = parse(parser, text)
    assert update["progress_pct"] == pct


@pytest.mark.parametrize("text", ["雪峰岭学校年度计划完成了80%，今天封顶",
                                  "雪峰岭学校已完成投资的80%，今天封顶"])
def test_share_of_a_plan_is_not_progress(parser: Parser, text: str) -> None:
    [update] = parse(parser, text)
    assert update["progress_pct"] is None


def test_milestone_a_problem_holds_up_is_not_reported(parser: Parser) -> None:
    [update] = parse(parser, "雪峰岭学校的施工许可证到现在还没拿到，影响开工，请住建局帮忙催一下")
    assert [(e["milestone"], e["status"]) for e in update["events"]] == [("permit", "not_done")]
    assert [i["category"] for i in update["issues"]] == ["approval"]


def test_category_is_not_borrowed_across_list_items(parser: Parser) -> None:
    text = "1、雪峰岭学校：施工许可证已取得；2、博迈医疗基地：企业希望帮助对接下游客户"
    updates = parse(parser, text)
    assert [[i["category"] for i in u["issues"]] for u in updates] == [[], ["other"]]


@pytest.mark.parametrize("text", ["雪峰岭学校今天开工，降雨影响不大",
                                  "雪峰岭学校主体封顶，未受天气影响"])
def test_no_effect_is_no_issue(parser: Parser, text: str) -> None:
    assert all(u["issues"] == [] for u in parse(parser, text))


# -- report forms and follow-ups ----------------------------------------------------------------
def test_request_to_report_records_nothing(parser: Parser) -> None:
    assert parse(parser, "@孙浩 雪峰岭学校这个月的投资数据麻烦今天报一下") == []


def test_form_section_saying_none_is_no_issue(parser: Parser) -> None:
    text = ("雪峰岭学校周报\n本周工作：\n1. 主体封顶；\n下周计划：\n1. 力争月底竣工。\n"
            "存在问题：无。")
    [update] = parse(parser, text)
    assert update["issues"] == []
    assert [(e["milestone"], e["status"]) for e in update["events"]] == [
        ("topped_out", "done"), ("completed", "planned")]


def test_casual_no_problem_is_no_issue(parser: Parser) -> None:
    [update] = parse(parser, "雪峰岭学校桩基施工中，没啥问题")
    assert update["issues"] == []


def test_expected_date_for_the_permit_being_applied_for(parser: Parser) -> None:
    # Under way with a plan: the plan is the report (two independent labellers agreed).
    assert events(parser, "雪峰岭学校正在办理施工许可证，预计6月中旬取得") == [
        ("permit", "planned", "2023-06-20")]


def test_part_of_a_completed_figure(parser: Parser) -> None:
    [update] = parse(parser, "雪峰岭学校本季度完成投资1.8亿元，其中本月6000万元")
    assert update["investment"] == [{"scope": "quarter", "wan_yuan": 18000},
                                    {"scope": "month", "wan_yuan": 6000}]


def test_month_dot_day_before_a_deadline(parser: Parser) -> None:
    [update] = parse(parser, "雪峰岭学校计划12.15前完成竣工验收，本月完成投资1.5亿元")
    assert update["events"] == [{"milestone": "accepted", "status": "planned",
                                 "date": "2023-12-15"}]
    assert update["investment"] == [{"scope": "month", "wan_yuan": 15000}]


@pytest.mark.parametrize(("text", "date"), [
    ("雪峰岭学校计划6月底竣工", "2027-06-30"),      # June has passed: next June
    ("雪峰岭学校力争二季度投产", "2027-06-30"),
    ("雪峰岭学校预计3/15封顶", "2027-03-15"),
    ("雪峰岭学校计划12月20日封顶", "2026-12-20"),   # still ahead this year
    ("雪峰岭学校计划2026年6月底竣工", "2026-06-30"),  # the year said is the year meant
    ("雪峰岭学校计划本月底封顶", "2026-11-30"),
])
def test_a_plan_without_a_year_is_never_in_the_past(parser: Parser, text: str,
                                                    date: str) -> None:
    [update] = parse(parser, text, sent=dt.date(2026, 11, 30))
    assert [e["date"] for e in update["events"]] == [date]
    assert [e["status"] for e in update["events"]] == ["planned"]


def test_a_past_month_reported_done_stays_this_year(parser: Parser) -> None:
    [update] = parse(parser, "雪峰岭学校6月已开工", sent=dt.date(2023, 7, 10))
    assert update["events"] == [{"milestone": "started", "status": "done", "date": "2023-06-30"}]


@pytest.mark.parametrize(("name", "codes"), [
    ("三一产业机地", ["P004"]), ("华瑞精密", ["P014"]), ("齿轮箱", ["P023"]),
    ("半导体", ["P019", "P021"]),
    ("火星基地", []),  # shares only the generic 基地 with real projects
])
def test_find_projects_for_a_typed_name(parser: Parser, name: str, codes: list[str]) -> None:
    assert parser.find_projects(name) == codes


# -- from the third and fourth holdout corpora ---------------------------------------------------
def test_thousands_comma_does_not_split_the_clause(parser: Parser) -> None:
    [update] = parse(parser, "雪峰岭学校本月完成投资1,200万元，累计完成投资1.35亿元")
    assert update["investment"] == [{"scope": "month", "wan_yuan": 1200},
                                    {"scope": "cumulative", "wan_yuan": 13500}]


def test_respectively_gives_each_project_its_own_figure(parser: Parser) -> None:
    updates = parse(parser, "雪峰岭学校和博迈医疗基地本月分别完成投资1.5亿元和3000万元")
    assert [u["investment"] for u in updates] == [[{"scope": "month", "wan_yuan": 15000}],
                                                  [{"scope": "month", "wan_yuan": 3000}]]


def test_households_not_signed_is_land_not_the_investment_agreement(parser: Parser) -> None:
    [update] = parse(parser, "雪峰岭学校还有两户拆迁户未签约，影响管网施工")
    assert update["events"] == []
    assert [i["category"] for i in update["issues"]] == ["land"]  # the effect is part of it


@pytest.mark.parametrize(("text", "category"), [
    ("雪峰岭学校劳务人员不足，钢筋工缺口较大", "construction"),
    ("雪峰岭学校因材料涨价，钢结构供应商停止供货，请协调", "construction"),
    ("雪峰岭学校因股东变更，项目推进放缓", "other"),
])
def test_issue_categories_from_wording(parser: Parser, text: str, category: str) -> None:
    [update] = parse(parser, text)
    assert [i["category"] for i in update["issues"]] == [category]


def test_old_plan_and_new_date_in_one_clause(parser: Parser) -> None:
    assert events(parser, "雪峰岭学校原定5月底竣工推迟到6月中旬") == [
        ("completed", "planned", "2023-06-20")]


def test_name_with_one_wrong_character_the_segmenter_split(parser: Parser) -> None:
    assert [u["project"] for u in parse(parser, "雪锋岭学校主体已封顶")] == ["P032"]


def test_a_word_shared_by_three_projects_names_none(parser: Parser) -> None:
    [update] = parse(parser, "三一的项目本月完成投资5000万元")
    assert update["project"] is None


# -- from the fifth holdout corpus ---------------------------------------------------------------
@pytest.mark.parametrize("text", ["雪峰岭学校清表滞后，影响二期标准厂房开工",
                                  "雪峰岭学校配套管网没有接通，影响后续竣工验收"])
def test_a_milestone_a_problem_holds_up_a_few_words_later(parser: Parser, text: str) -> None:
    [update] = parse(parser, text)
    assert update["events"] == [] and len(update["issues"]) == 1


def test_still_going_through_the_procedure_is_not_done(parser: Parser) -> None:
    assert events(parser, "雪峰岭学校还在走土地出让程序，尚未摘牌，预计6月拿地") == [
        ("land", "not_done", None), ("land", "planned", "2023-06-30")]


def test_heat_stopping_work_is_a_construction_issue(parser: Parser) -> None:
    [update] = parse(parser, "雪峰岭学校天气太热，工人中暑了两个，下午暂停露天作业")
    assert [i["category"] for i in update["issues"]] == ["construction"]


def test_completed_figures_with_a_scope_need_not_say_investment(parser: Parser) -> None:
    text = "雪峰岭学校8月完成1.8亿元，1-8月累计完成12.4亿元，开工以来累计完成70.2亿元"
    [update] = parse(parser, text)
    assert update["investment"] == [{"scope": "month", "wan_yuan": 18000},
                                    {"scope": "year", "wan_yuan": 124000},
                                    {"scope": "cumulative", "wan_yuan": 702000}]


# -- from the sixth and seventh holdout corpora (traps; report forms) ------------------------------
@pytest.mark.parametrize("text", [
    "请雪峰岭学校、博迈医疗基地、汉德车桥二期本周五前报送三季度投资完成情况。",
    "收到，马上核实雪峰岭学校投产时间后回复。",
])
def test_requests_and_replies_record_nothing(parser: Parser, text: str) -> None:
    assert parse(parser, text) == []


@pytest.mark.parametrize("text", ["雪峰岭学校正在整理竣工资料，计划6月20日组织竣工验收",
                                  "雪峰岭学校开业筹备工作正在进行，计划6月20日组织竣工验收",
                                  "雪峰岭学校消防验收手续正在办理，计划6月20日组织竣工验收"])
def test_documents_preparations_and_special_inspections_are_not_events(
    parser: Parser, text: str,
) -> None:
    assert events(parser, text) == [("accepted", "planned", "2023-06-20")]


def test_under_way_with_a_planned_date_reports_the_plan(parser: Parser) -> None:
    assert events(parser, "雪峰岭学校施工许可证正在办理，预计6月初取得") == [
        ("permit", "planned", "2023-06-10")]
    assert events(parser, "雪峰岭学校施工许可证尚未取得，预计6月初取得") == [
        ("permit", "not_done", None), ("permit", "planned", "2023-06-10")]


def test_now_is_not_a_deadline(parser: Parser) -> None:
    assert events(parser, "雪峰岭学校目前四证齐全") == [("permit", "done", None)]


def test_report_form_labels_join_their_values(parser: Parser) -> None:
    text = ("【P032雪峰岭学校】\n开工时间：2023年4月10日\n计划竣工：2024年10月\n"
            "本月完成投资：3500万元\n年度累计：1.2亿元\n形象进度：场平施工，完成约10%\n"
            "存在问题及建议：无")
    [update] = parse(parser, text)
    assert update["project"] == "P032"
    assert update["events"] == [
        {"milestone": "started", "status": "done", "date": "2023-04-10"},
        {"milestone": "completed", "status": "planned", "date": "2024-10-31"}]
    assert update["investment"] == [{"scope": "month", "wan_yuan": 3500},
                                    {"scope": "year", "wan_yuan": 12000}]
    assert update["progress_pct"] == 10 and update["issues"] == []


def test_project_codes_name_projects(parser: Parser) -> None:
    updates = parse(parser, "P022：主体已封顶。\nP025：无。")
    assert [u["project"] for u in updates] == ["P022", "P025"]


def test_a_milestone_not_yet_reached_is_no_issue_by_itself(parser: Parser) -> None:
    [update] = parse(parser, "雪峰岭学校还没开工，土地尚未摘牌，主要是地块内还有管线未迁改")
    assert [i["category"] for i in update["issues"]] == ["utilities"]


# -- progress of a part of the work (spec: Progress) ----------------------------------------
@pytest.mark.parametrize(("text", "pct", "part"), [
    ("雪峰岭学校外墙施工完成六成", 60, "外墙施工"),
    ("雪峰岭学校设备调试完成三分之一", 33.33, "设备调试"),
    ("雪峰岭学校主体结构完成95%，装修完成40%", 95, "主体结构"),       # first part
    ("雪峰岭学校主体结构完成95%，形象进度85%", 85, None),             # the whole wins
    ("雪峰岭学校形象进度85%，其中主体结构完成95%", 85, None),
    ("雪峰岭学校形象进度：总体完成约85%", 85, None),
    ("雪峰岭学校形象进度只有30%", 30, None),
    ("雪峰岭学校已完成主体工程的80%", 80, "主体工程"),
    ("雪峰岭学校完成全部工程量的一半", 50, None),
])
def test_share_of_a_part_of_the_work(parser: Parser, text: str, pct: float,
                                     part: str | None) -> None:
    [update] = parse(parser, text)
    assert (update["progress_pct"], update["progress_part"]) == (pct, part)


@pytest.mark.parametrize("text", [
    "雪峰岭学校工人返岗率90%", "雪峰岭学校拆迁签约率85%", "雪峰岭学校出勤率95%",
    "雪峰岭学校年度投资计划完成60%", "雪峰岭学校本月完成投资300万元，完成年度计划的30%",
    "雪峰岭学校投资完成率85%",
])
def test_shares_of_anything_but_work_are_not_progress(parser: Parser, text: str) -> None:
    [update] = parse(parser, text)
    assert update["progress_pct"] is None


# -- negation, plans and words that name another thing ---------------------------------------
@pytest.mark.parametrize(("text", "expected"), [
    ("雪峰岭学校不能按期竣工", [("completed", "not_done", None)]),
    ("雪峰岭学校6月底前完成竣工验收", [("accepted", "planned", "2023-06-30")]),
    ("雪峰岭学校三天前开工", [("started", "done", None)]),
    ("雪峰岭学校快封顶了", [("topped_out", "planned", None)]),
    ("雪峰岭学校离封顶还有两层", [("topped_out", "not_done", None)]),
    ("雪峰岭学校昨天开的工", [("started", "done", "2023-05-09")]),
    ("雪峰岭学校开不了工", [("started", "not_done", None)]),
    ("雪峰岭学校消防验收已通过", []),
    ("雪峰岭学校环保验收已完成", []),
    ("雪峰岭学校验收资料已准备好", []),
    ("雪峰岭学校拆迁户已签约85户", []),
    ("雪峰岭学校已通过竣工验收", [("accepted", "done", None)]),
])
def test_status_words(parser: Parser, text: str, expected: list[tuple[Any, ...]]) -> None:
    assert events(parser, text) == expected


def test_a_plans_section_of_a_form_is_planned(parser: Parser) -> None:
    text = ("雪峰岭学校月报\n一、本月完成\n1.主体封顶\n二、下月计划\n1.竣工验收\n2.投入使用\n"
            "三、存在问题\n无")
    [update] = parse(parser, text)
    assert [(e["milestone"], e["status"]) for e in update["events"]] == [
        ("topped_out", "done"), ("accepted", "planned"), ("operating", "planned")]
    assert update["issues"] == []


# -- problems said indirectly, no-problem statements, notices, terse replies ---------------
@pytest.mark.parametrize(("text", "categories"), [
    ("雪峰岭学校还在等环评批复", ["approval"]),
    ("雪峰岭学校报建资料还不齐", ["approval"]),
    ("雪峰岭学校规划许可卡在自然资源局这一步", ["approval"]),
    ("雪峰岭学校设计方案还没定", ["other"]),
    ("雪峰岭学校图纸审查一直没批下来", ["approval"]),
    ("雪峰岭学校开工时间待定", []),
    ("雪峰岭学校问题不大", []),
    ("雪峰岭学校各项工作正常推进，无异常", []),
])
def test_indirect_problems(parser: Parser, text: str, categories: list[str]) -> None:
    [update] = parse(parser, text)
    assert [i["category"] for i in update["issues"]] == categories


@pytest.mark.parametrize("text", [
    "@所有人 明天区领导到钢铁城调研，请做好准备", "大家注意，近期有暴雨，各工地注意停工避险",
    "各项目要做好防汛工作，确保不停工", "各位领导早上好！",
])
def test_notices_to_everyone_record_nothing(parser: Parser, text: str) -> None:
    assert parse(parser, text, "邱实") == []


def test_a_greeting_does_not_hide_the_report(parser: Parser) -> None:
    assert [u["project"] for u in parse(parser, "各位领导好，钢铁城今天开工")] == ["P007"]


@pytest.mark.parametrize("text", ["本周无新进展", "无变化", "同上", "和上周一样。",
                                  "领导好，本周无新进展，谢谢"])
def test_terse_reply_from_the_contact_of_one_project(parser: Parser, text: str) -> None:
    assert [(u["project"], u["events"], u["issues"]) for u in parse(parser, text, "邱实")] == [
        ("P032", [], [])]
    assert parse(parser, text, "罗军") == []   # the contact of two projects
    assert parse(parser, text, None) == []


@pytest.mark.parametrize(("text", "expected"), [
    ("雪峰岭学校的施工许可证还卡在住建局，等了半个月了，麻烦帮忙催一下",
     ([("permit", "not_done", None)], ["approval"])),
    ("雪峰岭学校征拆签约率已达95%，还剩3户", ([], ["land"])),  # households left: land
    ("雪峰岭学校招商引资签约项目2个", ([], [])),
])
def test_held_up_and_counts_of_signings(parser: Parser, text: str, expected: tuple) -> None:
    [update] = parse(parser, text)
    assert ([(e["milestone"], e["status"], e["date"]) for e in update["events"]],
            [i["category"] for i in update["issues"]]) == expected


@pytest.mark.parametrize(("text", "scope"), [
    ("雪峰岭学校 10月工作情况 一、完成投资2300万元 二、主体封顶", "month"),
    ("雪峰岭学校二季度调度情况\n完成投资1.2亿元", "quarter"),
    ("雪峰岭学校完成投资2300万元", "unspecified"),
])
def test_a_reports_period_heading_scopes_its_figures(parser: Parser, text: str,
                                                     scope: str) -> None:
    [update] = parse(parser, text)
    assert [i["scope"] for i in update["investment"]] == [scope]


@pytest.mark.parametrize(("text", "expected"), [
    ("雪峰岭学校已于12月28日开工", ("done", "2023-12-28", True)),
    ("雪峰岭学校12.28已投产", ("done", "2023-12-28", True)),
    ("雪峰岭学校12月28日开工", ("done", "2023-12-28", True)),
    ("雪峰岭学校计划12月28日开工", ("planned", "2024-12-28", False)),
    ("雪峰岭学校1月10日开工", ("planned", "2024-01-10", False)),
])
def test_a_done_date_without_year_sent_early_in_the_year(parser: Parser, text: str,
                                                         expected: tuple) -> None:
    [update] = parser.parse(text, sender=None, sent=dt.date(2024, 1, 5)).updates
    [event] = update.events
    unsure = [d.reason.value for d in update.doubts if d.item == "events"]
    assert (event.status, event.date.isoformat(), unsure == ["year"]) == expected


def test_an_answer_belongs_to_the_project_the_question_named(parser: Parser) -> None:
    text = "张科长：雪峰岭学校的环评批下来没有？\n邱实：还没有，还在等专家评审"
    assert [(u["project"], len(u["issues"])) for u in parse(parser, text)] == [("P032", 1)]


@pytest.mark.parametrize(("text", "categories"), [
    ("雪峰岭学校这边下雨停了三天工，今天已经复工了", []),
    ("雪峰岭学校征拆还有两户钉子户，街道在做工作", ["land"]),
    ("雪峰岭学校还有3户没搬", ["land"]),
])
def test_stoppages_over_and_households_left(parser: Parser, text: str,
                                            categories: list[str]) -> None:
    [update] = parse(parser, text)
    assert [i["category"] for i in update["issues"]] == categories


@pytest.mark.parametrize(("text", "category"), [
    ("雪峰岭学校施工用水还没通", "utilities"), ("雪峰岭学校监理单位人员不到位", "construction"),
    ("雪峰岭学校规划条件还没出", "approval"), ("雪峰岭学校雨季施工难度大", "construction"),
    ("雪峰岭学校土地证办不下来", "land"),
])
def test_more_problem_categories(parser: Parser, text: str, category: str) -> None:
    [update] = parse(parser, text)
    assert [i["category"] for i in update["issues"]] == [category]


def test_a_list_on_one_line(parser: Parser) -> None:
    text = "雪峰岭学校 6月第二周进展 1. 综合楼主体封顶 2. 完成投资350万 3. 暂无问题"
    [update] = parser.parse(text, sender=None, sent=dt.date(2023, 6, 15)).to_json()["updates"]
    assert [(e["milestone"], e["status"], e["date"]) for e in update["events"]] == [
        ("topped_out", "done", None)]
    assert update["issues"] == []


@pytest.mark.parametrize(("text", "expected"), [
    ("雪峰岭学校竣工时间由原来的7月底调整到8月中旬", [("completed", "planned", "2023-08-20")]),
    ("雪峰岭学校综合楼已于5月8日通过主体结构验收", []),
])
def test_changed_dates_and_structural_inspections(parser: Parser, text: str,
                                                  expected: list[tuple[Any, ...]]) -> None:
    assert events(parser, text) == expected


@pytest.mark.parametrize(("text", "categories"), [
    ("雪峰岭学校目前主要困难是供电线路迁改进度慢和钢材价格上涨", ["utilities", "construction"]),
    ("雪峰岭学校资金和用地都很紧张", ["funding", "land"]),
    ("雪峰岭学校征地和拆迁进度慢", ["land"]),
])
def test_two_problems_in_one_clause(parser: Parser, text: str, categories: list[str]) -> None:
    [update] = parse(parser, text)
    assert [i["category"] for i in update["issues"]] == categories
