"""Finding project names in a message: full names, short names, partial names, one-character
typos, several projects in order; a fragment that fits two projects equally is ambiguous.

How it works: every project's names are expanded into aliases (without 项目/工程, without a
leading place, without brackets) that jieba keeps whole; the words of all names form a
vocabulary, and a word found in exactly one project's names is a key for it. A message's
tokens are grouped into runs of name words; a run containing an alias is that project, else the
projects its specific words share; what is left ambiguous is decided by how much of the run
(plus a character or two either side, for typos) each project's names cover.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process
from rapidfuzz.distance import LCSseq

from nlp.lexicon import GENERIC_NAME_WORDS, PLACE_PREFIXES, PLACE_SUFFIXES
from nlp.normalize import normalize
from nlp.types import ProjectEntry

_BRACKETS = re.compile(r"[（(][^）)]*[）)]")
_BRACKET_INNER = re.compile(r"[（(]([^）)]*)[）)]")
_STRIP = re.compile(r"[\s（）()【】\[\]《》\"'“”·]+")
_SUFFIXES = ("建设项目", "项目", "工程")
# Tokens that separate two names in a run (三一产业基地和钢铁城).
_SEPARATORS = frozenset("和与及、跟同或,，;；:：。!！?？ \n\t")
# Function words are never a mistyped character inside a name (三一的项目 is not a name).
_NOT_TYPO = frozenset("的地得了在是已将把被对为从向到于也都还就")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_HAN_RUN = re.compile(r"[\u4e00-\u9fff]+")
_ABBR_MAX_FREQ = 50  # jieba frequency below which a two-character abbreviation is no word
_TYPO_MIN, _TYPO_MAX = 5, 12  # shorter names are too easily a typo away from other words


# Words said of any project's work: never count toward naming one by generic words alone.
_SAID_OF_ANY = frozenset({"项目", "工程", "建设", "建设项目", "新建", "新建工程", "改造", "提升"})


@dataclass(frozen=True, slots=True)
class Mention:
    """A name found in the text; several codes when it fits more than one project equally."""

    start: int
    end: int
    codes: tuple[str, ...]
    # A lone fragment (火车站, 大桥): a name only when the message reports something.
    weak: bool = False

    @property
    def code(self) -> str | None:
        return self.codes[0] if len(self.codes) == 1 else None


def _clean(name: str) -> str:
    return _STRIP.sub("", normalize(name))


def name_seeds(entry: ProjectEntry) -> tuple[set[str], set[str]]:
    """(all seed names, the bracket-free ones whose words describe the project)."""
    seeds: set[str] = set()
    plain: set[str] = set()
    extra: set[str] = set()
    for raw in (entry.name, *entry.short_names):
        if not raw or not raw.strip():
            continue
        text = normalize(raw)
        seeds.add(_clean(text))
        plain.add(_clean(_BRACKETS.sub("", text)))
        for inner in _BRACKET_INNER.findall(text):
            inner = _clean(inner)
            if len(inner) >= 2 and not re.search(r"[—\-~～至]", inner):
                (plain if len(inner) >= 4 else extra).add(inner)  # 道岔二期; 东线 only as a word
    plain.discard("")
    return seeds | plain, plain | extra


def name_forms(entry: ProjectEntry, seeds: set[str] | None = None) -> set[str]:
    """Aliases of a project: the names as written and the usual shortenings."""
    if seeds is None:
        seeds = name_seeds(entry)[0]
    forms: set[str] = set()
    for seed in seeds:
        todo = [seed]
        while todo:
            form = todo.pop()
            if form in forms or len(form) < 3:
                continue
            forms.add(form)
            for suffix in (*_SUFFIXES, "一期"):
                if form.endswith(suffix):
                    todo.append(form[: -len(suffix)])
            for prefix in PLACE_PREFIXES:
                if form.startswith(prefix):
                    todo.append(form[len(prefix):])
    return {f for f in forms if f not in GENERIC_NAME_WORDS}


def _words(name: str, freq: Mapping[str, int]) -> set[str]:
    """Words of a name by forward maximum matching against jieba's dictionary, with the
    dictionary words inside longer ones (钢铁城 → 钢铁); runs of characters the dictionary does
    not know are joined (华/锐 → 华锐, 三/一/硅/能 → 三一硅能, 三一, 硅能): usually brand names.
    Much faster than a full jieba cut, which matters for a 5,000-project ledger."""
    words: set[str] = set()
    run: list[str] = []

    def flush() -> None:
        if len(run) >= 2:
            joined = "".join(run)
            words.add(joined)
            if len(joined) >= 3:
                words.update(joined[i:i + 2] for i in range(0, len(joined) - 1, 2))
        run.clear()

    i, n = 0, len(name)
    while i < n:
        size = 1
        for k in range(min(6, n - i), 1, -1):
            if freq.get(name[i:i + k]):
                size = k
                break
        if size == 1:
            if _HAN.match(name[i]):
                run.append(name[i])
            else:
                flush()
            i += 1
            continue
        flush()
        word = name[i:i + size]
        if _HAN.search(word):
            words.add(word)
            for k in range(2, size):
                for j in range(size - k + 1):
                    if freq.get(word[j:j + k]):
                        words.add(word[j:j + k])
        i += size
    flush()
    return words


class ProjectMatcher:
    """Name lookup for one registry. `base_cut` splits a name into words (jieba, search mode,
    with the default dictionary) and is used only while building."""

    def __init__(self, entries: Sequence[ProjectEntry], freq: Mapping[str, int]) -> None:
        self.forms: dict[str, tuple[str, ...]] = {}
        self.project_forms: dict[str, list[str]] = {}
        vocab: dict[str, set[str]] = {}
        plains: list[tuple[str, set[str]]] = []
        for entry in entries:
            seeds, plain = name_seeds(entry)
            plains.append((entry.code, plain))
            forms = sorted(name_forms(entry, seeds), key=len, reverse=True)
            self.project_forms.setdefault(entry.code, []).extend(forms)
            for form in forms:
                codes = self.forms.get(form, ())
                if entry.code not in codes:
                    self.forms[form] = (*codes, entry.code)
            # Words of the bracket-free names only: 铁东路（规划26路—新华路）must not make
            # 规划 a word of that project.
            for seed in plain:
                for word in _words(seed, freq):
                    vocab.setdefault(word, set()).add(entry.code)
            for short in entry.short_names:
                # 钢铁城 said 钢城: a three-character short name by its first and last, when
                # that is no word of its own (a fragment: it names the project only where
                # the message says something of it)
                abbr = short[0] + short[-1] if len(short) == 3 and _HAN_RUN.fullmatch(short) \
                    else ""
                if abbr and freq.get(abbr, 0) < _ABBR_MAX_FREQ and abbr not in GENERIC_NAME_WORDS:
                    vocab.setdefault(abbr, set()).add(entry.code)
        # Second pass: a name word of one project found inside another project's name belongs
        # to both (三一 from 三一硅能 is also a word of 三一集团产业基地, which jieba's
        # dictionary would have segmented as 三一集团).
        for code, plain in plains:
            for seed in plain:
                n = len(seed)
                for i in range(n - 1):
                    for k in range(2, min(6, n - i) + 1):
                        codes = vocab.get(seed[i:i + k])
                        if codes is not None:
                            codes.add(code)
        self.vocab: dict[str, frozenset[str]] = {w: frozenset(c) for w, c in vocab.items()}
        # For typo matching of generic-only runs: generic word → forms containing it.
        self._by_generic: dict[str, list[tuple[str, str]]] = {}
        long_generic = [w for w in GENERIC_NAME_WORDS if len(w) >= 3]
        for code, forms in self.project_forms.items():
            for form in forms:
                for word in long_generic:
                    if word in form:
                        self._by_generic.setdefault(word, []).append((form, code))
        self._choice_forms = list(self.forms)
        self._generic_by_length = sorted(GENERIC_NAME_WORDS, key=len, reverse=True)
        # Names of 5 to 12 characters by their first and second half: a name written with
        # one wrong character (雪锋岭学校) still has one half intact, even where the segmenter
        # has broken it into single characters.
        self._halves: dict[str, list[tuple[str, int]]] = {}
        for form in self.forms:
            if _TYPO_MIN <= len(form) <= _TYPO_MAX and form not in GENERIC_NAME_WORDS:
                half = len(form) // 2
                self._halves.setdefault(form[:half], []).append((form, 0))
                self._halves.setdefault(form[half:], []).append((form, half))
        self._half_lengths = sorted({len(k) for k in self._halves})
        # Their first two characters (every half has at least two): where none stands, no
        # half starts, and the lengths need not be tried.
        self._half_heads = frozenset(k[:2] for k in self._halves)

    def one_off(self, text: str) -> list[Mention]:
        """Names written with one wrong character, longest first, not overlapping; for a
        message in which nothing else named a project."""
        found: dict[tuple[int, int], set[str]] = {}
        n = len(text)
        heads = self._half_heads
        for pos, pair in enumerate(map(str.__add__, text, text[1:])):
            if pair not in heads:
                continue
            for size in self._half_lengths:
                for form, offset in self._halves.get(text[pos:pos + size], ()):
                    start = pos - offset
                    end = start + len(form)
                    if start < 0 or end > n:
                        continue
                    window = text[start:end]
                    if sum(a != b for a, b in zip(window, form, strict=True)) <= 1 \
                            and _HAN_RUN.fullmatch(window):
                        found.setdefault((start, end), set()).update(self.forms[form])
        out: list[Mention] = []
        taken = [False] * n
        for (start, end), codes in sorted(found.items(), key=lambda kv: kv[0][0] - kv[0][1]):
            if len(codes) == 1 and not any(taken[start:end]):  # two projects: no guess
                out.append(Mention(start, end, tuple(codes)))
                taken[start:end] = [True] * (end - start)
        return sorted(out, key=lambda m: m.start)

    def dictionary_words(self) -> Iterable[str]:
        """Words to add to the segmenter: every alias and every specific name word."""
        yield from self.forms
        yield from (w for w in self.vocab if w not in GENERIC_NAME_WORDS)

    # -- matching ------------------------------------------------------------------------
    def _candidates(self, token: str) -> frozenset[str] | None:
        """Projects a token may belong to; None if the token is not a name word."""
        codes = self.forms.get(token)
        if codes is not None:
            return frozenset(codes)
        return self.vocab.get(token)

    def find(self, text: str, tokens: Sequence[tuple[str, int, int]]) -> list[Mention]:
        """Mentions in text order. `tokens` are (word, start, end) from the Parser's jieba."""
        runs: list[list[tuple[str, int, int]]] = []
        current: list[tuple[str, int, int]] = []
        gap = 0
        forms, vocab = self.forms, self.vocab  # (_candidates is not None, without its set)
        for tok in tokens:
            word = tok[0]
            if word in forms or word in vocab:
                current.append(tok)
                gap = 0
                continue
            # One stray character inside a name is a likely typo (清水堂大桥).
            if (current and gap == 0 and len(word) == 1 and word not in _SEPARATORS
                    and word not in _NOT_TYPO and _HAN.match(word)):
                gap = 1
                current.append((word, tok[1], tok[2]))
                continue
            if current:
                runs.append(current)
            current, gap = [], 0
        if current:
            runs.append(current)
        out: list[Mention] = []
        for run in runs:
            # Drop a trailing stray character kept for a possible typo.
            while run and self._candidates(run[-1][0]) is None:
                run = run[:-1]
            if run:
                out.extend(self._resolve_run(text, run))
        return out

    def _resolve_run(self, text: str, run: list[tuple[str, int, int]]) -> list[Mention]:
        aliases = [t for t in run if t[0] in self.forms]
        if aliases:
            # A run holding an alias is that project; other words in it are modifiers
            # (京港澳及沪昆高速扩容荷塘段). Two aliases back to back are two projects.
            out: list[Mention] = []
            for i, (word, _s, _e) in enumerate(aliases):
                start = run[0][1] if i == 0 else aliases[i][1]
                end = run[-1][2] if i == len(aliases) - 1 else aliases[i][2]
                codes = self.forms[word]
                if len(codes) > 1:
                    codes = self._rank(text, start, end, codes)
                out.append(Mention(start, end, codes))
            return out
        # Split where specific words stop sharing a project.
        # Generic words (产业基地, 数字, 健康) never split a run but narrow it down when they can:
        # 三一 + 产业基地 is 三一集团产业基地, not 三一智慧钢铁城.
        Sub = tuple[int, int, frozenset[str] | None, int, frozenset[str] | None, int]
        subruns: list[Sub] = []
        start, end, common, specific_len = run[0][1], run[0][1], None, 0
        narrow: frozenset[str] | None = None
        generic_n = 0
        for word, s, e in run:
            cands = self._candidates(word)
            if cands is not None and word not in GENERIC_NAME_WORDS:
                if common is not None and not (common & cands):
                    subruns.append((start, end, common, specific_len, narrow, generic_n))
                    start, common, specific_len, narrow, generic_n = s, None, 0, None, 0
                common = cands if common is None else common & cands
                specific_len += len(word)
            elif cands is not None:
                both = cands if narrow is None else narrow & cands
                if both:
                    # (项目建设 names no project, however few names hold both words)
                    narrow, generic_n = both, generic_n + (word not in _SAID_OF_ANY)
            end = e
        subruns.append((start, end, common, specific_len, narrow, generic_n))
        out = []
        for start, end, common, specific_len, narrow, generic_n in subruns:
            if common is not None and narrow is not None and len(common) > 1 and common & narrow:
                common = common & narrow
            elif common is None and narrow is not None and len(narrow) == 1 and generic_n >= 2 \
                    and end - start >= 4:
                code = next(iter(narrow))
                out.append(Mention(start, end, (code,), weak=True))
                continue
            mention = self._resolve_subrun(text, start, end, common, specific_len)
            if mention is not None:
                out.append(mention)
        return out

    def _resolve_subrun(self, text: str, start: int, end: int, common: frozenset[str] | None,
                        specific_len: int) -> Mention | None:
        core = text[start:end]
        if common is None:
            return self._typo_generic(text, start, end)
        if end < len(text) and text[end] in PLACE_SUFFIXES and end - start <= 3:
            return None  # 荷塘区: a district, not 活力荷塘文化艺术体育中心
        if len(common) == 1:
            code = next(iter(common))
            weak = specific_len == end - start and not self._near_form(text, start, end, code)
            return Mention(start, end, (code,), weak=weak)
        if len(common) > 8:
            return None  # words shared by that many projects do not name one
        codes = self._rank(text, start, end, tuple(sorted(common)))
        if len(codes) > 1 and (specific_len < 4 or len(core) < 4):
            return None  # too little to go on (中车公司, 交通项目)
        return Mention(start, end, codes)

    def _near_form(self, text: str, start: int, end: int, code: str) -> bool:
        """Whether the fragment and the characters around it are one of the project's names
        with at most one character wrong (清水塘大侨)."""
        forms = self.project_forms.get(code, ())
        # 钢铁 + 城 is the tail of 三一智慧钢铁城: a name, not a stray word.
        for k in (2, 1):
            longer = text[start:end + k]
            if len(longer) == end - start + k and any(longer in f for f in forms):
                return True
        ext = self._ext(text, start, end)
        return any(len(f) >= 4 and LCSseq.similarity(ext, f) >= len(f) - 1 for f in forms)

    def _ext(self, text: str, start: int, end: int) -> str:
        """The fragment with up to two characters either side that may belong to the name
        (a function word ends it: 三一的项目 says nothing about which 三一 project)."""
        def part_of_name(ch: str) -> bool:
            return bool(_HAN.match(ch)) and ch not in _NOT_TYPO

        left = start
        while left > 0 and start - left < 2 and part_of_name(text[left - 1]):
            left -= 1
        right = end
        while right < len(text) and right - end < 2 and part_of_name(text[right]):
            right += 1
        return text[left:right]

    def _rank(self, text: str, start: int, end: int, codes: Sequence[str]) -> tuple[str, ...]:
        """Order candidate projects by how much of the fragment (and, for typos, the characters
        around it) their names explain; one code when a single project is clearly best."""
        core = text[start:end]
        ext = self._ext(text, start, end)
        scored = []
        for code in codes:
            forms = self.project_forms.get(code, ())
            core_cov = max((LCSseq.similarity(core, f) for f in forms), default=0)
            ext_cov = max((LCSseq.similarity(ext, f) for f in forms), default=0)
            fit = max((fuzz.ratio(core, f) for f in forms), default=0.0)
            scored.append((core_cov, ext_cov, fit, code))
        scored.sort(key=lambda s: (-s[0], -s[1], -s[2], s[3]))
        if len(scored) == 1:
            return (scored[0][3],)
        best, second = scored[0], scored[1]
        if best[0] > second[0] or best[1] > second[1]:
            return (best[3],)
        tied = [s[3] for s in scored if s[0] == best[0] and s[1] == best[1]]
        return tuple(tied)

    def _typo_generic(self, text: str, start: int, end: int) -> Mention | None:
        """A run of generic words (产业基地) preceded or followed by unknown characters may be a
        name with a typo in its specific part (博弈产业基地 for 博羿产业基地)."""
        core = text[start:end]
        if len(core) < 4:
            return None
        pool = self._by_generic.get(core)
        if not pool or len(pool) > 200:
            return None
        ext = self._ext(text, start, end)
        if ext == core:
            return None
        best: dict[str, int] = {}
        for form, code in pool:
            if len(form) < 5:
                continue
            sim = LCSseq.similarity(ext, form)
            if sim >= len(form) - 1 and sim > best.get(code, 0):
                best[code] = sim
        if not best:
            return None
        top = max(best.values())
        codes = tuple(sorted(c for c, s in best.items() if s == top))
        left = start
        while left > 0 and start - left < 2 and _HAN.match(text[left - 1]):
            left -= 1
        return Mention(left, end, codes)

    def lookup(self, name: str, tokens: Sequence[tuple[str, int, int]]) -> list[str]:
        """Codes for a name typed by a person, best first; one when it clearly means one."""
        key = _clean(name)
        if not key:
            return []
        exact = self.forms.get(key)
        if exact is not None:
            return list(exact)
        mentions = [m for m in self.find(key, tokens) if m.codes]
        if len(mentions) == 1:
            return list(mentions[0].codes)
        # A fuzzy guess must share a pair of characters outside the generic name words:
        # 火星基地 shares only 基地 with 三一产业基地, which is no reason to offer it.
        core = key
        for word in self._generic_by_length:
            core = core.replace(word, " ")
        pairs = {core[i:i + 2] for i in range(len(core) - 1) if " " not in core[i:i + 2]}
        found = [f for f in process.extract(key, self._choice_forms, scorer=fuzz.WRatio,
                                            limit=5, score_cutoff=60)
                 if any(pair in f[0] for pair in pairs)]
        ranked: list[str] = []
        scores: dict[str, float] = {}
        for choice, score, _idx in found:
            for code in self.forms[choice]:
                if code not in scores:
                    scores[code] = score
                    ranked.append(code)
        if len(ranked) >= 2 and scores[ranked[0]] - scores[ranked[1]] >= 10:
            return ranked[:1]
        return ranked
