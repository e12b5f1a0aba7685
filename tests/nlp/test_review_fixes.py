"""Bugs found in review, each reproduced with our own sentences (not corpus lines)."""

from __future__ import annotations

import datetime as dt

import pytest

from nlp.numbers import find_money, find_percents, plain_numerals
from nlp.parser import Parser

SENT = dt.date(2023, 5, 10)


def updates(parser: Parser, text: str, sender: str | None = None,
            sent: dt.date = SENT) -> list[dict]:
    return parser.parse(text, sender=sender, sent=sent).to_json()["updates"]


def one(parser: Parser, text: str, sender: str | None = None, sent: dt.date = SENT) -> dict:
    [update] = updates(parser, text, sender, sent)
    return update


@pytest.mark.parametrize(("text", "wan"), [
    ("完成投资一个亿零五百万", 10500),
    ("完成投资两个亿三千万元", 23000),
    ("完成投资1个亿零500万", 10500),
    ("完成投资三个亿零八十万元", 30080),
])
def test_a_measure_word_before_yi_keeps_the_wan_after_it(text: str, wan: int) -> None:
    [span] = find_money(text)
    assert span.value == wan


def test_one_hundred_percent_in_words() -> None:
    assert [s.value for s in find_percents("基础完成百分之百")] == [100]


def test_financial_share_is_not_a_name() -> None:
    # 柒成 at the end of a cell is a share; 陆成 followed by a verb is a person.
    assert plain_numerals("外墙完成柒成") == "外墙完成七成"
    assert plain_numerals("外墙完成陆成左右") == "外墙完成六成左右"
    assert plain_numerals("已完成陆成安排的清表") == "已完成陆成安排的清表"


def test_person_called_like_a_share_is_no_progress(parser: Parser) -> None:
    assert one(parser, "钢铁城本周已完成陆成安排的清表工作")["progress_pct"] is None


def test_label_ending_in_done_keeps_its_figure(parser: Parser) -> None:
    update = one(parser, "钢铁城\n本年累计完成：肆亿伍仟万元")
    assert update["investment"] == [{"scope": "year", "wan_yuan": 45000}]


@pytest.mark.parametrize("text", [
    "嗯我们这边那个本周无新进展",
    "呃 那个 就是 这周没什么变化",
    "那个，项目上同上",
])
def test_terse_reply_wrapped_in_fillers(parser: Parser, text: str) -> None:
    # 程诚 is the contact of exactly one project (P029).
    assert updates(parser, text, sender="程诚") == [
        {"project": "P029", "events": [], "progress_pct": None, "progress_part": None,
         "investment": [], "issues": []}]
    assert updates(parser, text, sender=None) == []


def test_a_total_row_is_no_projects(parser: Parser) -> None:
    text = ("项目名称\t本月完成投资（万元）\t形象进度\n钢铁城\t2600\t55%\n三一硅能\t1400\t90%\n"
            "合计\t4000\t")
    got = updates(parser, text)
    assert [(u["project"], u["investment"]) for u in got] == [
        ("P007", [{"scope": "month", "wan_yuan": 2600}]),
        ("P011", [{"scope": "month", "wan_yuan": 1400}])]
    # The total under the name column, after an empty 序号 cell.
    text = "序号\t项目名称\t累计完成投资\n1\t钢铁城\t21000万元\n\t总计（1个项目）\t21000万元"
    assert [u["investment"] for u in updates(parser, text)] == [
        [{"scope": "cumulative", "wan_yuan": 21000}]]


