"""The parser: one per registry; `parse` turns one message into updates (spec: parsing.md)."""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import functools
import logging
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jieba

from nlp.clauses import (
    blank_bot_cards,
    blank_fillers,
    blank_retracted,
    clause_spans,
    drop_non_reports,
)
from nlp.corrections import apply_corrections
from nlp.dates import find_dates
from nlp.investment import extract_investment, extract_progress
from nlp.issues import extract_issues
from nlp.lexicon import DOMAIN_WORDS, GENERIC_NAME_WORDS, SOUND_WORDS
from nlp.milestones import extract_events, milestone_spans_by_clause
from nlp.normalize import normalize, standard_speech
from nlp.numbers import plain_numerals
from nlp.projects import Mention, ProjectMatcher
from nlp.segment import Segmenter, log_freqs, pairs_pattern
from nlp.sound import Slip, SoundMatcher, apply
from nlp.tables import Inferred, rewrite
from nlp.types import (
    Doubt,
    Event,
    Investment,
    Issue,
    ParseResult,
    ProjectEntry,
    Unsure,
    Update,
)

log = logging.getLogger(__name__)
jieba.setLogLevel(logging.WARNING)

# Frequency for our own words: high enough that jieba keeps a project name whole.
_WORD_FREQ = 200_000
# The parser reads at most this much of a message (Telegram's own limit; the raw text is
# stored whole). Parsing is linear in length: bench/parse_bench.py times the worst cases here.
MAX_CHARS = 4096
_base_lock = threading.Lock()
_COORDINATED = re.compile(r"\s*(?:和|与|及|以及|跟|同|、)\s*")
# A status saying nothing has changed (spec: terse replies), the whole message: who speaks
# (我们这边, 项目上: the contact, of their project), when, then the status itself — nothing new,
# nothing wrong (暂无困难, 无需协调), or work going on as usual (正常施工中) — or several of them
# (本周无新进展，无问题), after an acknowledgement (收到，…). Not 没问题: "yes, will do".
_TERSE_ONE = (
    r"(?:(?:我们|咱们|我)?的?(?:这边|这里|这儿|那边|项目上?|工地上?|现场|这(?=没)))?"
    # (when and what, in any order: 本周项目, 项目推进情况, 本月工程进展)
    r"(?:本周|这周|这个?星期|本星期|本月|这个月|近期|最近|目前|今天|今日|当日|本期|项目|工程|推进|建设|施工"
    r"|进展|进度)*(?:情况)?(?:也|都|均)?"
    r"(?:(?:无|没有?|暂无|尚无|暂时没有)(?:什么)?(?:新|大的?)?(?:进展|变化|情况|进度|更新|新情况|动态)"
    r"|(?:无|没有?)变化|同上|同上周|同前|同上周?|和上周一样|与上周(?:相同|一样)|一切照旧|照旧"
    r"|同昨天|同昨日|与昨天(?:相同|一样)|(?:无|没有)新增(?:情况)?"
    r"|(?:与|和|同|跟)上个?(?:周|星期|期|次|月)(?:相同|一样|无变化)"
    r"|(?:无|没有|暂无|暂时没有|尚无|没什么|没啥)(?:什么)?(?:困难|问题|困难和问题|困难问题)"
    # 存在问题：无 (a form's line, typed out)
    r"|(?:存在的?)?(?:困难和?问题|问题|困难)[:：]?(?:无|暂无|没有)"
    r"|(?:无|暂无|不|没(?:有)?(?:什么)?|暂时没有?)需(?:要)?(?:区里)?协调(?:解决)?(?:的)?(?:事项|问题)?"
    r"|一切(?:正常|顺利)|其[他它](?:无变化|没有?变化|正常|照旧)"
    # 没什么事, and work moved round a hindrance with no time lost (进度没耽误)
    r"|没(?:什么|啥)事(?:情|儿)?|(?:进度|工期)(?:没|未)(?:有)?(?:耽误|受影响|影响)"
    r"|(?:正常|有序|稳步|按计划)(?:施工|推进|建设|生产)中?|(?:施工|进度|进展)(?:正常|顺利)"
    r"|在建中|施工中|无)"
)
_TERSE = re.compile(
    rf"(?:收到|好的|是的|对的?|嗯)?[，,、\s]*{_TERSE_ONE}(?:[，,、；;]?{_TERSE_ONE})*")
