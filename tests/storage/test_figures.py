"""The investment figures /status, the digest and the export share (storage.figures)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from storage.figures import Cumulative, cumulative_investment, latest_cumulative, year_investment
from storage.labels import stage_label
from storage.models import InvestmentFact


def fact(scope: str, wan: int, day: dt.date, id_: int) -> InvestmentFact:
    return InvestmentFact(id=id_, scope=scope, wan_yuan=Decimal(wan), as_of=day)


def test_months_add_up_and_a_later_report_corrects_its_month() -> None:
    months = [
        fact("month", 100, dt.date(2023, 3, 10), 1),
        fact("month", 150, dt.date(2023, 3, 31), 2),  # corrects March
        fact("month", 200, dt.date(2023, 4, 30), 3),
        fact("month", 999, dt.date(2022, 12, 31), 4),  # last year
        fact("quarter", 7000, dt.date(2023, 3, 31), 5),  # overlaps the months: not added
    ]
    assert year_investment(months, 2023) == Decimal(350)
    assert year_investment(months, 2021) is None


def test_a_year_figure_covers_the_whole_year() -> None:
    facts = [fact("month", 100, dt.date(2023, 3, 10), 1),
             fact("year", 800, dt.date(2023, 4, 30), 2),
             fact("year", 900, dt.date(2023, 5, 31), 3)]
    assert year_investment(facts, 2023) == Decimal(900)


def test_growth_of_the_cumulative_figure_when_nothing_else_says() -> None:
    last_year = fact("cumulative", 50000, dt.date(2022, 12, 31), 1)
    now = fact("cumulative", 62000, dt.date(2023, 5, 31), 2)
    assert year_investment([last_year, now], 2023) == Decimal(12000)
    assert year_investment([now], 2023) is None  # no starting point
    assert latest_cumulative([last_year, now]) is now
    assert latest_cumulative([fact("month", 1, dt.date(2023, 1, 1), 3)]) is None


def test_the_later_report_wins_whatever_order_they_were_confirmed_in() -> None:
    newer = InvestmentFact(id=1, report_id=9, scope="month", wan_yuan=Decimal(870),
                           as_of=dt.date(2023, 5, 10))
    older_confirmed_last = InvestmentFact(id=2, report_id=8, scope="month",
                                          wan_yuan=Decimal(860), as_of=dt.date(2023, 5, 10))
    assert year_investment([newer, older_confirmed_last], 2023) == Decimal(870)


def test_cumulative_is_the_latest_reported_else_the_ledger() -> None:
    reported = [fact("cumulative", 662000, dt.date(2023, 5, 9), 1),
                fact("cumulative", 650000, dt.date(2023, 4, 9), 2),
                fact("month", 12000, dt.date(2023, 5, 9), 3)]
    assert cumulative_investment(Decimal(65), reported) == Cumulative(
        Decimal("66.2"), dt.date(2023, 5, 9))
    assert cumulative_investment(Decimal(65), reported[2:]) == Cumulative(Decimal(65), None)
    assert cumulative_investment(None, []) == Cumulative(None, None)


def test_stage_label_past_the_construction_period() -> None:
    day = dt.date(2023, 6, 1)
    assert stage_label("under_construction", dt.date(2023, 5, 31), day) == "已超建设期"
    assert stage_label("under_construction", dt.date(2023, 6, 1), day) == "在建"
    assert stage_label("preparing", dt.date(2023, 1, 31), day) == "前期（已超建设期）"
    assert stage_label("completed", dt.date(2020, 1, 31), day) == "竣工"
    assert stage_label("under_construction", None, day) == "在建"
