"""Rules added after the infra / remind / inspect blind corpora (2026-12-02): a target in
doubt is never done, a milestone's time moved or set takes the date said later in the
sentence, a document's title is no event, and a stoppage said right after the problem that
caused it is part of that problem."""

from __future__ import annotations

import datetime as dt

import pytest

from nlp.parser import Parser

SENT = dt.date(2026, 6, 12)


def updates(parser: Parser, text: str, sender: str = "孙浩") -> list[dict]:
    return parser.parse(text, sender=sender, sent=SENT).to_json()["updates"]


def events(parser: Parser, text: str) -> list[tuple[str, str, str | None]]:
    return [(e["milestone"], e["status"], e["date"])
            for u in updates(parser, text) for e in u["events"]]


@pytest.mark.parametrize("text", [
    "三一产业基地6月30日封顶可能保不住了，钢构件供货跟不上",
    "三一产业基地月底竣工怕是够呛了",
    "三一产业基地本月底能否封顶还不确定",
    "三一产业基地是否已经竣工验收了？",
])
def test_a_target_in_doubt_or_a_question_is_never_done(parser: Parser, text: str) -> None:
    assert all(status != "done" for _m, status, _d in events(parser, text))


@pytest.mark.parametrize(("text", "expected"), [
    ("三一产业基地投产时间要往后推，进口设备还没到港，预计8月中旬",
     ("operating", "planned", "2026-08-20")),
    ("三一产业基地竣工时间定了，9月28号", ("completed", "planned", "2026-09-28")),
    ("三一产业基地确定推迟封顶，新的目标是7月底", ("topped_out", "planned", "2026-07-31")),
    ("三一产业基地竣工可能要晚一点，外墙材料供货跟不上，8月中旬吧",
     ("completed", "planned", "2026-08-20")),
])
def test_the_date_said_later_in_the_sentence_is_the_plan(
        parser: Parser, text: str, expected: tuple[str, str, str]) -> None:
    assert events(parser, text) == [expected]


def test_a_time_moved_with_no_date_reports_nothing(parser: Parser) -> None:
    assert events(parser, "三一产业基地投产时间要往后推，进口设备还没到港") == []


def test_a_time_unchanged_is_still_the_plan(parser: Parser) -> None:
    assert events(parser, "三一产业基地设备调试顺利，投产时间不变") == [
        ("operating", "planned", None)]


def test_an_estimate_for_another_thing_is_not_the_new_date(parser: Parser) -> None:
    found = events(parser, "三一产业基地还没有封顶，最后一批钢构件合同还没签，争取下周三前签下来")
    assert found == [("topped_out", "not_done", None)]


def test_an_estimate_to_obtain_the_permit_is_still_its_plan(parser: Parser) -> None:
    found = events(parser, "三一产业基地还没开工，施工许可证还在办，估计7月上旬能拿到")
    assert ("permit", "planned", "2026-07-10") in found


def test_a_documents_title_is_no_event(parser: Parser) -> None:
    text = "关于三一产业基地竣工验收的督办回复：因消防验收尚未通过，项目未能按期完成竣工验收"
    assert ("accepted", "done", None) not in events(parser, text)


@pytest.mark.parametrize("text", [
    "三一产业基地征地补偿款未到位，附属工程停工",
    "三一产业基地施工许可证还没办下来，主体工程受影响",
])
def test_a_stoppage_right_after_its_cause_is_one_problem(parser: Parser, text: str) -> None:
    [update] = updates(parser, text)
    assert len(update["issues"]) == 1
    assert update["issues"][0]["category"] != "construction"


def test_a_stoppage_with_a_cause_of_its_own_stays_a_problem(parser: Parser) -> None:
    [update] = updates(parser, "三一产业基地进度款还没拨付，连续降雨，室外施工停了三天")
    assert "construction" in {i["category"] for i in update["issues"]}


@pytest.mark.parametrize("reminder", [
    "【逾期提醒】三一产业基地主体封顶节点已逾期5个工作日",
    "三一产业基地5月20日的封顶节点已经过了",
])
def test_a_deadline_passed_is_never_done(parser: Parser, reminder: str) -> None:
    assert events(parser, f"{reminder}\n回复：还差一层没封顶，争取7月15日封顶。") == [
        ("topped_out", "not_done", None), ("topped_out", "planned", "2026-07-15")]
    assert events(parser, f"{reminder}\n回复：6月10日已经封顶了，忘了报") == [
        ("topped_out", "done", "2026-06-10")]