# Spoken fillers anywhere in a terse reply (那个 and 就是 also mid-sentence, where the clause
# rules leave them: 我们这边那个本周无新进展).
_TERSE_FILLER = re.compile(r"\s+|那个|这个(?![月季星礼周])|就是说?|然后|的话|[嗯呃啊哈吧呀呢哦]")
_POLITE = re.compile(r"[，,。.！!\s]*(?:谢谢|请知悉|特此报告|汇报完毕|报告完毕)[。.！!\s]*$"
                     r"|^\s*(?:领导好|各位领导好|您好|你好)[，,！!\s]*")
_TERSE_STRIP = " \t\n。.！!，,~～、"
_PART_OF_NAME = re.compile(r"[段侧]")
_CODE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{1,3}\d{2,6}(?![A-Za-z0-9])")
# A letter then a digit: in every code, and found at C speed (_CODE, opening with a
# lookbehind, is tried at every character).
_CODE_HINT = re.compile(r"[A-Za-z]\d")


@functools.cache
def _base_tokenizer() -> jieba.Tokenizer:
    """jieba with its bundled dictionary, loaded once per process and never modified."""
    with _base_lock:
        tk = jieba.Tokenizer()
        tk.initialize()
        return tk


@functools.cache
def _base_log_freqs() -> dict[str, float | None]:
    return log_freqs(_base_tokenizer().FREQ)


def _new_segmenter(names: Iterable[str], words: Iterable[str]) -> Segmenter:
    """jieba's dictionary (shared, not copied from disk) plus project names (always kept
    whole) and other words (added when jieba lacks them), as jieba's add_word would add
    them: the same tokens as a jieba.Tokenizer so extended."""
    base = _base_tokenizer()
    added: dict[str, int] = {}

    def freq(word: str) -> int:
        return added[word] if word in added else base.FREQ.get(word, 0)

    order: list[tuple[str, int]] = []
    for name in names:
        if name and freq(name) < _WORD_FREQ:
            added[name] = _WORD_FREQ
            order.append((name, _WORD_FREQ))
    for word in words:
        if word and not freq(word):
            added[word] = _WORD_FREQ
            order.append((word, _WORD_FREQ))
    return Segmenter(_base_log_freqs(), base.total, order)


@dataclass(slots=True)
class _Group:
    key: str
    codes: tuple[str, ...]
    update: Update
    has_progress: bool = False
    weak: bool = True  # named only by lone fragments (火车站): dropped if nothing is said of it
    events: dict[tuple[str, str], Event] = field(default_factory=dict)
    event_doubts: dict[tuple[str, str], Unsure] = field(default_factory=dict)
    doubts: dict[tuple[str, int], Unsure] = field(default_factory=dict)


class _Doubts:
    """Which stretches of the message the parser is unsure of: homophone slips (the whole
    clause they stand in: 完成投姿 makes its figure unsure) and what a table supplied."""

    def __init__(self, clauses: Sequence[tuple[int, int]], slips: Sequence[Slip],
                 inferred: Sequence[Inferred]) -> None:
        self._slips = [(s.start, s.end) for s in slips]
        self._slip_clauses = [(cs, ce) for cs, ce in clauses
                              if any(cs < e and s < ce for s, e in self._slips)] if slips else []
        self._inferred = inferred
        self._none = not slips and not inferred

    def of(self, start: int, end: int, clause_wide: bool = True) -> Unsure | None:
        if self._none:
            return None
        for i in self._inferred:
            if i.start < end and start < i.end:
                return Unsure(i.reason)
        spans = self._slip_clauses if clause_wide else self._slips
        if any(s < end and start < e for s, e in spans):
            return Unsure.SOUND
        if clause_wide and any(s <= start < e for s, e in self._slip_clauses):
            return Unsure.SOUND
        return None


