"""The parser never raises and always returns the spec's shape, whatever the input."""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nlp.parser import Parser
from nlp.types import INVESTMENT_SCOPES, ISSUE_CATEGORIES, MILESTONES

_PIECES = st.sampled_from([
    "三一产业基地", "钢铁城", "今天", "开工", "封顶", "还没", "计划", "下周三", "完成投资",
    "1.2亿元",
    "形象进度", "80%", "，", "；", "。", "？", "1、", "②", "\n", "征拆", "请协调", "竣工验收",
    "一亿两千万", "百分之", "号", "月底", "🎉", "\x00", "\u200b", "９", "億", "...", "万万亿亿",
])
_TEXT = st.one_of(
    st.text(max_size=300),
    st.lists(_PIECES, max_size=60).map("".join),
    st.text(alphabet="0123456789.%/-", max_size=200),
)


def _check(result_json: dict) -> None:
    json.dumps(result_json, ensure_ascii=False)
    for u in result_json["updates"]:
        assert set(u) == {"project", "events", "progress_pct", "progress_part", "investment",
                          "issues"}
        for e in u["events"]:
            assert e["milestone"] in MILESTONES
            assert e["status"] in ("done", "planned", "not_done")
            assert e["date"] is None or dt.date.fromisoformat(e["date"])
            if e["status"] == "not_done":
                assert e["date"] is None
        for i in u["investment"]:
            assert i["scope"] in INVESTMENT_SCOPES and i["wan_yuan"] > 0
        for i in u["issues"]:
            assert i["category"] in ISSUE_CATEGORIES
        assert u["progress_pct"] is None or 0 <= u["progress_pct"] <= 100


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_TEXT, sender=st.sampled_from([None, "", "孙浩", "罗军", "无名氏"]),
       sent=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31)))
def test_any_text_gives_a_well_formed_result(parser: Parser, text: str, sender: str | None,
                                            sent: dt.date) -> None:
    _check(parser.parse(text, sender=sender, sent=sent).to_json())
    assert isinstance(parser.find_projects(text), list)


def test_extreme_inputs(parser: Parser) -> None:
    sent = dt.date(2023, 5, 10)
    for text in ["", " ", "\x00\x01\x02", "9" * 20000, "三一产业基地今天开工，" * 2000,
                 "🎉" * 5000, "（" * 10000, "1、" * 7000, "百分之" * 5000, "\n" * 20000,
                 "一二三四五六七八九十百千万亿点" * 1500]:
        _check(parser.parse(text, sender=None, sent=sent).to_json())