def test_word_table_pasted_one_cell_a_line(parser: Parser) -> None:
    text = "项目名称\n本月完成投资（万元）\n形象进度\n钢铁城\n2600\n55%\n三一硅能\n1400\n90%"
    got = updates(parser, text)
    assert [(u["project"], u["investment"], u["progress_pct"]) for u in got] == [
        ("P007", [{"scope": "month", "wan_yuan": 2600}], 55),
        ("P011", [{"scope": "month", "wan_yuan": 1400}], 90)]
    form = "项目名称\n钢铁城\n本月完成投资\n2600万元\n形象进度\n55%"
    update = one(parser, form)
    assert (update["project"], update["progress_pct"]) == ("P007", 55)
    assert update["investment"] == [{"scope": "month", "wan_yuan": 2600}]


def test_remark_column_and_empty_rows(parser: Parser) -> None:
    text = ("项目名称\t开工情况\t累计完成投资（万元）\t备注\n钢铁城\t\t\t\n"
            "三一硅能\t—\t38000\t已投产")
    got = updates(parser, text)
    assert [u["project"] for u in got] == ["P007", "P011"]
    assert got[1]["events"] == [{"milestone": "operating", "status": "done", "date": None}]
    assert got[1]["investment"] == [{"scope": "cumulative", "wan_yuan": 38000}]


@pytest.mark.parametrize(("text", "pct", "part"), [
    ("钢铁城形象进度：12英寸晶圆线洁净厂房主体结构完成45%，动力站完成九成", 45,
     "12英寸晶圆线洁净厂房主体结构"),
    ("钢铁城2#厂房完成60%，1#厂房完成35%", 60, "2#厂房"),
    ("钢铁城1#完成60%，2#完成40%", 60, "1#"),
    ("钢铁城主体完成60%；3#楼：完成40%", 60, "主体"),
    ("钢铁城\n5#楼：完成40%\n主体结构：完成70%", 40, "5#楼"),
])
def test_first_part_with_digits_in_its_name(parser: Parser, text: str, pct: int,
                                            part: str) -> None:
    update = one(parser, text)
    assert (update["progress_pct"], update["progress_part"]) == (pct, part)


@pytest.mark.parametrize("text", [
    "钢铁城配套的35千伏变电站至今尚未建成，影响设备调试",
    "钢铁城周边道路还没有完工，材料进不来",
    "钢铁城供水管网尚为建成",  # 尚为: a voice slip of 尚未
])
def test_supporting_works_not_built_are_a_problem_not_the_projects_completion(
        parser: Parser, text: str) -> None:
    update = one(parser, text)
    assert update["events"] == []
    assert [i["category"] for i in update["issues"]] == ["utilities"]


def test_negation_never_gives_done(parser: Parser) -> None:
    update = one(parser, "钢铁城竣工投产至今仍未实现")
    assert [(e["milestone"], e["status"]) for e in update["events"]] == [
        ("completed", "not_done"), ("operating", "not_done")]
    assert one(parser, "钢铁城4#厂房已于5月8日全面完工")["events"] == []  # a building's
    assert [e["milestone"] for e in one(parser, "钢铁城主体工程已完工")["events"]] == [
        "completed"]


@pytest.mark.parametrize(("text", "date"), [
    ("三一硅能争取年底前头产", "2023-12-31"),   # 前头 is a word; 前|投产 reads likelier
    ("三一硅能6月底前头产", "2023-06-30"),
])
def test_slip_that_cuts_a_word_when_the_sentence_reads_better(parser: Parser, text: str,
                                                              date: str) -> None:
    assert one(parser, text)["events"] == [
        {"milestone": "operating", "status": "planned", "date": date}]
    assert one(parser, "钢铁城提前约定了时间")["events"] == []  # 提|签约|定 does not