class Parser:
    """Built once per registry; `parse` is pure (no clock, no I/O) and never raises."""

    def __init__(self, entries: Sequence[ProjectEntry]) -> None:
        self.entries: tuple[ProjectEntry, ...] = tuple(entries)
        base = _base_tokenizer()
        self._matcher = ProjectMatcher(self.entries, base.FREQ)
        # jieba's dictionary and algorithm, walked faster (same tokens as jieba's tokenize).
        self._segmenter = _new_segmenter(self._matcher.forms,
                                         [*self._matcher.dictionary_words(), *DOMAIN_WORDS])
        # The first two characters of every name word: a block of text without any of them
        # holds no name, and need not be segmented to look for one.
        self._heads = pairs_pattern({w[:2] for w in (*self._matcher.forms, *self._matcher.vocab)
                                     if len(w) >= 2})
        contacts: dict[str, list[str]] = {}
        for entry in self.entries:
            for name in entry.contacts:
                name = name.strip()
                if name and entry.code not in contacts.setdefault(name, []):
                    contacts[name].append(entry.code)
        self._contacts = {k: tuple(v) for k, v in contacts.items()}
        self._codes = frozenset(e.code for e in self.entries)
        self._sound = SoundMatcher(SOUND_WORDS, [f for f in self._matcher.forms if len(f) >= 3],
                                   base.FREQ)

    # -- public API ------------------------------------------------------------------------
    def parse(self, text: str, *, sender: str | None, sent: dt.date) -> ParseResult:
        """Updates in `text` as sent by `sender` on `sent`; empty when it records nothing."""
        try:
            return self._parse(text if isinstance(text, str) else str(text), sender, sent)
        except Exception:  # the bot must keep answering whatever people type
            log.exception("parser failed on a message of %d characters", len(text or ""))
            return ParseResult()

    def find_projects(self, name: str) -> list[str]:
        """Project codes a typed name may mean, best first: one when it clearly means one."""
        try:
            norm = normalize(name or "").strip()
            if not norm:
                return []
            return self._matcher.lookup(norm, self._segmenter.tokens(norm))
        except Exception:
            log.exception("find_projects failed")
            return []

    def sender_projects(self, sender: str | None) -> tuple[str, ...]:
        """Projects whose 业主联系人 is `sender`."""
        return self._contacts.get((sender or "").strip(), ())

    # -- internals -------------------------------------------------------------------------
    def _tokens(self, text: str) -> list[tuple[str, int, int]]:
        return self._segmenter.tokens(text)

    def _parse(self, text: str, sender: str | None, sent: dt.date) -> ParseResult:
        text = standard_speech(plain_numerals(normalize(text[:MAX_CHARS])))
        text = apply_corrections(text, self._name_spans)
        table = rewrite(text)
        inferred: list[Inferred] = []
        if table is not None:
            text, inferred = table[0], table[1]
        slips = self._sound.slips(text, self._tokens, self._segmenter.route_score)
        text = apply(text, slips)
        work = blank_retracted(drop_non_reports(blank_fillers(blank_bot_cards(text))))
        if not work.strip():
            return ParseResult()
        mentions = [m for m in self._matcher.find(work, self._segmenter.tokens(work, self._heads))
                    if m.codes]
        if not mentions:
            mentions = self._matcher.one_off(work)
        mentions = _unknown_projects(work, self._with_codes(work, mentions))
        own = self.sender_projects(sender)
        mentions = _coordinated(work, [_stated(work, self._tie_break(m, own)) for m in mentions])
        if len(mentions) > 1 and any(m.weak for m in mentions) and any(
                not m.weak for m in mentions):
            # 项目配套道路…: "the project's" and generic words (配套) do not name a second
            # project in a message that has named its project plainly.
            mentions = [m for m in mentions if not m.weak or not (
                self._the_project(work, m) or _part_of_works(work, m, self._tokens))]
        clauses = clause_spans(work)
        doubt = _Doubts(clauses, slips, inferred)
        named_by_clause = milestone_spans_by_clause(work, clauses)
        if ("完了" in work or "好了" in work or "啦" in work) and _FINISHED.search(work):
            _add_finished(work, clauses, mentions, named_by_clause)
        # Events hang on milestone words, and dates serve only them: a message naming no
        # milestone has neither to look for.
        events = (extract_events(work, clauses, find_dates(work, sent), sent, named_by_clause)
                  if any(named_by_clause) else [])
        unnamed = _blank(work, [(m.start, m.end) for m in mentions])  # names as spaces
        blanked = _blank(unnamed, [(e.start, e.end) for e in events])
        named = [s for spans in named_by_clause for s, _e, _k in spans]
        issues = extract_issues(work, clauses, blanked, named)
        amounts = extract_investment(work, clauses, unnamed)
        progress = extract_progress(unnamed, clauses)
        if not mentions and (events or issues or amounts or progress) and work != text:
            # 钢铁城的环评批下来没有？还没有，还在等专家评审: the answer is about the project the
            # question named (questions themselves record nothing).
            asked = {c for m in self._matcher.find(text, self._tokens(text)) for c in m.codes}
            if len(asked) == 1:
                mentions = [Mention(0, 0, (asked.pop(),))]  # owns the whole message
        if not (events or issues or amounts or progress):
            if _LATER.search(work):
                return ParseResult()  # 钢铁城的下午一起报: a promise to report, nothing yet
            mentions = [m for m in mentions if not m.weak]
            if not mentions:
                # 本周无新进展 from the contact of exactly one project: that project's update.
                # (Fillers were blanked to spaces: 嗯 那个 本周 无新进展.)
                if len(own) == 1 and len(work) <= 60 and _status_only(
                        _POLITE.sub("", work), need_terse=True):
                    return ParseResult(updates=[Update(project=own[0])])
                return ParseResult()

        groups: list[_Group] = []
        by_key: dict[str, _Group] = {}
        owners: list[list[_Group]] = []
        for i, m in enumerate(mentions):
            key = m.codes[0] if len(m.codes) == 1 else f"?{i}"
            group = by_key.get(key)
            if group is None:
                code = m.code
                group = _Group(key, m.codes, Update(project=code,
                                                    candidates=[] if code else list(m.codes)))
                by_key[key] = group
                groups.append(group)
            if (why := doubt.of(m.start, m.end, clause_wide=False)) is not None:
                group.doubts["project", 0] = why
            group.weak = group.weak and m.weak
            # 三一产业基地和钢铁城均已开工: what follows the pair is said of both.
            if i and _COORDINATED.fullmatch(work[mentions[i - 1].end:m.start]):
                chain = owners[-1]
                owners.append([*chain, group] if group not in chain else chain)
            else:
                owners.append([group])
        starts = [m.start for m in mentions]
        default: _Group | None = None

        def owner(pos: int) -> list[_Group]:
            nonlocal default
            if owners:
                return owners[max(0, bisect.bisect_right(starts, pos) - 1)]
            if default is None:
                code = own[0] if len(own) == 1 else None
                default = _Group(code or "?", (), Update(project=code,
                                                         candidates=[] if code else list(own)),
                                 weak=False)
                groups.append(default)
            return [default]

        for ev in events:
            for g in owner(ev.start):
                k = (ev.milestone, ev.status)
                old = g.events.get(k)
                if old is None or (old.date is None and ev.date is not None) or ev.moved:
                    g.events[k] = Event(ev.milestone, ev.status, ev.date)
                    why = Unsure.YEAR if ev.rolled else doubt.of(ev.start, ev.end)
                    if why is not None:
                        g.event_doubts[k] = why
        for a, groups_of_a in _respectively(work, clauses, amounts, owner):
            why = doubt.of(a.start, a.end)
            for g in groups_of_a:
                if why is not None:
                    g.doubts["investment", len(g.update.investment)] = why
                g.update.investment.append(Investment(a.scope, a.wan_yuan))
        for p in progress:
            for g in owner(p.start):
                # The whole project's share wins over parts; of several parts, the first.
                if not g.has_progress or (g.update.progress_part is not None and p.part is None):
                    g.update.progress_pct = float(p.value)
                    g.update.progress_part = p.part
                    g.has_progress = True
                    g.doubts.pop(("progress", 0), None)
                    if (why := doubt.of(p.start, p.end)) is not None:
                        g.doubts["progress", 0] = why
        for iss in issues:
            subject_start, subject_end = _subject(work, iss.start, iss.end, mentions)
            if iss.head is not None and not any(m.start == subject_start and not m.weak
                                                for m in mentions):
                # 存在问题：二期扩建用地…: no full name after the label, so the label's owner.
                subject_start = subject_end = iss.head
                said = iss.text
            elif subject_end > iss.start and not _PART_OF_NAME.match(work, subject_end):
                said = _without_name(work, subject_end, iss.end, mentions)
            else:
                said = _without_name(work, iss.start, iss.end, mentions)
            issue = Issue(iss.category, said or iss.text)
            why = doubt.of(iss.start, iss.end)
            for g in owner(subject_start):
                if why is not None:
                    g.doubts["issues", len(g.update.issues)] = why
                g.update.issues.append(issue)
        for g in groups:
            g.update.events = list(g.events.values())
            for i, k in enumerate(g.events):
                if k in g.event_doubts:
                    g.doubts["events", i] = g.event_doubts[k]
            g.update.doubts = [Doubt(item, index, why)  # type: ignore[arg-type]
                               for (item, index), why in g.doubts.items()]
        return ParseResult(updates=[g.update for g in groups if not g.weak or _says(g.update)])

    def _name_spans(self, text: str) -> list[tuple[int, int]]:
        return [(m.start, m.end) for m in self._matcher.find(text, self._tokens(text)) if m.codes]

    def _with_codes(self, text: str, mentions: list[Mention]) -> list[Mention]:
        """Project codes written as names (【P012康宁物流中心】, P022：主体已封顶): a code
        names its project, unless a name already covers that place."""
        if not _CODE_HINT.search(text):
            return mentions
        found = [Mention(m.start(), m.end(), (m.group(),)) for m in _CODE.finditer(text)
                 if m.group() in self._codes]
        if not found:
            return mentions
        merged = list(mentions)
        for c in found:
            near = [m for m in mentions if m.start <= c.end + 1 and c.start <= m.end + 1]
            if not any(c.codes[0] in m.codes or len(m.codes) == 1 for m in near):
                merged.append(c)
        return sorted(merged, key=lambda m: m.start)

    def _the_project(self, text: str, m: Mention) -> bool:
        """Whether a fragment opens with 项目 (the project) and holds only generic words."""
        if not text.startswith(("项目", "工程"), m.start):
            return False
        return all(w in GENERIC_NAME_WORDS for w, _s, _e in self._tokens(text[m.start:m.end]))

    @staticmethod
    def _tie_break(m: Mention, own: tuple[str, ...]) -> Mention:
        """An ambiguous name from the contact of exactly one of the candidates means that one."""
        if len(m.codes) > 1:
            mine = [c for c in m.codes if c in own]
            if len(mine) == 1:
                return Mention(m.start, m.end, (mine[0],))
        return m


