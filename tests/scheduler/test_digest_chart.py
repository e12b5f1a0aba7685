"""The digest's picture: a PNG drawn with a Chinese font that is really there (no missing-
glyph warning, and the glyphs are not the font's empty box)."""

from __future__ import annotations

import datetime as dt
import io
import warnings
from decimal import Decimal

import numpy as np
import pytest
from matplotlib.ft2font import FT2Font
from PIL import Image

from scheduler.digest_chart import ChartRow, chart_title, draw_chart, font_path, totals_lines

ROWS = [
    ChartRow("三一产业基地", "red", Decimal("1.5"), Decimal(15)),
    ChartRow("高速扩容", None, Decimal(8), Decimal(18)),
    ChartRow("硬质材料产业园", "yellow", None, Decimal(15)),
    ChartRow("碳纤维项目", "orange", Decimal("2.2"), Decimal("4.4")),
]


def _glyph_bitmap(font: FT2Font, char: str) -> np.ndarray:
    font.set_text(char, 0.0)
    font.draw_glyphs_to_bitmap()
    return np.asarray(font.get_image()).copy()


def test_png_with_chinese_and_no_missing_glyphs() -> None:
    title = chart_title(dt.date(2023, 5, 10))
    assert title == "您关注的项目 · 5月10日"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph … missing from font(s)"
        png = draw_chart(ROWS, title=title, share=0.36)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size[0] > 600 and image.size[1] > 300
    pixels = np.asarray(image.convert("RGB"))
    assert (pixels == (0xd9, 0x30, 0x25)).all(axis=-1).sum() > 100  # the red light's bar
    assert (pixels == (0xe6, 0xb8, 0x00)).all(axis=-1).sum() > 20  # the yellow light's dot


def test_the_font_has_every_glyph_the_chart_uses() -> None:
    assert font_path().name == "NotoSansSC-Regular.otf"
    font = FT2Font(str(font_path()))
    font.set_size(24, 72)
    # a character the font lacks warns (what test_png… listens for) and draws the .notdef
    with pytest.warns(UserWarning, match="missing from font"):
        notdef = _glyph_bitmap(font, "\ue000")
    text = ("您关注的项目全部重点绿灯黄橙红共个序时进度今年完成投资占年度计划"
            "未报送无其余请在一屏统览查看")
    text += "".join(r.name for r in ROWS)
    for char in set(text):
        assert font.get_char_index(ord(char)) != 0, char
        bitmap = _glyph_bitmap(font, char)
        assert bitmap.any(), char
        assert bitmap.shape != notdef.shape or not np.array_equal(bitmap, notdef), char


def test_many_projects_are_cut_to_the_worst() -> None:
    rows = [ChartRow(f"项目{i}", "red" if i == 39 else None, Decimal(i % 7), Decimal(10))
            for i in range(40)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        png = draw_chart(rows, title="杨国栋关注的项目", share=0.5)
    small = draw_chart(rows[:5], title="杨国栋关注的项目", share=0.5)
    tall, short = Image.open(io.BytesIO(png)), Image.open(io.BytesIO(small))
    assert tall.size[1] < 0.34 * 26 * 110 + 300  # 25 rows drawn, not 40
    assert tall.size[1] > short.size[1]


def test_totals_for_the_top_leader() -> None:
    # plans 15 + 18 + 15 + 4.4 = 52.4; done 1.5 + 8 + 2.2 = 11.7 → 22.3 %
    assert totals_lines(ROWS, 0.36, open_issues=4, overdue_issues=1) == [
        "全区 4 个项目：红灯 1、橙灯 1、黄灯 1、绿灯 1",
        "今年完成投资 11.7 亿元，为年度计划 52.4 亿元的 22.3%（序时进度 36%），"
        "1 个项目今年还没有报送投资",
        "交办件未办结 4 件，其中超期 1 件",
    ]
    assert totals_lines([], 0.5, 0, 0) == [
        "全区 0 个项目：暂无", "今年完成投资 0 亿元，为年度计划 0 亿元的 —（序时进度 50%）",
        "交办件未办结 0 件"]