@pytest.mark.parametrize(("text", "investment"), [
    ("钢铁城本月无投资，暂无问题。", [{"scope": "month", "wan_yuan": 0}]),
    ("钢铁城本月完成投资0，累计完成2600万。", [{"scope": "month", "wan_yuan": 0},
                                               {"scope": "cumulative", "wan_yuan": 2600}]),
    ("钢铁城本月完成投资为零。", [{"scope": "month", "wan_yuan": 0}]),
    ("钢铁城9月：本月0.9亿，累计19亿，形象进度61%", [{"scope": "month", "wan_yuan": 9000},
                                                     {"scope": "cumulative", "wan_yuan": 190000}]),
    ("钢铁城本月投资：2100万", [{"scope": "month", "wan_yuan": 2100}]),
    ("钢铁城全年累计完成11.2亿元", [{"scope": "year", "wan_yuan": 112000}]),
    ("钢铁城：下月计划完成屋面封顶，完成投资500万元。", []),
    ("钢铁城本月800万元的设备款已支付", []),
])
def test_month_end_figures(parser: Parser, text: str, investment: list) -> None:
    assert one(parser, text)["investment"] == investment


def test_unitless_figures_under_a_unit_title(parser: Parser) -> None:
    text = "各项目进度表（万元）\n钢铁城：本月950，累计26100；\n三一硅能：累计（万元）：38800"
    assert [u["investment"] for u in updates(parser, text)] == [
        [{"scope": "month", "wan_yuan": 950}, {"scope": "cumulative", "wan_yuan": 26100}],
        [{"scope": "cumulative", "wan_yuan": 38800}]]


@pytest.mark.parametrize(("text", "pct"), [
    ("钢铁城：本月900万元，综合楼装修60%；", 60),
    ("钢铁城形象进度整体约45%", 45),
    ("钢铁城同比增长20%", None),
    ("钢铁城：下月计划：完成投资5000万元，进场道路完成六成。", None),
])
def test_shares_said_plainly_or_planned(parser: Parser, text: str, pct: int | None) -> None:
    assert one(parser, text)["progress_pct"] == pct


def test_plans_and_past_years(parser: Parser) -> None:
    sent = dt.date(2023, 12, 28)
    assert one(parser, "钢铁城下步计划：1月中旬组织竣工验收", sent=sent)["events"] == [
        {"milestone": "accepted", "status": "planned", "date": "2024-01-20"}]
    assert one(parser, "钢铁城一期已于2021年底投产", sent=sent)["events"] == [
        {"milestone": "operating", "status": "done", "date": "2021-12-31"}]


def events(parser: Parser, text: str, sent: dt.date = SENT) -> list[tuple]:
    update = one(parser, text, sent=sent)
    return [(e["milestone"], e["status"], e["date"]) for e in update["events"]]


def test_status_and_dates_said_in_speech(parser: Parser) -> None:
    assert events(parser, "钢铁城6月20日前封顶没问题") == [("topped_out", "planned", "2023-06-20")]
    assert events(parser, "钢铁城嗯主体完工了那个下个月投产") == [
        ("completed", "done", None), ("operating", "planned", "2023-06-30")]
    assert events(parser, "钢铁城呃竣工投产了昨天") == [
        ("completed", "done", "2023-05-09"), ("operating", "done", "2023-05-09")]
    assert events(parser, "钢铁城呃没能按期封顶估计要到下个月中旬") == [
        ("topped_out", "not_done", None), ("topped_out", "planned", "2023-06-20")]
    assert events(parser, "钢铁城嗯施工许可证呃预计下周能拿到") == [
        ("permit", "planned", "2023-05-21")]
    assert events(parser, "钢铁城施工单位昨天进场") == [("started", "done", "2023-05-09")]


def test_a_yearless_date_without_status_is_the_nearest_one(parser: Parser) -> None:
    sent = dt.date(2023, 12, 27)
    assert events(parser, "钢铁城2月3号试生产", sent=sent) == [
        ("operating", "planned", "2024-02-03")]
    # A plan made earlier in the sentence carries to a later date.
    assert events(parser, "钢铁城计划明年1月设备进场，4月投产", sent=sent) == [
        ("operating", "planned", "2024-04-30")]
    assert events(parser, "钢铁城验收还没做，计划下月底前完成", sent=sent) == [
        ("accepted", "not_done", None), ("accepted", "planned", "2024-01-31")]