def _respectively(
    text: str, clauses: Sequence[tuple[int, int]], amounts: Sequence[Any],
    owner: Callable[[int], list[_Group]],
) -> list[tuple[Any, list[_Group]]]:
    """Each amount with the projects it is said of. 高速扩容和清水塘大桥本月分别完成投资1.5亿元和
    3000万元: with 分别 and as many amounts as projects, the i-th amount is the i-th's."""
    out = [(a, owner(a.start)) for a in amounts]
    starts = [c[0] for c in clauses]
    by_clause: dict[int, list[int]] = {}
    for i, a in enumerate(amounts):
        by_clause.setdefault(bisect.bisect_right(starts, a.start) - 1, []).append(i)
    for ci, idx in by_clause.items():
        groups = out[idx[0]][1]
        if (ci >= 0 and "分别" in text[clauses[ci][0]:clauses[ci][1]] and len(groups) > 1
                and len(idx) == len(groups) and all(out[i][1] is groups for i in idx)):
            for k, i in enumerate(idx):
                out[i] = (amounts[i], [groups[k]])
    return out


# A project the ledger does not hold, said to be new: 新引进的X项目, 新签约的X项目.
_NEW_PROJECT = re.compile(
    r"新(?:引进|招引|签约|落地|入驻|谋划)的?(?P<name>[\u4e00-\u9fffA-Za-z0-9]{2,14}?)"
    r"(?:项目|工程)")
