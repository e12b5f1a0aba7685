"""Plain questions that are not progress reports: "道岔二期怎么样了？", "查询三一产业基地",
"帮助". Pure: text in, a typed question (or None: treat the text as a report) out."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class QuestionKind(Enum):
    HELP = "help"
    STATUS = "status"


@dataclass(frozen=True, slots=True)
class Question:
    kind: QuestionKind
    subject: str = ""  # the project asked about (STATUS), as written


_END = r"[\s？?。.!！~～]*"
HELP_WORDS = ("帮助", "help", "使用说明", "说明", "怎么用", "如何使用", "怎么报送", "菜单", "功能")
_HELP = re.compile(rf"^(?:{'|'.join(HELP_WORDS)}){_END}$", re.I)
_ASK_FIRST = re.compile(
    rf"^(?:请)?(?:查询|查一下|查一查|查看|查|看看|看一下|问一下)\s*(?P<s>.+?){_END}$")
_ASK_AFTER = re.compile(
    r"^(?P<s>.+?)(?:的)?(?:现在|目前)?(?:怎么样了?|怎样了|咋样了?|如何了?|进展如何|进度如何|"
    r"进展怎么样了?|进度怎么样了?|情况如何|什么情况|啥情况|到哪一步了|进展到哪了|"
    rf"有什么进展|有进展吗|进展呢|进度呢){_END}$"
)
MAX_SUBJECT = 30  # a project name, not a sentence


def classify(text: str) -> Question | None:
    """A question the bot should answer rather than record, or None."""
    line = text.strip()
    if not line or "\n" in line:
        return None
    if _HELP.match(line):
        return Question(QuestionKind.HELP)
    for pattern in (_ASK_FIRST, _ASK_AFTER):
        match = pattern.match(line)
        if match:
            subject = match.group("s").strip(" ，,：:")
            if 0 < len(subject) <= MAX_SUBJECT and not re.search(r"[\d，,；;。]", subject):
                return Question(QuestionKind.STATUS, subject)
    return None
