"""Voice input: fillers, run-on sentences, homophone slips matched by pinyin."""

from __future__ import annotations

import datetime as dt

import pytest

from nlp.parser import Parser
from nlp.sound import SoundMatcher

SENT = dt.date(2023, 5, 10)


def one(parser: Parser, text: str) -> dict:
    [update] = parser.parse(text, sender=None, sent=SENT).to_json()["updates"]
    return update


@pytest.mark.parametrize(("text", "milestone"), [
    ("钢铁城今天主体风顶了", "topped_out"),      # 封顶
    ("钢铁城已经俊工了", "completed"),           # 竣工
    ("钢铁城昨天通过了竣工验受", "accepted"),     # 验收
    ("钢铁城今天正式头产", "operating"),         # 投产
    ("钢贴城今天开工", "started"),               # the project name by sound
])
def test_homophone_slips_on_domain_words_and_names(parser: Parser, text: str,
                                                    milestone: str) -> None:
    update = one(parser, text)
    assert update["project"] == "P007"
    assert [e["milestone"] for e in update["events"]] == [milestone]


@pytest.mark.parametrize("text", ["钢铁城的军工项目今天通过评审", "钢铁城提前约定了时间",
                                  "钢铁城登上峰顶团建"])
def test_real_words_that_sound_alike_are_left_alone(parser: Parser, text: str) -> None:
    assert one(parser, text)["events"] == []


def test_slip_must_not_cut_a_word() -> None:
    matcher = SoundMatcher(["签约"], [], {})
    text = "提前约定"
    assert matcher.slips(text, lambda t: [("提前", 0, 2), ("约定", 2, 4)]) == []
    assert [s.word for s in matcher.slips("已千约", lambda t: [("已", 0, 1), ("千", 1, 2),
                                                              ("约", 2, 3)])] == ["签约"]


def test_fillers_and_run_on_speech(parser: Parser) -> None:
    update = one(parser, "嗯那个钢铁城就是然后今天主体封顶了本月完成投资一点二亿元"
                         "还有就是征地问题需要协调一下")
    assert [(e["milestone"], e["status"]) for e in update["events"]] == [("topped_out", "done")]
    assert update["investment"] == [{"scope": "month", "wan_yuan": 12000}]
    assert [(i["category"], i["text"]) for i in update["issues"]] == [
        ("land", "征地问题需要协调一下")]


def test_split_verb_and_filler_part(parser: Parser) -> None:
    update = one(parser, "就是说钢铁城那个主体结构完成了百分之六十吧")
    assert (update["progress_pct"], update["progress_part"]) == (60, "主体结构")
    assert one(parser, "钢铁城上周一开的工")["events"] == [
        {"milestone": "started", "status": "done", "date": "2023-05-01"}]


def test_a_later_step_does_not_take_the_first_steps_date(parser: Parser) -> None:
    update = one(parser, "钢铁城计划下月封顶然后竣工")
    assert [(e["milestone"], e["date"]) for e in update["events"]] == [
        ("topped_out", "2023-06-30"), ("completed", None)]


def test_spoken_then_separates_two_problems(parser: Parser) -> None:
    u = one(parser, "钢铁城呃用地指标还没批下来然后那个施工用电也没接通")
    assert sorted(i["category"] for i in u["issues"]) == ["land", "utilities"]


@pytest.mark.parametrize(("text", "date"), [
    ("钢铁城没能按期封顶，估计下个月底", "2023-06-30"),
    ("钢铁城还没竣工嗯预计8月20号左右", "2023-08-20"),
    ("钢铁城没能按期投产推迟到9月底", "2023-09-30"),
])
def test_a_missed_milestone_and_its_new_expected_date(parser: Parser, text: str,
                                                      date: str) -> None:
    statuses = [(e["status"], e["date"]) for e in one(parser, text)["events"]]
    assert statuses == [("not_done", None), ("planned", date)]


@pytest.mark.parametrize(("text", "date"), [
    ("钢铁城主体封顶了嗯前天", "2023-05-08"),
    ("钢铁城已经开工了上礼拜一开始的", "2023-05-01"),
])
def test_the_day_said_after_a_done_milestone(parser: Parser, text: str, date: str) -> None:
    assert [(e["status"], e["date"]) for e in one(parser, text)["events"]] == [("done", date)]


def test_an_afterthought_date_never_makes_a_future_done(parser: Parser) -> None:
    assert [e["date"] for e in one(parser, "钢铁城封顶了，下礼拜一")["events"]] != ["2023-05-15"]


@pytest.mark.parametrize(("text", "pct", "part"), [
    ("钢铁城屋面防水做了一半", 50, "屋面防水"),
    ("钢铁城形象进度差不多百分之六十", 60, None),
    ("钢铁城幕墙弄了三成", 30, "幕墙"),
])
def test_spoken_shares_of_the_work(parser: Parser, text: str, pct: float,
                                   part: str | None) -> None:
    u = one(parser, text)
    assert (u["progress_pct"], u["progress_part"]) == (pct, part)


def test_a_filler_after_the_scope_word_keeps_the_scope(parser: Parser) -> None:
    u = one(parser, "钢铁城这个月呃完成投资三千二百万")
    assert [(i["scope"], i["wan_yuan"]) for i in u["investment"]] == [("month", 3200)]


@pytest.mark.parametrize(("text", "milestone"), [
    ("钢铁城屋面顶封了", "topped_out"),
    ("钢铁城合作协议前天签的", "signed"),
    ("钢铁城那块地已经摘了", "land"),
    ("钢铁城上个月开的业", "operating"),
])
def test_inverted_and_split_milestone_verbs(parser: Parser, text: str, milestone: str) -> None:
    assert [(e["milestone"], e["status"]) for e in one(parser, text)["events"]] == [
        (milestone, "done")]


def test_an_inverted_verb_under_a_plan_is_planned(parser: Parser) -> None:
    assert [e["status"] for e in one(parser, "钢铁城争取下个月把牌摘了")["events"]] == ["planned"]


@pytest.mark.parametrize(("text", "n"), [
    ("钢铁城呃电梯到货晚了", 1),
    ("钢铁城前两天大风耽误了工期", 1),
    ("钢铁城嗯之前那个用电问题解决了", 0),
])
def test_spoken_problems_and_settled_ones(parser: Parser, text: str, n: int) -> None:
    assert len(one(parser, text)["issues"]) == n
