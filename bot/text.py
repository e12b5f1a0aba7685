"""Text helpers for Telegram replies: HTML escaping and the 4,096-character limit."""

from __future__ import annotations

import html
import re
import unicodedata

TELEGRAM_LIMIT = 4096


def esc(value: object) -> str:
    """Escape any user- or ledger-provided value for HTML parse mode."""
    return html.escape(str(value), quote=False)


def split_message(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Split at line breaks so each part fits; a single over-long line is cut hard.

    Callers build messages from escaped lines, so a cut never lands inside an entity
    except in that hard-cut fallback, where tags are not used.
    """
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current or not parts:
        parts.append(current)
    return parts


def see_all(dashboard_url: str | None) -> str:
    """The last line of a list too long for chat: where to see all of it."""
    if dashboard_url:
        return f'全部内容请在一屏统览查看：<a href="{esc(dashboard_url)}">{esc(dashboard_url)}</a>'
    return "请在一屏统览查看全部"


def columns(text: str) -> int:
    """Terminal columns `text` takes: a Chinese (wide) character takes two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


_TAG = re.compile(r"<[^>]+>")


def to_plain(text: str) -> str:
    """Telegram HTML as its reader sees it: tags dropped, entities unescaped."""
    return html.unescape(_TAG.sub("", re.sub(r"<br\s*/?>", "\n", text)))