def test_a_deadline_to_come_reports_nothing(parser: Parser) -> None:
    text = "【节点提醒】三一产业基地竣工节点距今还有20个工作日，请确认能否按期"
    assert events(parser, text) == []


def test_the_bots_own_alert_card_quoted_back_reports_only_the_reply(parser: Parser) -> None:
    from scheduler.messages import AlertView, alert_notice

    card = alert_notice(AlertView(
        alert_id=7, kind="milestone_overdue", level="orange", project="三一产业基地",
        project_code="P004", what="主体封顶节点逾期（计划2026年5月20日完成）",
        since=dt.date(2026, 5, 21), days_late=10, responsible="孙浩")).plain_text()
    found = updates(parser, f"{card}\n回复：主体下周三封顶", sender="林晓")
    assert [u["project"] for u in found] == ["P004"]
    assert [(e["milestone"], e["status"], e["date"]) for e in found[0]["events"]] == [
        ("topped_out", "planned", "2026-06-17")]


@pytest.mark.parametrize("text", [
    "三一产业基地竣工验收时间昨天定下来了", "三一产业基地今天竣工时间定下来了，9月30日",
    "三一产业基地昨天开会把竣工时间推迟了", "三一产业基地上周投产时间定了",
    "三一产业基地竣工时间推迟了，原定5月30日", "三一产业基地投产时间往后推，6月1日设备已到场",
    "三一产业基地投产时间要往后推，设备下周才到", "三一产业基地竣工时间推迟了，下周一报新计划",
])
def test_a_time_set_or_moved_is_never_done_nor_dated_by_another_thing(
        parser: Parser, text: str) -> None:
    found = events(parser, text)
    assert all(status == "planned" for _m, status, _d in found)
    assert all(date is None or date > "2026-06-12" for _m, _s, date in found)
    assert ("completed", "planned", "2027-05-30") not in found


def test_a_reply_in_field_form_after_the_card_is_read(parser: Parser) -> None:
    from scheduler.messages import AlertView, alert_notice

    card = alert_notice(AlertView(
        alert_id=7, kind="milestone_overdue", level="yellow", project="三一产业基地",
        project_code="P004", what="竣工节点逾期（计划2026年5月31日完成）",
        since=dt.date(2026, 6, 1), days_late=9, responsible="孙浩")).plain_text()
    assert events(parser, f"{card}\n新计划：7月15日竣工") == [
        ("completed", "planned", "2026-07-15")]


@pytest.mark.parametrize("text", [
    "三一产业基地专项债资金没到位，环保督查期间全面停工",
    "三一产业基地征地还没完成，中考期间夜间停工",
])
def test_a_stoppage_with_a_cause_of_its_own_stays_its_own_problem(
        parser: Parser, text: str) -> None:
    [update] = updates(parser, text)
    assert len(update["issues"]) == 2


@pytest.mark.parametrize("text", [
    "【催报】请三一产业基地、钢铁城今天下班前回复逾期节点情况。",
    "请三一产业基地、钢铁城本周五前书面反馈整改情况。",
    "【调度会安排】本周四下午召开第一次调度会，重点调度三一产业基地、钢铁城。",
    "冯市长明天上午看三一产业基地和钢铁城，两个项目请准备汇报材料，重点讲投资和投产情况。",
    "以下项目本周已回复：三一产业基地、钢铁城。未回复的请抓紧。",
])
def test_notices_naming_projects_record_nothing(parser: Parser, text: str) -> None:
    assert updates(parser, text, sender="林晓") == []


def test_a_meeting_to_come_does_not_hide_the_report_after_it(parser: Parser) -> None:
    found = updates(parser, "三一产业基地本周五召开征拆推进会，目前还有12户没有签订拆迁协议。")
    assert [(u["project"], [i["category"] for i in u["issues"]]) for u in found] == [
        ("P004", ["land"])]
