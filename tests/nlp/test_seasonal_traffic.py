"""A winter's and a summer's chat traffic (bench/blind_winter, bench/blind_county): waiting
said in speech, disputes and defects, wages and whose money, complaints, late-but-done
milestones, orders to every site, and never a "done" for a step planned after another.
Our own sentences, not the corpora's."""

from __future__ import annotations

import datetime as dt

from nlp.parser import Parser

SENT = dt.date(2024, 12, 20)


def updates(parser: Parser, text: str, sender: str | None = None,
            sent: dt.date = SENT) -> list[dict]:
    return parser.parse(text, sender=sender, sent=sent).to_json()["updates"]


def categories(parser: Parser, text: str, sender: str | None = None) -> list[list[str]]:
    return [sorted({i["category"] for i in u["issues"]}) for u in updates(parser, text, sender)]


def events(parser: Parser, text: str, sent: dt.date = SENT) -> list[tuple[str, str, str | None]]:
    return [(e["milestone"], e["status"], e["date"]) for u in updates(parser, text, sent=sent)
            for e in u["events"]]


def test_a_step_after_another_within_a_time_is_planned(parser: Parser) -> None:
    assert events(parser, "钢铁城取得施工许可后半个月内开工") == [("started", "planned", None)]
    assert ("started", "done", None) not in events(parser, "钢铁城拿地后两个月内动工")


def test_a_special_inspection_or_a_pre_inspection_is_no_milestone(parser: Parser) -> None:
    assert events(parser, "铁东路交警验收还差几处标线") == []
    assert events(parser, "钢铁城昨天完成竣工预验收") == []


def test_an_agreement_signed_some_words_later(parser: Parser) -> None:
    assert events(parser, "钢铁城二期投资协议上周五已经签了") == [
        ("signed", "done", "2024-12-13")]
    assert events(parser, "钢铁城补充投资协议下周三签") == [("signed", "planned", "2024-12-25")]


def test_new_years_eve_is_the_deadline_of_before_new_year(parser: Parser) -> None:
    assert events(parser, "铁东路争取元旦前通车") == [("operating", "planned", "2024-12-31")]
    # a holiday said as a period gives no day
    assert events(parser, "三一硅能元旦期间试生产稳定", sent=dt.date(2025, 1, 5)) == [
        ("operating", "done", None)]


def test_waiting_on_someone_else_is_a_problem(parser: Parser) -> None:
    assert categories(parser, "钢铁城高压线迁改，供电公司说要等停电窗口") == [["utilities"]]
    assert categories(parser, "钢铁城渣土准运证还没办下来") == [["approval"]]
    # waiting on one's own next step is not
    assert categories(parser, "钢铁城投产要等设备调试完") == [[]]


def test_defects_disputes_and_people_leaving(parser: Parser) -> None:
    assert categories(parser, "钢铁城地下室侧墙渗水，施工单位在处理") == [["construction"]]
    assert categories(parser, "钢铁城用地边界跟村里有争议") == [["land"]]
    assert categories(parser, "钢铁城节后工人流失比较多") == [["construction"]]
    assert categories(parser, "钢铁城设备尾款付不了，供应商天天打电话") == [["funding"]]


def test_power_not_on_is_utilities_wherever_it_stands(parser: Parser) -> None:
    assert categories(parser, "钢铁城那边电还没通，靠发电机顶着") == [["utilities"]]
    assert categories(parser, "钢铁城变压器装好了一直没送电") == [["utilities"]]


def test_wages_unpaid_for_want_of_the_projects_money_are_funding(parser: Parser) -> None:
    assert categories(parser, "钢铁城总包说工程款不到位年前农民工工资就发不出来") == [["funding"]]
    # the contractor's own arrears stay the site's trouble
    assert categories(parser, "钢铁城施工单位拖欠农民工工资，工人在闹") == [["construction"]]


def test_neighbours_complaints_are_other(parser: Parser) -> None:
    assert categories(parser, "钢铁城夜间浇混凝土被周边居民投诉了") == [["other"]]


def test_late_but_done_and_no_time_lost_are_no_problems(parser: Parser) -> None:
    assert categories(parser, "钢铁城12月18号封顶了，比原计划晚了十天") == [[]]
    assert categories(parser, "钢铁城连续大雾，吊装改到下午做了，进度没耽误") == [[]]
    assert categories(parser, "钢铁城钢材的事谈妥了，工人都回来了") == [[]]


def test_a_share_of_goods_or_people_is_no_progress(parser: Parser) -> None:
    [update] = updates(parser, "钢铁城幕墙材料只来了四成，影响安装")
    assert update["progress_pct"] is None
    [update] = updates(parser, "钢铁城劳务队伍撤场了一半")
    assert update["progress_pct"] is None


