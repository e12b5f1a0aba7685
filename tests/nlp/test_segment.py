"""The parser's segmenter gives exactly jieba's tokens (HMM off) for the same dictionary."""

from __future__ import annotations

import jieba
from hypothesis import given, settings
from hypothesis import strategies as st

from nlp.parser import _WORD_FREQ, Parser, _base_tokenizer
from nlp.segment import Segmenter, log_freqs

_ALPHABET = ("三一产业基地钢铁城今天开工封顶主体完成投资亿万元的了是在华锐精密二期清水塘大桥"
             "，。、 \n\t12ab.%-#&+")


def _jieba_like(parser: Parser) -> jieba.Tokenizer:
    """A jieba tokenizer extended the way the parser extends its segmenter."""
    from nlp.lexicon import DOMAIN_WORDS

    base = _base_tokenizer()
    tk = jieba.Tokenizer()
    tk.FREQ, tk.total, tk.initialized = dict(base.FREQ), base.total, True
    for name in parser._matcher.forms:
        if tk.FREQ.get(name, 0) < _WORD_FREQ:
            tk.add_word(name, _WORD_FREQ)
    for word in [*parser._matcher.dictionary_words(), *DOMAIN_WORDS]:
        if word and not tk.FREQ.get(word):
            tk.add_word(word, _WORD_FREQ)
    return tk


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(alphabet=_ALPHABET, max_size=80), st.text(max_size=40)))
def test_same_tokens_as_jieba(parser: Parser, text: str) -> None:
    reference = _JIEBA.setdefault(id(parser), _jieba_like(parser))
    assert parser._segmenter.tokens(text) == list(reference.tokenize(text, HMM=False))


_JIEBA: dict[int, jieba.Tokenizer] = {}


def test_words_added_like_add_word() -> None:
    seg = Segmenter(log_freqs({"钢铁": 10, "钢": 0, "城": 5}), 15, [("钢铁城", 100)])
    assert [w for w, _s, _e in seg.tokens("钢铁城开工")] == ["钢铁城", "开", "工"]


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=_ALPHABET + "雪峰岭学校火车站改扩建道岔项目产业园", max_size=80))
def test_blocks_without_a_name_need_no_segmenting(parser: Parser, text: str) -> None:
    full = parser._matcher.find(text, parser._segmenter.tokens(text))
    quick = parser._matcher.find(text, parser._segmenter.tokens(text, parser._heads))
    assert quick == full
