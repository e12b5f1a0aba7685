"""The Chinese words people see for the codes the database stores: one vocabulary for chat
replies, alerts, digests and the Excel export, so a milestone is called the same everywhere."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

MILESTONE_LABELS: dict[str, str] = {  # in life-cycle order
    "signed": "签约",
    "land": "土地摘牌",
    "permit": "施工许可",
    "started": "开工",
    "topped_out": "主体封顶",
    "completed": "竣工",
    "accepted": "竣工验收",
    "operating": "投产运营",
}
MILESTONE_ORDER: dict[str, int] = {code: i for i, code in enumerate(MILESTONE_LABELS)}
EVENT_STATUS_LABELS: dict[str, str] = {"done": "已完成", "planned": "计划", "not_done": "未完成"}
STAGE_LABELS: dict[str, str] = {
    "preparing": "前期", "under_construction": "在建", "completed": "竣工",
    "operating": "投产运营",
}
PAST_PERIOD = "已超建设期"
UNFINISHED_STAGES = ("preparing", "under_construction")


def stage_label(stage: str, period_end: dt.date | None, today: dt.date) -> str:
    """The stage people see: a project not completed after its construction period (建设期)
    ended says so instead of 在建."""
    label = STAGE_LABELS.get(stage, stage)
    if stage in UNFINISHED_STAGES and period_end is not None and period_end < today:
        return PAST_PERIOD if stage == "under_construction" else f"{label}（{PAST_PERIOD}）"
    return label


SCOPE_LABELS: dict[str, str] = {  # of a completed-investment figure
    "month": "本月", "quarter": "本季度", "year": "本年", "cumulative": "累计",
    "unspecified": "",
}
CATEGORY_LABELS: dict[str, str] = {  # of a 交办件
    "land": "用地征拆", "funding": "资金", "approval": "审批手续", "utilities": "水电路配套",
    "construction": "施工", "other": "其他",
}
ALERT_KIND_LABELS: dict[str, str] = {
    "milestone_overdue": "节点逾期", "missing_report": "进度未报送", "issue_overdue": "交办件超期",
}


def milestone_label(code: str) -> str:
    return MILESTONE_LABELS.get(code, code)


def short_name(name: str, short_names: list[str] | None) -> str:
    """What people call a project: its first 简称, else its full name."""
    return short_names[0] if short_names else name


def fmt_date(day: dt.date) -> str:
    """The one date format in chat and sheets people read: 2023年5月31日."""
    return f"{day.year}年{day.month}月{day.day}日"


def fmt_money(wan_yuan: Decimal | float | int | str) -> str:
    """The one amount format in chat: 12000 → 1.2亿元; 3000 → 3000万元 (figures are kept in
    万元; from 1亿 on, offices speak in 亿元)."""
    amount = Decimal(str(wan_yuan))
    if abs(amount) >= 10000:
        amount /= Decimal(10000)
        return f"{format(amount.normalize(), 'f')}亿元"
    return f"{format(amount.normalize(), 'f')}万元"


def fmt_moment(local: dt.datetime) -> str:
    """A local instant in the same style: 2023年6月1日 08:30."""
    return f"{fmt_date(local.date())} {local:%H:%M}"


def period_words(key: str) -> str:
    """A report period as people say it: 2023-W21 → 2023年第21周, 2023-06 → 2023年6月."""
    year, sep, rest = key.partition("-")
    if not sep or not year.isdigit():
        return key
    if rest.startswith("W") and rest[1:].isdigit():
        return f"{year}年第{int(rest[1:])}周"
    if rest.isdigit():
        return f"{year}年{int(rest)}月"
    return key
