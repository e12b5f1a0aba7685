"""Jinja2 templates (web/templates) and the filters that format figures for people."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup


def yi(value: Decimal | None, digits: int = 2) -> str:
    """亿元 without trailing zeros; — when unknown."""
    if value is None:
        return "—"
    text = f"{value.quantize(Decimal(1).scaleb(-digits)):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def pct(share: Decimal | None) -> str:
    """A 0–1 share as a percentage with one decimal."""
    if share is None:
        return "—"
    return f"{(share * 100).quantize(Decimal('0.1')):f}%"


def day(value: dt.date | dt.datetime | None, tz: dt.tzinfo | None = None) -> str:
    if value is None:
        return "—"
    if isinstance(value, dt.datetime):
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


def chart_json(data: Any) -> Markup:
    """Data for a chart, safe inside <script type="application/json">."""
    text = json.dumps(data, ensure_ascii=False, default=str)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def make_templates() -> Environment:
    env = Environment(
        loader=PackageLoader("web", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(yi=yi, pct=pct, day=day, chart_json=chart_json)
    return env