def test_a_target_met_is_not_the_amount(parser: Parser) -> None:
    [update] = updates(parser, "钢铁城年度投资10亿任务已完成，今年累计完成10.6亿")
    assert [(a["scope"], a["wan_yuan"]) for a in update["investment"]] == [("year", 106000)]


def test_an_order_to_every_site_records_nothing(parser: Parser) -> None:
    assert updates(parser, "大风蓝色预警，全区在建工地明天停止吊装作业，请各项目严格落实。") == []
    assert updates(parser, "钢铁城、三一硅能两个项目联系人：请周五前把安全检查表交上来") == []


def test_nothing_going_on_from_the_contact_of_one_project(parser: Parser) -> None:
    assert [u["project"] for u in updates(parser, "我们这没什么事", "邱实")] == ["P032"]


def test_an_old_plan_said_to_be_missed_is_not_done(parser: Parser) -> None:
    assert events(parser, "钢铁城原计划11月底试生产，没能按期，设备还在路上") == [
        ("operating", "not_done", None)]
    assert events(parser, "钢铁城原定本月开业，看样子赶不上了") == [("operating", "not_done", None)]
    # missed, then met later in the message: only the done
    assert events(parser, "钢铁城原定10月试生产未能实现，已于12月18日试生产") == [
        ("operating", "done", "2024-12-18")]


def test_on_plan_and_done_is_done(parser: Parser) -> None:
    assert events(parser, "钢铁城12月8日已按计划开始试生产") == [
        ("operating", "done", "2024-12-08")]


def test_a_rectification_finished_and_an_application_to_come_are_no_milestones(
        parser: Parser) -> None:
    assert events(parser, "钢铁城消防整改完工了，下周报竣工验收") == []


def test_a_slip_is_no_done(parser: Parser) -> None:
    assert events(parser, "钢铁城竣工可能要晚一点") == [("completed", "planned", None)]
    assert events(parser, "钢铁城试生产推迟了，设备还没调好") == [("operating", "not_done", None)]
    # at risk, with the new date: that date is the plan
    assert events(parser, "钢铁城可能赶不上本月底完工，预计1月10日") == [
        ("completed", "planned", "2025-01-10")]


def test_since_it_began_is_a_time_not_an_event(parser: Parser) -> None:
    assert events(parser, "钢铁城试生产以来运行稳定") == []


def test_a_task_for_a_named_official_and_a_meeting_call_record_nothing(parser: Parser) -> None:
    assert updates(parser, "请王磊同志牵头，本周把钢铁城用电的事理清楚") == []
    assert updates(parser, "钢铁城、三一硅能下周二开推进会，请两位联系人准备材料") == []


def test_more_ways_of_saying_a_problem(parser: Parser) -> None:
    assert categories(parser, "钢铁城专项债第二批还没消息") == [["funding"]]
    assert categories(parser, "钢铁城还剩最后两户没搬") == [["land"]]
    assert categories(parser, "钢铁城这个月雨水太多，外墙干不了") == [["construction"]]
    assert categories(parser, "钢铁城调概还没批下来") == [["approval"]]
    assert categories(parser, "钢铁城天然气价格涨了，成本压力大") == [["utilities"]]


def test_half_the_year_half_the_plan_is_no_progress(parser: Parser) -> None:
    [update] = updates(parser, "钢铁城本月完成投资8000万，提前实现双过半")
    assert update["progress_pct"] is None


def test_quarter_totals_and_several_months(parser: Parser) -> None:
    [update] = updates(parser, "钢铁城11月完成投资3000万，四季度合计8200万",
                       sent=dt.date(2024, 11, 30))
    assert [(a["scope"], a["wan_yuan"]) for a in update["investment"]] == [
        ("month", 3000), ("quarter", 8200)]
    [update] = updates(parser, "钢铁城四季度累计完成投资1.1亿")
    assert [(a["scope"], a["wan_yuan"]) for a in update["investment"]] == [("quarter", 11000)]
    [update] = updates(parser, "钢铁城10月、11月两个月完成投资5000万")
    assert [(a["scope"], a["wan_yuan"]) for a in update["investment"]] == [("unspecified", 5000)]


def test_money_only_partly_in_and_ground_giving_way(parser: Parser) -> None:
    assert categories(parser, "钢铁城区里承诺的5000万配套资金只到了一半") == [["funding"]]
    assert categories(parser, "钢铁城基坑边坡局部塌方") == [["construction"]]
    assert categories(parser, "钢铁城工期可能要往后拖半个月") == [["construction"]]


def test_the_weather_stopping_work_is_construction(parser: Parser) -> None:
    assert categories(parser, "钢铁城这两天下雪，室外管网停了") == [["construction"]]


def test_work_that_cannot_go_on_is_part_of_what_holds_it_up(parser: Parser) -> None:
    assert categories(parser, "钢铁城还有一户没拆，房子在红线里，桩基没法施工") == [["land"]]


