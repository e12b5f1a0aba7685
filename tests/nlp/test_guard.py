"""nlp.guard's first-character lookaheads change no match: every rule pattern given one finds
what the plain pattern finds, on the repository's corpora and on generated text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nlp.parser  # noqa: F401  (imports every rule module, which guards its patterns)
from nlp.guard import all_guarded, guarded, plain_of

_BENCH = Path(__file__).resolve().parents[2] / "bench"
_PATTERNS = sorted(all_guarded(), key=lambda p: p.pattern)


def _found(pattern: re.Pattern[str], text: str, pos: int = 0) -> list[tuple[object, ...]]:
    return [(m.span(), m.groups(), m.lastgroup) for m in pattern.finditer(text, pos)]


def _corpus() -> list[str]:
    texts = []
    for path in sorted(_BENCH.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                texts.append(str(json.loads(line).get("text") or ""))
    return texts


def test_the_rules_have_guarded_patterns() -> None:
    # (Without any, the tests below compare nothing.)
    assert len(_PATTERNS) >= 20
    assert all(p.pattern.startswith("(?=[") and plain_of(p) is not p for p in _PATTERNS)


def test_the_corpora_give_the_same_matches() -> None:
    texts = _corpus()
    assert len(texts) > 1000
    for pattern in _PATTERNS:
        plain = plain_of(pattern)
        for text in texts:
            assert _found(pattern, text) == _found(plain, text), (plain.pattern, text)


def _alphabet(pattern: re.Pattern[str]) -> str:
    """The pattern's own characters (its words and classes' ends) and some separators."""
    own = {c for c in plain_of(pattern).pattern if c not in "\\()[]{}?*+|^$"}
    return "".join(sorted(own | set("，。；：、 \n\t0123456789年月日号万亿元%")))


@pytest.mark.parametrize("pattern", _PATTERNS, ids=lambda p: plain_of(p).pattern[:30])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_generated_text_gives_the_same_matches(pattern: re.Pattern[str],
                                               data: st.DataObject) -> None:
    text = data.draw(st.text(alphabet=_alphabet(pattern), max_size=24))
    plain = plain_of(pattern)
    for pos in range(len(text) + 1):
        # search from every place, and match there (the rules do both, with pos and endpos)
        assert _found(pattern, text, pos) == _found(plain, text, pos)
        m, p = pattern.match(text, pos), plain.match(text, pos)
        assert (m and (m.span(), m.groups())) == (p and (p.span(), p.groups()))


@pytest.mark.parametrize(("source", "first"), [
    (r"(?<!确保)不[准让]|困难", "不困"),     # a lookbehind first: guarded
    (r"(?:还|仍)?在等|等待", "还仍在等"),    # an optional word first
    (r"\s*(?:因为|由于)", r"\s因由"),         # optional space, then one of the words
    (r"(?:还在)?", None),                     # may match nothing: as is
    (r"[^，]{2}问题", None),                 # a negated class: any character may start
    (r"暂无|没有", None),                    # the engine already skips: as is
    (r"(?:(?i:ab)|不)c", None),              # a case-blind group: as is
    (r"(?<=了)(?=本月|今天)", "本今"),       # empty, but only where a lookahead allows
])
def test_what_gets_a_lookahead(source: str, first: str | None) -> None:
    pattern = guarded(source)
    if first is None:
        assert pattern.pattern == source
    else:
        assert pattern.pattern == f"(?=[{first}])(?:{source})"
        assert _found(pattern, "了本月不让等困难在等还在等") == _found(
            re.compile(source), "了本月不让等困难在等还在等")
