"""Completed investment (完成投资) with its scope, and progress percentages.

Only a figure reported as done counts: 总投资, 计划投资, 年度计划, 预计完成, 资金缺口 and 完成率
are not reports. The scope comes from the words before the figure in its clause."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from nlp.numbers import Span, find_money, find_percents

# (年度累计2.4亿元 and 累计：16.9亿元 in a report form are completed figures too.)
_DONE = re.compile(
    r"完成|累计投资|已投资|已投入|累计投入|实际投资|完成额|年度累计|累计\s*[:：]?\s*$")
_NOT_DONE = re.compile(
    r"总投资|计划|预计|力争|争取|目标|任务|需要|还需|缺口|缺少|拟|有望|确保|要求|下达|缺"
    r"|拨付|贷款|融资|债|资金(?!完成)|估算|概算|申请"
)
_SCOPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("year", re.compile(r"年度累计|今年以来|今年累计|\d{1,2}\s*[-—~～至到]\s*\d{1,2}月")),
    ("cumulative", re.compile(
        r"累计|开工以来|建设以来|开建以来|总共|共计|以来|截[至止]目前|截[至止]现在|至今|迄今")),
    ("quarter", re.compile(r"本季度|当季|这个季度|第?[一二三四1-4]季度")),
    ("month", re.compile(
        r"本月|当月|这个月|上月|上个月|\d{1,2}月份?|[一二三四五六七八九十]{1,2}月份?")),
    ("year", re.compile(r"今年|年内|本年度|本年|全年|年度")),
)


@dataclass(frozen=True, slots=True)
class Amount:
    start: int
    end: int
    scope: str
    wan_yuan: Decimal


def extract_investment(text: str, clauses: Sequence[tuple[int, int]]) -> list[Amount]:
    """Completed-investment figures in text order."""
    out: list[Amount] = []
    # 二季度计划完成4亿元，实际完成4.3亿元: the actual figure takes the plan's scope.
    plan_scope: str | None = None
    done_before = False  # a completed figure earlier in this sentence (…，其中本月6000万元)
    for cs, ce in clauses:
        clause = text[cs:ce]
        left = 0
        for span in find_money(clause):
            window = clause[left:span.start]
            left = span.end
            scope = _scope(window)
            if scope == "unspecified" and done_before and window.strip() in ("和", "及", "、", "与",
                                                                              "以及"):
                scope = out[-1].scope  # 本月分别完成A和B: B has A's scope
            if _OTHER_MONEY.search(window):
                continue  # 完成产值, 支付工程款: money, but not investment
            if ("投资" not in window and "投资" not in text[:cs + span.start]
                    and scope == "unspecified"):
                continue  # a bare 完成4.1亿元 counts only in a message about investment
            # …，其中本月6000万元 / 分别完成1.5亿元和3000万元: said with the figure before.
            part_of_done = done_before and ("其中" in window
                                            or window.strip() in ("和", "及", "、", "与", "以及"))
            if (not _DONE.search(window) and not part_of_done) or _NOT_DONE.search(window):
                plan_scope = scope if _PLAN.search(window) and scope != "unspecified" else None
                continue
            if scope == "unspecified" and plan_scope is not None:
                scope = plan_scope
            plan_scope = None
            done_before = True
            out.append(Amount(cs + span.start, cs + span.end, scope, span.value))
        if ce < len(text) and text[ce] not in "，,":
            plan_scope, done_before = None, False  # the pairing stays within one sentence
    return out


_PLAN = re.compile(r"计划|力争|争取|目标|预计")
_OTHER_MONEY = re.compile(
    r"产值|营收|收入|销售|税|利润|工资|工程款|进度款|产量|出口|营业额|合同额|到位资金|招商引资"
)


# 截至5月底 says up to when, not which month the figure covers.
_AS_OF = re.compile(r"截[至止]\s*\S{0,6}?(?:月底|月末|月份?|日|号)")


def _scope(window: str) -> str:
    window = _AS_OF.sub("", window)
    for name, pattern in _SCOPES:
        if pattern.search(window):
            return name
    return "unspecified"


# 整体完成了九成 / 主体已完成七成: a share of the whole work, said without the word 进度.
_PROGRESS_CONTEXT = re.compile(
    r"进度|完成总工程量|工程量完成|总工程量|(?:整体|总体|全部|主体|工程)(?:工程)?(?:已|已经)?完成了?"
)
_PROGRESS_NOT = re.compile(r"计划|力争|目标|预计|确保|争取|率|款")
# 目前完成85%: a share right after "done so far", with nothing else named as its whole.
_DONE_SHARE = re.compile(
    r"(?:^\s*|目前|现在|现已|已经|已|累计)完成了?(?:约|近|超过|达到)?\s*$")


def extract_progress(text: str, clauses: Sequence[tuple[int, int]]) -> list[Span]:
    """Overall / visual progress stated as a share of the work (形象进度80%, 进度达到八成)."""
    out: list[Span] = []
    for cs, ce in clauses:
        clause = text[cs:ce]
        left = 0
        for span in find_percents(clause):
            window = clause[left:span.start]
            left = span.end
            ctx = _PROGRESS_CONTEXT.search(window)
            if ctx is None and _DONE_SHARE.search(window) and not _PROGRESS_NOT.search(window):
                out.append(Span(cs + span.start, cs + span.end, span.value))
                continue
            if ctx is None or _PROGRESS_NOT.search(window[ctx.end():]):
                continue
            if _PROGRESS_NOT.search(window[: ctx.start()]) and "形象" not in window:
                continue
            out.append(Span(cs + span.start, cs + span.end, span.value))
    return out
