"""Clause splitting and dropping what records nothing."""

from __future__ import annotations

from nlp.clauses import clause_spans, drop_non_reports


def _clauses(text: str) -> list[str]:
    return [text[a:b] for a, b in clause_spans(text)]


def test_numbered_lists_semicolons_and_line_breaks() -> None:
    text = "调度：\n1、甲：已开工；2. 乙：本月完成投资5亿元\n③丙：暂无困难。(4)丁：封顶"
    assert _clauses(text) == ["调度", "甲", "已开工", "乙", "本月完成投资5亿元", "丙", "暂无困难",
                              "丁", "封顶"]


def test_decimal_is_not_a_list_marker() -> None:
    assert _clauses("完成投资 1.2亿元") == ["完成投资 1.2亿元"]


def test_space_between_chinese_words_splits() -> None:
    assert _clauses("今天通车🚗 开工以来累计完成投资") == ["今天通车🚗", "开工以来累计完成投资"]


def test_questions_and_notices_are_blanked_keeping_offsets() -> None:
    text = "钢铁城今天封顶。请问月报怎么填？通知：周五开会。"
    out = drop_non_reports(text)
    assert len(out) == len(text)
    assert out.strip() == "钢铁城今天封顶。"
    assert drop_non_reports("还在办理呢") == "还在办理呢"