# 新落地的两个项目, 新引进的一批项目: how many, not a name.
_COUNT = re.compile(r"[\d一二两三四五六七八九十几多数]*[个批家些]|重点|产业|招商|工业")
# One name, written as one run of characters ending in 项目/工程 (中车电机风电事业部技改项目).
_NAME_RUN = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]{4,24}?(?:项目|工程)")


def _unknown_projects(text: str, mentions: list[Mention]) -> list[Mention]:
    """Names of projects the ledger does not hold, as mentions of no project: said to be new
    (新引进的飞达电子项目), or one name made of words of two different projects (中车电机风电
    事业部技改项目 is neither 中车株洲电机永磁动力产业项目 nor 风电齿轮箱项目). Their facts are
    theirs (project null: the bot asks), not those of the project named before."""
    if "项目" not in text and "工程" not in text:
        return mentions
    found: list[Mention] = []
    if "新" in text:
        for m in _NEW_PROJECT.finditer(text):
            s, e = m.start("name"), m.end()
            if not _COUNT.match(m["name"]) and not any(x.start < e and s < x.end
                                                        for x in mentions):
                found.append(Mention(s, e, (), weak=True))
    if len(mentions) >= 2:
        for m in _NAME_RUN.finditer(text):
            inside = [x for x in mentions if m.start() <= x.start and x.end <= m.end()]
            if len({x.codes for x in inside}) >= 2 and not _COORDINATED.search(
                    text, inside[0].end, inside[-1].start):
                found.append(Mention(inside[0].start, m.end(), ()))
                mentions = [x for x in mentions if x not in inside]
    return sorted([*mentions, *found], key=lambda x: x.start) if found else mentions