@pytest.mark.parametrize(("text", "categories"), [
    ("钢铁城贷款已放款，资金问题解决。", []),
    ("钢铁城清表问题已于上周协调会上解决，下周开工。", []),
    ("钢铁城钢筋工紧缺，缺口约80人。", ["construction"]),
    ("钢铁城受低温影响，部分工序暂停。", ["construction"]),
    ("钢铁城竣工推迟到下月底，主要是幕墙分包单位更换。", ["construction"]),
    ("钢铁城二期前期手续还在办。", ["approval"]),
    ("钢铁城还剩几户没签，比较难。", ["land"]),
    ("钢铁城进口设备还没到货。", ["construction"]),
])
def test_problems_settled_or_said_by_their_cause(parser: Parser, text: str,
                                                 categories: list[str]) -> None:
    assert [i["category"] for i in one(parser, text)["issues"]] == categories


@pytest.mark.parametrize("text", [
    "钢铁城、三一硅能两个项目周五前要报二季度投资",
    "钢铁城本周情况发一下",
    "三一硅能这周进展怎么样，月底前要报",
    "钢铁城什么情况，怎么还没报",
    "后天下午开推进会，钢铁城项目负责人都要参加",
    "@冯军 好，钢铁城要抓紧把工期抢回来。",
    "@冯军 钢铁城验收资料本周内报区住建局。",
])
def test_the_office_asking_or_telling_records_nothing(parser: Parser, text: str) -> None:
    assert updates(parser, text, sender="秦海燕") == []


def test_a_report_that_mentions_reporting_is_still_a_report(parser: Parser) -> None:
    assert one(parser, "钢铁城已按时上报月报，本月完成投资2000万元")["investment"] == [
        {"scope": "month", "wan_yuan": 2000}]
    assert one(parser, "钢铁城本周需要报送的资料已齐全，主体封顶")["events"] == [
        {"milestone": "topped_out", "status": "done", "date": None}]


def test_month_end_form_details(parser: Parser) -> None:
    update = one(parser, "钢铁城：存在问题：1.施工许可证待审批；2.场地内有10kV线路需迁改。")
    assert update["events"] == [{"milestone": "permit", "status": "not_done", "date": None}]
    assert [i["category"] for i in update["issues"]] == ["approval", "utilities"]
    update = one(parser, "钢铁城10月：本月完成（万元）：640；进口设备报关手续待海关审批。")
    assert update["investment"] == [{"scope": "month", "wan_yuan": 640}]
    assert [i["category"] for i in update["issues"]] == ["approval"]
    assert one(parser, "钢铁城：车间装修完成七成，设备采购合同已签约。")["events"] == []
    # Cells joined by | are clauses of their own.
    update = one(parser, "项目名称：钢铁城 | 开工时间：2022年3月 | 计划竣工时间：2025年6月")
    assert update["events"] == [
        {"milestone": "started", "status": "done", "date": "2022-03-31"},
        {"milestone": "completed", "status": "planned", "date": "2025-06-30"}]
    # A date in brackets after a done milestone is its date.
    assert one(parser, "钢铁城A区厂房已封顶（5月2日）")["events"] == [
        {"milestone": "topped_out", "status": "done", "date": "2023-05-02"}]


def test_voice_run_ons_and_forecasts(parser: Parser) -> None:
    update = one(parser, "钢铁城嗯计划下月底竣工现在整体完成百分之九十")
    assert (update["progress_pct"], update["progress_part"]) == (90, None)
    update = one(parser, "钢铁城这个月完成投资嗯六千五百万今年已经完成了九个亿")
    assert update["investment"] == [{"scope": "month", "wan_yuan": 6500},
                                    {"scope": "year", "wan_yuan": 90000}]
    assert one(parser, "钢铁城本月还能完成投资8000万左右")["investment"] == []
