"""Self-corrections in speech: "完成投资二千五，不对，是二千六百万", "钢铁城，哦不对，是三一硅能".

The corrected value wins and the retracted one records nothing. The message is rewritten as if
the speaker had said it right the first time (this changes its length, so it runs before any
offsets are taken):
- the correction is a bare value (一千八百万, 四分之三, 五十八, 明天): it replaces the last value
  of the same kind in the clause before (a unit or 百分之 the correction leaves out is kept);
- it names what it corrects (进场是今天, 累计是八个亿): the same, within that clause;
- it is a whole clause (是明天开工, 是三一硅能): it replaces the clause before, keeping a project
  name that clause opened with unless the correction names one itself;
- "不是A，是B": only B is said.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

# The retraction: its own clause (after a comma), then what was meant. The match starts at
# the retraction's first word, the separators before it looked back at, not consumed: a
# search that consumed them would rescan a long run of them from each of its places
# (quadratic); the clause before ends where the run starts (find_mark).
_MARK = re.compile(
    r"(?<=[，,。；;\s])(?:(?:哦|噢|啊|呃|嗯)[，,]?\s*)?"
    r"(?:不对(?:[，,]?\s*不对)?|(?:我|刚才)?(?:说|讲|报|搞|写)错了|口误)"
    r"(?:[，,]?\s*(?:不对|(?:我|刚才)?(?:说|讲|报|搞|写)错了))?"
    r"(?=[，,：:\s]|是|应该)[，,：:\s]*(?:应该是|应该|是)?\s*"
)
# 说错了，不是四月初，是四月底 / 不是资金的事，是手续: the "not" part records nothing.
_NOT_BUT = re.compile(
    r"(?:(?:我|刚才)?(?:说|讲|报|搞|写)错了[，,]\s*)?(?<![是可要还并也就都])不是(?P<no>[^，,。；;！!？?\n]{1,12})"
    r"[，,]\s*而?是(?P<yes>[^，,。；;！!？?\n]+)")
_BOUNDARY = re.compile(r"[，,。；;！!？?\n]")
_CN = "零〇一二两三四五六七八九十百千"
# A figure: 百分之 and a unit are parts the correction may leave out (不对，五十八).
_NUMBER = re.compile(
    rf"(?P<pre>百分之)?(?P<core>(?:\d+(?:\.\d+)?|[{_CN}]+(?:点[{_CN}]+)?)(?:分之[{_CN}]+)?)"
    rf"(?P<unit>个?[亿万](?:[{_CN}]+万?)?元?|元|成[一二三四五六七八九]?|%)?"
)
_DATE = re.compile(
    rf"大?前天|昨天|今天|明天|大?后天|(?:[{_CN}\d]+月)?[{_CN}\d]+[日号]"
    rf"|(?:[{_CN}\d]+月)(?:初|中旬|下旬|上旬|底|份)?|(?:上|下|这|本)个?(?:星期|周)[一二三四五六日天]?"
)
_WHAT = re.compile(r"(?P<what>[\u4e00-\u9fff]{1,4}?)(?:是|为|在)")


def _last(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    last = None
    for m in pattern.finditer(text):
        last = m
    return last


def _value(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    m = pattern.fullmatch(text)
    return m if m and m.group() else None


def _substitute(clause: str, fix: str) -> str | None:
    """The clause with its value replaced by `fix` (a bare value, or 'what是value'), or None."""
    scope = clause
    what = _WHAT.match(fix)
    if what and what["what"] in clause and not _value(_NUMBER, fix) and not _value(_DATE, fix):
        # 累计是八个亿: look for the value after the word named
        at = clause.rindex(what["what"])
        scope, fix = clause[at:], fix[what.end():]
    else:
        at = 0
    if (new := _value(_NUMBER, fix)) is not None and new["core"]:
        old = _last(_NUMBER, scope) or _last(_NUMBER, clause)
        if old is None or not old["core"]:
            return None
        value = (new["pre"] or old["pre"] or "") + new["core"] + (new["unit"] or old["unit"] or "")
    elif (new := _value(_DATE, fix)) is not None:
        old = _last(_DATE, scope) or _last(_DATE, clause)
        if old is None:
            return None
        value = new.group()
    else:
        return None
    if old.string is clause:
        at = 0
    return clause[:at + old.start()] + value + clause[at + old.end():]


def find_mark(text: str, pos: int) -> tuple[int, re.Match[str]] | None:
    """The first retraction whose separators start at or after `pos`: where the clause before
    it ends (its run of separators starts there, not before `pos`) and the mark."""
    m = _MARK.search(text, pos + 1)  # (a separator at pos or later stands before it)
    if m is None:
        return None
    at = m.start()
    while at > pos and (text[at - 1] in "，,。；;" or text[at - 1].isspace()):
        at -= 1
    return at, m


def apply_corrections(text: str, names: Callable[[str], Sequence[tuple[int, int]]]) -> str:
    """`text` as meant: each retraction and the value or clause it retracts removed.
    `names` gives the spans of project names in a piece of text."""
    if "不是" in text:
        # 不是下周封顶，是9月底: the value put into what it corrects (9月底封顶)
        text = _NOT_BUT.sub(lambda m: _substitute(m["no"], m["yes"]) or m["yes"], text)
    if "错" not in text and "不对" not in text:
        return text
    pos = 0
    while (found := find_mark(text, pos)) is not None:
        said, m = found
        start = said  # back to the boundary before it (a scan from 0 would be per match)
        while start and not _BOUNDARY.match(text, start - 1):
            start -= 1
        clause = text[start:said]
        end_m = _BOUNDARY.search(text, m.end())
        end = end_m.start() if end_m else len(text)
        fix = text[m.end():end].strip()
        if not clause.strip() or not fix:
            pos = m.end()
            continue
        new = _substitute(clause, fix)
        if new is None:
            # A whole clause restated: it replaces the one before, which keeps the project it
            # opened with (三一产业基地今天开工，不对，是明天开工).
            said = names(clause)
            head = said[0] if said and not clause[:said[0][0]].strip() else None
            new = fix
            if head is not None and head[1] < len(clause.rstrip()) and not names(fix):
                new = clause[:head[1]] + fix
        text = text[:start] + new + text[end:]
        pos = start + len(new)
    return text