_STATEMENT_END = re.compile(r"[，,；;。！!？?\n]|$")


# A fragment inside the name of a structure or a part of the works (湘江特大桥, 荷塘互通,
# 齿轮车间): in a message that names its project plainly, that project's part, not another.
_WORKS_AFTER = re.compile(r"互通|匝道|车间|厂房|节点|隧道|枢纽|立交|主墩|墩|承台|箱梁|标段|段|线"
                          r"|加工|生产线|产线")
_HAN_CHAR = re.compile(r"[\u4e00-\u9fff]")


def _part_of_works(text: str, m: Mention,
                   tokens: Callable[[str], Sequence[tuple[str, int, int]]] | None = None) -> bool:
    """Whether fragment `m` is followed by a part of the works, or (with `tokens`) starts
    inside a word of the sentence (湘江特大桥 segments as 湘江|特大桥)."""
    if _WORKS_AFTER.match(text, m.end):
        return True
    return tokens is not None and _inside_word(text, m, tokens)


def _inside_word(text: str, m: Mention,
                 tokens: Callable[[str], Sequence[tuple[str, int, int]]]) -> bool:
    """Whether fragment `m` starts inside a word of the sentence (湘江|特大桥)."""
    if m.start == 0 or not _HAN_CHAR.match(text, m.start - 1):
        return False
    lo = max(0, m.start - 4)
    return any(lo + s < m.start < lo + e for _w, s, e in tokens(text[lo:m.end]))


