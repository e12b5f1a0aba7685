"""Completed investment (完成投资) with its scope, and progress percentages.

Only a figure reported as done counts: 总投资, 计划投资, 年度计划, 预计完成, 资金缺口 and 完成率
are not reports. The scope comes from the words before the figure in its clause."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from nlp.guard import guarded
from nlp.numbers import Span, find_money, find_percents

# (年度累计2.4亿元 and 累计：16.9亿元 in a report form are completed figures too.)
_DONE = re.compile(
    r"完成|累计投资|已投资|已投入|累计投入|实际投资|完成额|年度累计|(?:累计|合计|共计)(?:有|达到?)?\s*[:：]?\s*$"
    # said on the phone: 这个月投了八百万
    r"|投了|投进去了?|投入了"
    # shorthand: 本月投0.8亿, 10月投1.05亿, 开累15.1亿, 年累6.3亿
    r"|(?<![总计划])投\s*[~≈约]?\s*$|开累\s*[~≈约]?\s*$|年累\s*[~≈约]?\s*$"
    # 本月投资：1800万 (a form's label); 本月1.4亿，累计21亿 (a scope word alone before it)
    # 本月投资是3000万 (a correction restating the figure)
    r"|(?:本月|当月|本季度?|本年度?|年度|今年|全年|累计)\s*投资\s*(?:[:：]|应?[是为])?\s*$"
    # 4月投资3500万, 一季度投资1.9亿: a period's figure in a report; 一季度是2.6亿 (a correction)
    r"|(?:\d{1,2}月份?|[一二三四1-4]季度|本季度|上半年)\s*(?:投资|应?[是为])\s*$"
    r"|(?:本月|当月|今年|累计)\s*应?[是为]\s*$")
# 本月1.4亿，累计21亿: a scope word alone before a figure that ends its clause.
_BARE_SCOPE = re.compile(
    r"^\s*(?:本月|当月|这个月|本季度|本年|今年|全年|本年累计|全年累计|累计|开工以来|开累|年累"
    r"|\d{1,2}月份?)\s*[:：]?\s*$")
_NOT_DONE = re.compile(
    r"总投资|计划|预计|力争|争取|目标|任务|需要|还需|缺口|缺少|拟|有望|确保|要求|下达|缺"
    r"|拨付|贷款|融资|债|资金(?!完成)|估算|概算|申请"
    # money that is not investment: orders, output, revenue, tax, credit lines
    r"|订单|产值|营收|收入|税收|纳税|销售|利润|授信|增资|合同额|合同金额|签约额"
    # 本月还能完成1亿左右, 预计能完成: a forecast
    r"|能完成|还能|可完成|可以完成|有望完成|估计|应该能|大概能|能投"
)
# 7、8月份, 4月和5月: months next to each other (not a list's "2、" before 10月).
_MONTH_PAIRS = "(?<![\\d.])(?:" + "|".join(
    rf"{a}\s*月?\s*[、和及]\s*{b}" for a in range(1, 12) for b in range(a + 1, min(a + 3, 13))
) + ")"
_SCOPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    # 7、8月份: two months, no scope of the spec's
    ("unspecified", re.compile(_MONTH_PAIRS + r"\s*月"
                               r"|(?<![一\d])(?:两|三|几)个月(?!前|以前|之前)")),
    # 一季度累计, 一季度合计: the quarter's total so far, not since the start
    ("quarter", re.compile(r"(?:第?[一二三四1-4]|本)季度(?:以来)?(?:累计|合计|共计|总共|一共|共)")),
    # (前三季度, 上半年: the year so far; 今年共计: this year's total, not since the start)
    ("year", re.compile(r"年度累计|本年度?累计|今年以来|今年(?:累计|共计|总共|一共|共)|全年累计"
                        r"|去年(?:全年|累计|共|总共)?|年累"
                        r"|前[两二三1-3]个?季度|上半年"
                        r"|\d{1,2}\s*[-—~～至到]\s*\d{1,2}月"
                        r"|[一二三四五六七八九十]{1,2}\s*[-—~～至到]\s*[一二三四五六七八九十]{1,2}月"
                        r"|(?:19|20)\d{2}\s*年度?(?:全年)?[\u4e00-\u9fff]{0,4}?(?:共|总共|一共|累计)?"
                        r"(?=完成|累计|投资)")),
    ("cumulative", re.compile(
        r"累计|开累|开工以来|自开工|建设以来|开建以来|总共|共计|以来|截[至止]目前|截[至止]现在|至今|迄今")),
    ("quarter", guarded(r"本季度|当季|这个季度|第?[一二三四1-4]季度|(?<![上下前个])季度")),
    ("month", re.compile(
        r"本月|当月|这个月|上月|上个月|\d{1,2}月份?|[一二三四五六七八九十]{1,2}月份?")),
    ("year", re.compile(r"今年|年内|本年度|本年|全年|年度")),
)


# Cheap tests before the number patterns: no money without 万/亿/元, no share without these.
_MONEY_HINT = guarded(r"[万亿元]|投资|(?:本月|当月)\s*[:：]?\s*0(?![\d.])")
_MONEY_CHARS = re.compile(r"[万亿元]")
# Nothing invested, said as a figure (本月完成投资0, 投资为零, 本月0) or in words (本月无投资,
# 无新增投资): a figure of 0 for its scope.
_ZERO_FIGURE = guarded(r"(?<![\d.,])0(?:\.0+)?\s*(?:万元|亿元|元|万|亿)?(?![\d.,%])|(?<=为)零")
_NO_INVESTMENT = re.compile(r"(?:无|没有|未有|零)(?:新增)?(?:完成)?投资")
# A plan stated as such (下步计划：…, 下月计划完成…): figures after it, to the end of its
# sentence or line, are targets, not work done.
_PLAN_LEAD = guarded(
    r"(?:下步|下一步|下阶段|下月|下个月|下季度|明年|下周|今后)(?:工作)?(?:计划|打算|安排|目标)"
    r"|(?:^|(?<=[\n：:；;。]))\s*(?:工作)?计划\s*[:：]")
# (…下周计划A栋主体封顶；本季度截至目前完成投资…: a new statement of the period reported.)
_SENTENCE_END = re.compile(
    r"[。\n]|[；;]\s*(?=本季度|本月|当月|这个月|今年|本年|年度累计|累计|截[至止]目前|开工以来)")


def _plan_spans(text: str) -> list[tuple[int, int]]:
    out = []
    if "计划" not in text and "打算" not in text and "安排" not in text and "目标" not in text:
        return out
    for m in _PLAN_LEAD.finditer(text):
        end = _SENTENCE_END.search(text, m.end())
        out.append((m.start(), end.start() if end else len(text)))
    return out


def _in_spans(pos: int, spans: Sequence[tuple[int, int]]) -> bool:
    return any(a <= pos < b for a, b in spans)


def _money_and_zero(clause: str) -> list[Span]:
    """Money figures in a clause, with the figures that say nothing was invested."""
    spans = find_money(clause) if _MONEY_CHARS.search(clause) else []
    if "0" in clause or "零" in clause:
        spans += [Span(m.start(), m.end(), Decimal(0)) for m in _ZERO_FIGURE.finditer(clause)
                  if not any(s.start <= m.start() < s.end for s in spans)]
    if "投资" in clause:
        spans += [Span(m.end(), m.end(), Decimal(0)) for m in _NO_INVESTMENT.finditer(clause)]
    return sorted(spans, key=lambda s: s.start)
_SHARE_HINT = re.compile(r"[%成半]|分之")


@dataclass(frozen=True, slots=True)
class Amount:
    start: int
    end: int
    scope: str
    wan_yuan: Decimal


# 年度投资18亿任务已完成: the figure is the target (met), not the amount done.
_TARGET_AFTER = re.compile(r"\s*(?:的)?(?:任务|目标|计划)")


def extract_investment(text: str, clauses: Sequence[tuple[int, int]],
                       unnamed: str | None = None) -> list[Amount]:
    """Completed-investment figures in text order. `unnamed` is `text` with project names
    blanked, when known: a figure said of another project in the same sentence (A完成投资800万，
    B是900万) repeats what was said of the one before."""
    out: list[Amount] = []
    if not _MONEY_HINT.search(text):
        return out
    plans = _plan_spans(text)
    # 二季度计划完成4亿元，实际完成4.3亿元: the actual figure takes the plan's scope.
    plan_scope: str | None = None
    period: str | None = None  # the period a report's heading names (10月月报), read once
    done_before = False  # a completed figure earlier in this sentence (…，其中本月6000万元)
    for cs, ce in clauses:
        clause = text[cs:ce]
        left = 0
        for span in _money_and_zero(clause) if _MONEY_CHARS.search(clause) or (
                "0" in clause or "零" in clause or "投资" in clause) else ():
            window = clause[left:span.start]
            left = span.end
            if plans and _in_spans(cs + span.start, plans):
                continue
            if span.value == 0 and span.start == span.end:
                window = window + "完成"  # 本月无投资: said as done, nothing
            scope = _scope(window)
            if scope == "unspecified" and done_before and window.strip() in ("和", "及", "、", "与",
                                                                              "以及"):
                scope = out[-1].scope  # 本月分别完成A和B: B has A's scope
            if _OTHER_MONEY.search(window):
                continue  # 完成产值, 支付工程款: money, but not investment
            if _TARGET_AFTER.match(clause, span.end):
                continue  # 年度投资18亿任务已完成: the target (met), not the amount done
            if ("投资" not in window and "投资" not in text[:cs + span.start]
                    and scope == "unspecified"):
                continue  # a bare 完成4.1亿元 counts only in a message about investment
            # …，其中本月6000万元 / 分别完成1.5亿元和3000万元: said with the figure before.
            part_of_done = done_before and ("其中" in window
                                            or window.strip() in ("和", "及", "、", "与", "以及"))
            # A完成投资800万，B是900万 / B完成900万: the same statement for the next project,
            # with the scope of the one before unless it says its own.
            parallel = done_before and unnamed is not None and _named_between(
                text, unnamed, cs + span.start - len(window), cs + span.start)
            if parallel and scope == "unspecified":
                scope = out[-1].scope
            if parallel and _COPULA.fullmatch(unnamed[cs + span.start - len(window):
                                                      cs + span.start]):
                part_of_done = True
            bare = bool(_BARE_SCOPE.match(window)) and (
                not clause[span.end:].strip() or clause[span.end:].lstrip()[0] in "（(")
            if (not _DONE.search(window) and not part_of_done and not bare) \
                    or _NOT_DONE.search(window):
                plan_scope = scope if _PLAN.search(window) and scope != "unspecified" else None
                continue
            if scope == "unspecified" and plan_scope is not None:
                scope = plan_scope
            if scope == "unspecified":
                # 完成投资3500万，是本季度的 / 3500万（本季度）: the scope said after the figure.
                after = _AFTER_SCOPE.match(text, cs + span.end)
                if after is not None:
                    scope = _scope(after["scope"])
            plan_scope = None
            done_before = True
            if scope == "unspecified":
                if period is None:
                    heading = _PERIOD_HEADING.search(text)
                    period = (heading.lastgroup or "") if heading else ""
                scope = period or scope  # 10月工作情况：完成投资2300万元 is the month's
            out.append(Amount(cs + span.start, cs + span.end, scope, span.value))
        if ce < len(text) and text[ce] not in "，,":
            plan_scope, done_before = None, False  # the pairing stays within one sentence
    return out


_PLAN = re.compile(r"计划|力争|争取|目标|预计")
# What may stand between a figure and the next project's (B是900万, B为900万).
_COPULA = re.compile(r"[\s，,、；;]*(?:则|也|均)?(?:是|为|有|达到?)?\s*")
# The rest of a sentence naming only the figure's scope: 是本季度的, （本月）, 为当月数.
_AFTER_SCOPE = re.compile(
    r"\s*(?:[，,]\s*)?[（(]?\s*(?:这|此|该)?(?:是|为|系|属于?|均为|都是)?\s*"
    r"(?P<scope>本月|当月|这个月|本季度|当季|这个季度|第?[一二三四1-4]季度|今年|本年度?|全年"
    r"|年度累计|累计|开工以来)"
    r"(?:的|数|数据|完成的?|的数据?|投资)?\s*[)）]?\s*(?:[。！!；;\n]|$)")


def _named_between(text: str, unnamed: str, start: int, end: int) -> bool:
    """Whether a project name stands in text[start:end] (blanked in `unnamed`)."""
    return text[start:end] != unnamed[start:end]
# A report headed by its period (10月份工作情况, 二季度调度): a figure without scope is that
# period's.
_PERIOD_HEADING = re.compile(
    r"(?:^|\n)[^\n]{0,30}?(?:"
    r"(?P<month>(?<![\d-])(?:\d{1,2}|[一二三四五六七八九十]{1,3})月份?|本月|当月)"
    r"|(?P<quarter>(?:第?[一二三四1-4]|本)季度))"
    r"(?:(?:工作|项目|建设)?(?:月报|季报|情况|汇报|调度|进展|报告|小结|总结)"
    # 一季度：三一产业基地完成投资4.5亿，钢铁城完成3.8亿 — the period as the line's label
    r"|\s*[:：](?=[^\n]*\d))")
_OTHER_MONEY = re.compile(
    r"产值|营收|收入|销售|税|利润|工资|工程款|进度款|产量|出口|营业额|合同额|到位资金|招商引资"
)


# 截至5月底 says up to when, not which month the figure covers.
_AS_OF = re.compile(r"截[至止]\s*\S{0,6}?(?:月底|月末|月份?|日|号)")


# 本季度截至目前完成: so far within the period named, not since the start.
_SO_FAR = re.compile(r"截[至止](?:目前|现在)|至今|迄今")
_PERIOD = re.compile(r"本季度|当季|这个季度|本月|当月|这个月|今年|本年|全年")


def _scope(window: str) -> str:
    window = _AS_OF.sub("", window)
    if _PERIOD.search(window) and _SO_FAR.search(window):
        window = _SO_FAR.sub("", window)
    for name, pattern in _SCOPES:
        if pattern.search(window):
            return name
    return "unspecified"


@dataclass(frozen=True, slots=True)
class Share:
    """A share of the work reported done; `part` names the part of the work (主体结构, 外墙施工)
    or is None when the share is for the whole project."""

    start: int
    end: int
    value: Decimal
    part: str | None


# The words right before a share that say it is the work done: "X完成N%", "X进度达到N%",
# "X完成了工程量的N%". X, the words before them, names the part (or the whole).
_SHARE_HEAD = guarded(
    r"(?:(?:形象|工程|施工|整体|总体|建设)?进度|完成(?:了|总)?(?:总?工程量|工作量)?|工程量"
    # Spoken: 装修弄了一半, 基础做了八成.
    r"|(?:弄|做|干|搞)了)"
    r"(?:已经?|已|目前|基本|累计|达到?|为|是|在|约|大约|大概|差不多|将近|接近|近|超过|突破|了|的"
    r"|整体|总体"
    r"|只有|仅有?|才|有|[:：]|\s)*$"
)
# Whole-project words: 形象进度, 整体完成, 项目总体完成, 工程量.
_WHOLE = re.compile(r"^(?:形象|整体|总体|全部|全面|项目|工程|总工程量|工程量|建设|全线|项目整体|"
                    r"工程整体|项目总体|工程总体|总|整个项目|项目形象|工程形象|全部工程"
                    r"|(?:项目|工程|建设|施工)?(?:进展|情况)|进展情况)?$")
# Not a share of work: plans, money, rates (返岗率, 签约率, 出勤率, 年度计划完成率).
_SHARE_NOT = re.compile(
    r"计划|力争|目标|预计|确保|争取|要求|任务|投资|产值|资金|款|率|营收|税|招商|销售|人员|工人"
    # equipment delivered or bought (设备已到厂80%, 设备招标完成60%) is no work done
    r"|到厂|到货|到场|招标|采购|订货|入驻"
    # people or goods come and gone (货只来了三成, 分包队伍撤场了一半, 返岗六成) are no work done
    r"|来了|撤场|撤了|离场|走了|流失|返岗|到岗"
    # 实现双过半 (half the year gone, half the year's investment done): a target, not work
    r"|双\s*$")  # (not 双向, 双塔: the share follows 双 only in 双过半)
# Time and manner words that may stand between the project name and the part of the work.
_FILLER = guarded(
    r"截[至止]?(?:目前|现在|本周|今天|[^，,。；;\s]{0,6}?(?:月底|月末|日|号))"
    r"|(?:形象|整体|总体|工程|施工|项目)*进度[:：]?"
    r"|完成了?|那个|这个|目前|现在|当前|现已|本周|本月|今天|其中|已经|已|基本上?|累计|总共|共|均|也|都|的|约|全面"
)


_PART_BREAK = re.compile(r"\s+|和|及|与|、")
_FROM_FIGURE = re.compile(
    r"从?\s*\d+(?:\.\d+)?\s*%?\s*(?:提高|提升|增加|上升|增长|升|涨)?\s*(?:到|至)"
    r"(?=\s*\d+(?:\.\d+)?\s*%)")
_CHANGED_TO = re.compile(r"\s*(?:提|提升|提高|上升|增长|增加|降低?|下降|升|涨)?\s*(?:到|至)\s*")
_SHARE_OF = re.compile(
    r"完成了?(?P<obj>[\u4e00-\u9fff]{1,10}?)(?:总?(?:工程|工作)量)?的\s*(?:约|近|大约|超过)?\s*$")


_HAN_CHAR = re.compile(r"[\u4e00-\u9fff]")
_NOW = re.compile(r"现在|目前|当前|截至目前|眼下")
# A part of the work named alone before its share: a few characters, no verb of change.
_BARE_PART = re.compile(r"[A-Za-z0-9#＃\u4e00-\u9fff]{2,10}")
_NOT_WORK = re.compile(r"增长|下降|提高|降低|同比|环比|占|比例|概率|可能|把握|利润|收益|人|订单"
                       r"|产能|达产|负荷|利用|销售|合格|优良|覆盖|上涨|涨|降|满意|参保|入住|出租|招租")
_PART_CODE = re.compile(r"^[A-Za-z]?\d{0,3}[A-Za-z]?[#＃]?$")
_HEADING_WHOLE = re.compile(r"(?:进展|情况|进度|概况|动态)$|^$")


def extract_progress(text: str, clauses: Sequence[tuple[int, int]]) -> list[Share]:
    """Visual progress (形象进度) stated as a share of the work, for the whole project or for a
    named part of it, in text order. `text` should have project names blanked (spaces) so
    that what stands before 完成 is the part of the work, not the project."""
    out: list[Share] = []
    if not _SHARE_HINT.search(text):
        return out
    if "到" in text or "至" in text:
        # 形象从85%提高到92%, 85到92%: the figure now is the share (same length: offsets hold)
        text = _FROM_FIGURE.sub(lambda m: " " * len(m.group()), text)
    plans = _plan_spans(text)
    for ci, (cs, ce) in enumerate(clauses):
        clause = text[cs:ce]
        left = 0
        last_window = ""
        for span in find_percents(clause) if _SHARE_HINT.search(clause) else ():
            window = clause[left:span.start]
            left = span.end
            if last_window and _CHANGED_TO.fullmatch(window):
                window = last_window + window  # 良品率从80%提到93%: still the 良品率
            last_window = window
            if plans and _in_spans(cs + span.start, plans):
                continue  # 下月计划：…完成六成 is a target
            head = _SHARE_HEAD.search(window)
            if head is None:
                # 已完成主体工程的80%: the part is what the share is "of".
                of = _SHARE_OF.search(window)
                if of is not None and not _SHARE_NOT.search(of["obj"]):
                    obj = _FILLER.sub("", of["obj"])
                    whole = not obj or bool(_WHOLE.match(obj))
                    out.append(Share(cs + span.start, cs + span.end, span.value,
                                     None if whole else obj))
                elif not clause[span.end:].strip(" 。；;，,左右以上了"):
                    # 实验室装修60%, 新建厂房五成, 整体45%: a part of the work and its share,
                    # the whole clause.
                    bare = _FILLER.sub("", window.strip()).strip(" ：:")
                    if (bare and _BARE_PART.fullmatch(bare) and not _SHARE_NOT.search(bare)
                            and not _NOT_WORK.search(bare)):
                        out.append(Share(cs + span.start, cs + span.end, span.value,
                                         None if _WHOLE.match(bare) else bare))
                continue
            before = window[: head.start()]
            said = window[head.start():]
            if _SHARE_NOT.search(said):
                continue
            # The part is what stands between the last break (a space left by a blanked
            # project name, a connective) and the head word.
            part = _PART_BREAK.split(before.strip())[-1] if before.strip() else ""
            part = _NOW.split(part)[-1]
            # (计划4月底竣工现在整体完成85%: the plan ends where 现在 starts a new statement.)
            recent = _NOW.split(before[-12:])[-1]
            if _SHARE_NOT.search(recent) and not said.startswith("形象"):
                continue
            part = _FILLER.sub("", part).strip(" ：:，,")
            if not part and ci and text[clauses[ci - 1][1]:cs].strip() in ("：", ":"):
                # 3#楼：完成40%: the part is the label the share stands under.
                part = _FILLER.sub("", text[clauses[ci - 1][0]:clauses[ci - 1][1]].strip())
                if _HEADING_WHOLE.search(part):
                    part = ""  # 本月进展：完成60% is the whole project's
            whole = bool(_WHOLE.match(part)) or said.startswith(("形象", "整体", "总体"))
            # Digits and letters of a part's name (8英寸线, 3#楼, A区) do not count towards
            # its length; a name of digits and letters alone (1#, A2) is a part too.
            if not whole and (len(_HAN_CHAR.findall(part)) > 16
                              or not (_HAN_CHAR.search(part) or _PART_CODE.match(part))):
                continue
            out.append(Share(cs + span.start, cs + span.end, span.value,
                             None if whole else part))
    return out
