"""Numerals, money, percentages and date resolution."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from nlp.dates import find_dates
from nlp.normalize import normalize, standard_speech
from nlp.numbers import cn_to_decimal, find_money, find_percents


@pytest.mark.parametrize(("text", "value"), [
    ("三十", 30), ("二十五", 25), ("一百零五", 105), ("两千", 2000), ("十二万五千", 125000),
    ("一亿两千万", 120000000), ("二〇二三", 2023), ("二○二三", 2023), ("十六点六", Decimal("16.6")),
    ("十六点六亿", Decimal("1660000000")),
])
def test_chinese_numerals(text: str, value: int | Decimal) -> None:
    assert cn_to_decimal(text) == Decimal(value)


@pytest.mark.parametrize(("text", "wan"), [
    ("完成投资2.4亿元", Decimal("24000")),
    ("完成投资2.4个亿", Decimal("24000")),
    ("完成4500万元", Decimal("4500")),
    ("完成投资二十一亿元", Decimal("210000")),
    ("完成投资一亿五千万元", Decimal("15000")),
    ("完成投资六千万元", Decimal("6000")),
    ("完成投资四点五亿元", Decimal("45000")),
    ("完成投资2亿3000万元", Decimal("23000")),
    ("支付50000元", Decimal("5")),
    # Arabic digits with Chinese units, thousands commas, a unit that is part of the numeral
    ("完成3千万", Decimal("3000")), ("完成2千5百万", Decimal("2500")),
    ("完成投资1亿2千万", Decimal("12000")), ("完成1,200万元", Decimal("1200")),
    ("完成投资四亿五千万", Decimal("45000")), ("完成12000万元", Decimal("12000")),
])
def test_money_in_wan_yuan(text: str, wan: Decimal) -> None:
    [span] = find_money(text)
    assert span.value == wan


def test_company_names_are_not_numbers() -> None:
    assert find_money("三一集团和一期工程") == []
    assert find_money("5万吨负极材料") == []


@pytest.mark.parametrize(("text", "pct"), [
    ("形象进度72%", Decimal("72")), ("百分之六十五", Decimal("65")), ("九成", Decimal("90")),
    ("过半", Decimal("50")), ("四分之三", Decimal("75.00")), ("三分之二", Decimal("66.67")),
])
def test_percentages(text: str, pct: Decimal) -> None:
    [span] = find_percents(text)
    assert span.value == pct


def test_full_width_and_traditional_are_normalised() -> None:
    assert normalize("完成投資１２００萬元，進度８０％") == "完成投资1200万元，进度80%"
    assert len(normalize("開工\x00啦")) == 4


SENT = dt.date(2023, 5, 10)  # a Wednesday


@pytest.mark.parametrize(("text", "date"), [
    ("今天", "2023-05-10"), ("昨天", "2023-05-09"), ("前天", "2023-05-08"),
    ("明天", "2023-05-11"), ("后天", "2023-05-12"),
    ("本周五", "2023-05-12"), ("下周三", "2023-05-17"), ("下周", "2023-05-21"),
    ("月底", "2023-05-31"), ("下月底", "2023-06-30"), ("下月中旬", "2023-06-20"),
    ("下个月初", "2023-06-10"), ("7月初", "2023-07-10"), ("中旬", "2023-05-20"),
    ("三季度", "2023-09-30"), ("上半年", "2023-06-30"), ("年底", "2023-12-31"),
    ("年内", "2023-12-31"), ("明年3月", "2024-03-31"), ("明年二季度", "2024-06-30"),
    ("2023.9.15", "2023-09-15"), ("2024年1月8日", "2024-01-08"), ("6/18", "2023-06-18"),
    ("26号", "2023-05-26"), ("8月15日", "2023-08-15"), ("十月", "2023-10-31"),
    ("11月下旬", "2023-11-30"), ("2024年3月", "2024-03-31"), ("上周五", "2023-05-05"),
    ("上月底", "2023-04-30"), ("国庆", "2023-10-01"),
    # week words people type besides 周: 星期, 礼拜, with 个 or 这
    ("下礼拜三", "2023-05-17"), ("下个星期五", "2023-05-19"), ("这星期五", "2023-05-12"),
    ("上个礼拜二", "2023-05-02"), ("下个礼拜", "2023-05-21"), ("星期四", "2023-05-11"),
])
def test_dates_resolve_to_the_deadline(text: str, date: str) -> None:
    [span] = find_dates(text, SENT)
    assert span.date.isoformat() == date


def test_scope_words_are_not_dates() -> None:
    assert find_dates("本月完成投资", SENT) == []


@pytest.mark.parametrize(("text", "standard"), [
    ("还冇开工", "还没开工"), ("莫得啥子问题", "没有什么问题"), ("冇得变化", "没有变化"),
    ("木有进展", "没有进展"), ("上个礼拜三", "上个星期三"), ("元月中旬", "一月中旬"),
    ("完成了1200W", "完成了1200万"), ("3500w元", "3500万元"),
    # not rewritten: a unit after a letter (110kW), a company name (红木有限公司)
    ("110kW变压器", "110kW变压器"), ("红木有限公司", "红木有限公司"),
])
def test_spoken_forms_become_standard_of_the_same_length(text: str, standard: str) -> None:
    assert standard_speech(text) == standard
    assert len(standard_speech(text)) == len(text)