def _coordinated(text: str, mentions: list[Mention]) -> list[Mention]:
    """A fragment joined to a plain name (硅能和钢铁城本周都无新进展) names its project too."""
    out = list(mentions)
    for i in range(len(out) - 1):
        a, b = out[i], out[i + 1]
        if a.weak != b.weak and _COORDINATED.fullmatch(text, a.end, b.start):
            out[i], out[i + 1] = (dataclasses.replace(a, weak=False),
                                  dataclasses.replace(b, weak=False))
    return out


def _stated(text: str, m: Mention) -> Mention:
    """A lone fragment followed by a status of its own (永磁 正常施工, 大桥无变化, 铁东路这周在做
    管网) names its project: a statement about it, even one that records nothing."""
    if not m.weak:
        return m
    if _part_of_works(text, m):
        return m
    if _LOG_HEADING.match(text, m.end) and not text[:m.start].strip(" 【[（("):
        return dataclasses.replace(m, weak=False)  # 北斗基地日报：… heads its own report
    clause = text[m.end:_STATEMENT_END.search(text, m.end).start()]  # type: ignore[union-attr]
    rest = text[m.end:_SENTENCE_END.search(text, m.end).start()]  # type: ignore[union-attr]
    if _TERSE.fullmatch(_TERSE_FILLER.sub("", clause).strip(_TERSE_STRIP)) or _status_only(
            rest, need_terse=False):
        return dataclasses.replace(m, weak=False)
    return m


_SENTENCE_END = re.compile(r"[。！!？?\n]|$")
_LOG_HEADING = re.compile(
    r"(?:项目)?(?:今日|今天|本周)?(?:施工)?(?:日报|日志|周报|月报|简报|进展|情况)|\s*[:：]")
# A report promised for later (下午一起报, 这两天报给你, 马上报).
# (钢铁城那边冯军在报: someone else reports it)
_LATER = re.compile(r"(?<=[\u4e00-\u9fff])(?:在|会|来)报(?![批建审告])"
                    r"|(?:下午|晚上|晚点|晚些|稍后|明天|马上|随后|这两天|今天|待会儿?|等下|一会儿?"
                    r"|周[一二三四五六日]|[星礼]期[一二三四五六日天])[^，,。；;]{0,4}?"
                    r"(?:再|一起|就|统一)?(?:报|报送|上报|发给?|填报)|报给你|(?:补|再)报"
                    # 已经回复到系统里了: filed elsewhere, nothing here
                    r"|回复到?系统|在系统(?:里|中)?(?:回复|填报)")
_PART_END = re.compile(r"[，,；;、]")
# Work going on or done, said of the site (这周在做管网, 基础完成了, 下周三开始吊装): a status
# that records no milestone, figure or problem.
_AT_WORK = re.compile(r"[在正](?:做|搞|干|施工|进行|推进|浇筑|安装|吊装|调试|开挖|抢)"
                      r"|完成|[做搞弄干][完好]|开始|进行|推进|浇筑|吊装|安装|施工中|贯通|合龙"
                      r"|计划|进入|掘进|开挖|已经?(?:批|拿到|取得|下来)|下来了|签了|拆除|搬入")
# A supervision item closed (整改到位, 已办结, 可以销号了): a status that records nothing.
_CLOSED = re.compile(r"整改(?:到位|完毕|完成|好)|办结|闭环|销号|可以关|处理完毕|已(?:经)?处理")
# Words to the reader, not about the project: 林主任, 照片发您, 请查收.
_COURTESY = re.compile(r"[\u4e00-\u9fff]{1,3}(?:主任|区长|科长|书记|局长|部长|总|科|经理)好?"
                       r"|照片(?:已)?发(?:您|你)|请(?:查收|审阅|知悉|理解)|谢谢")