def test_some_of_the_buildings_is_not_the_project(parser: Parser) -> None:
    # never a "done" for part of the buildings; the last of them, with a date, is the plan
    assert events(parser, "钢铁城宿舍楼6栋已封顶4栋，剩下2栋本月底封顶") == [
        ("topped_out", "planned", "2024-12-31")]


def test_a_photo_of_a_milestone_is_no_milestone(parser: Parser) -> None:
    assert events(parser, "钢铁城收到，请把开工照片发群里") == []


def test_year_end_ways_of_saying_a_problem(parser: Parser) -> None:
    assert categories(parser, "钢铁城政府回购款今年的部分还没付") == [["funding"]]
    assert categories(parser, "钢铁城GMP认证现场检查一直没排期") == [["approval"]]
    assert categories(parser, "钢铁城二期过渡电源负荷不足的问题还在") == [["utilities"]]
    assert categories(parser, "钢铁城现场有点乱，安全文明施工要加强") == [["construction"]]
    assert categories(parser, "钢铁城施工配合协议还在走铁路局内部流程") == [["approval"]]


def test_said_to_be_no_problem(parser: Parser) -> None:
    assert categories(parser, "钢铁城投产推迟到下周，主要是客户排产调整，不是工程问题") == [[]]
    assert categories(parser, "钢铁城年度目标全部完成，今年不再有需要协调的事项") == [[]]
    assert [u["project"] for u in updates(parser, "我们这边暂时没有需要区里协调的", "邱实")] == [
        "P032"]


def test_minutes_and_introductions_record_nothing(parser: Parser) -> None:
    assert updates(parser, "推进会纪要：1.钢铁城用电由区发改局对接供电公司；"
                           "2.三一硅能用地由自然资源局牵头") == []
    assert updates(parser, "各位领导好，我是钢铁城新的对接人，以后由我报送，请多关照") == []


def test_a_voice_slip_for_yi(parser: Parser) -> None:
    [update] = updates(parser, "钢铁城今年已完成投资13.8忆")
    assert [(a["scope"], a["wan_yuan"]) for a in update["investment"]] == [("year", 138000)]


def test_a_lists_number_is_not_a_month(parser: Parser) -> None:
    [update] = updates(parser, "钢铁城：1、主体已完成八成；2、11月完成投资4500万元",
                       sent=dt.date(2024, 11, 30))
    assert [(a["scope"], a["wan_yuan"]) for a in update["investment"]] == [("month", 4500)]


def test_an_unchanged_date_is_the_plan_standing(parser: Parser) -> None:
    assert events(parser, "钢铁城试生产时间不变") == [("operating", "planned", None)]
    assert events(parser, "钢铁城2月投产没变", sent=dt.date(2025, 1, 8)) == [
        ("operating", "planned", "2025-02-28")]


def test_the_day_of_a_milestone_asked_about_is_no_milestone(parser: Parser) -> None:
    assert events(parser, "@冯军 好的，钢铁城投产当天请发个视频") == []


def test_an_old_plan_that_cannot_be_met_then_the_new_one(parser: Parser) -> None:
    assert events(parser, "钢铁城原计划年底竣工肯定完不成了，争取明年4月初竣工") == [
        ("completed", "not_done", None), ("completed", "planned", "2025-04-10")]


def test_someone_else_reporting_for_a_project_records_nothing_for_it(parser: Parser) -> None:
    assert updates(parser, "钢铁城那边冯军在报") == []


def test_group_chat_ways_of_saying_a_problem(parser: Parser) -> None:
    assert categories(parser, "钢铁城还有约30亩地没征下来") == [["land"]]
    assert categories(parser, "钢铁城环评批复还在省厅走流程") == [["approval"]]
    assert categories(parser, "钢铁城厂区雨污管网有几处堵塞") == [["utilities"]]
    assert categories(parser, "钢铁城屋面防水返工，耽误了一周") == [["construction"]]
    # a threat on a condition: the condition is the problem
    assert categories(parser, "钢铁城总包说工程款再不拨付就要停工") == [["funding"]]


def test_a_target_moved_with_no_reason_is_no_problem(parser: Parser) -> None:
    assert categories(parser, "钢铁城月底投产有难度，估计要到1月中旬") == [[]]
    # with the reason said before it, the reason is the problem
    assert categories(parser, "钢铁城征地还差5户，月底开工有难度，估计要到1月中旬") == [["land"]]


def test_a_report_asked_for_again_records_nothing(parser: Parser) -> None:
    assert updates(parser, "@冯军 钢铁城11月投资数还没报，麻烦今天补一下") == []


def test_yes_no_change_from_the_contact_of_one_project(parser: Parser) -> None:
    assert [u["project"] for u in updates(parser, "是的，没变化", "邱实")] == ["P032"]


def test_ancillary_works_finished_are_not_the_project_finished(parser: Parser) -> None:
    assert events(parser, "铁东路附属工程已完工") == []