def _status_only(text: str, need_terse: bool) -> bool:
    """Whether every part of `text` is a terse status (无变化, 没什么需要协调的) or a statement
    of work going on; with `need_terse`, at least one part must be terse (我在开会 is no
    project's status)."""
    parts = [p.strip(_TERSE_STRIP) for p in _PART_END.split(_TERSE_FILLER.sub("", text))]
    parts = [p for p in parts if p]
    if not parts:
        return False
    if _TERSE.fullmatch(_TERSE_FILLER.sub("", text).strip(_TERSE_STRIP)):
        return True  # (收到，本周没有新进展: the acknowledgement and the status as one)
    parts = [p for p in parts if not _COURTESY.fullmatch(p)]
    terse = [bool(_TERSE.fullmatch(p) or _CLOSED.search(p)) for p in parts]
    if not parts or (need_terse and not any(terse)):
        return False
    said = [t or bool(_AT_WORK.search(p)) for t, p in zip(terse, parts, strict=True)]
    # After a fragment of a name, one statement of work is enough (宇航北斗基坑开挖基本完成，
    # 准备做垫层); from a contact naming nothing, every part must be a status.
    return all(said) if need_terse else any(said)


# 整完了, 搞完了, 弄好了 said of the project itself (华锐二期已经整完了) is its completion; said of
# a part (厂房一期整完了, 装修弄好了) it is not, and of anything else it is no milestone.
_FINISHED = re.compile(r"[整搞弄做干][完好](?:了|啦)")
_FINISH_TAIL = re.compile(r"(?:已经?|都|也|全部|整体|全面|总体|基本上?|彻底|终于|的|\s)*")


def _add_finished(text: str, clauses: Sequence[tuple[int, int]], mentions: Sequence[Mention],
                  named: list[list[tuple[int, int, str]]]) -> None:
    ends = {m.end for m in mentions if not m.weak}
    for ci, (cs, ce) in enumerate(clauses):
        if named[ci]:
            continue
        for f in _FINISHED.finditer(text, cs, ce):
            # back over 已经, 整体, 全部 … to the name
            if any(_FINISH_TAIL.fullmatch(text, e, f.start()) for e in ends
                   if cs <= e <= f.start() <= e + 12):
                named[ci].append((f.start(), f.end(), "completed"))
                break


def _says(update: Update) -> bool:
    return bool(update.events or update.investment or update.issues
                or update.progress_pct is not None)


def _subject(text: str, start: int, end: int,
             mentions: Sequence[Mention]) -> tuple[int, int]:
    """Where the names a clause opens with start and end: 铁东路和清水塘大桥两个项目资金…
    is said of both, so the fact belongs to the owners of the last name in that run."""
    pos, last_end = start, start
    for m in mentions:
        if m.start < last_end or m.start >= end:
            continue
        gap = text[last_end:m.start]
        # Before the first name allow a stray character or two (a name matched partly: 铁|东路).
        opening = last_end == start and len(gap.strip()) <= 2
        if gap.strip() and not opening and not _COORDINATED.fullmatch(gap):
            break
        pos, last_end = m.start, m.end
    return pos, last_end


def _without_name(text: str, start: int, end: int, mentions: Sequence[Mention]) -> str:
    """An issue's clause without the project name it opens with (the update says whose)."""
    for m in mentions:
        if m.start <= start < m.end or (start <= m.start < end and not text[start:m.start].strip()):
            if not _PART_OF_NAME.match(text, m.end):  # 新塘西路段…: the name says where
                start = m.end
            break
    return text[start:end].strip(" \t的：:，,、").strip()


def _blank(text: str, spans: Sequence[tuple[int, int]]) -> str:
    if not spans:
        return text
    out: list[str] = []
    pos = 0
    for s, e in sorted(spans):
        if e <= pos:
            continue
        s = max(s, pos)
        out.append(text[pos:s])
        out.append(" " * (e - s))
        pos = e
    out.append(text[pos:])
    return "".join(out)
