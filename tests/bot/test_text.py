from bot.text import esc, split_message


def test_escape_keeps_text_and_neutralises_tags() -> None:
    assert esc("<b>三一</b> & 钢铁城") == "&lt;b&gt;三一&lt;/b&gt; &amp; 钢铁城"


def test_split_respects_limit_and_loses_nothing() -> None:
    lines = [f"第{i}行 " + "项" * 50 for i in range(300)]
    text = "\n".join(lines)
    parts = split_message(text, limit=1000)
    assert len(parts) > 1
    assert all(len(p) <= 1000 for p in parts)
    assert "\n".join(parts) == text


def test_split_cuts_an_overlong_line() -> None:
    parts = split_message("长" * 2500, limit=1000)
    assert [len(p) for p in parts] == [1000, 1000, 500]


def test_short_text_is_one_part() -> None:
    assert split_message("收到") == ["收到"]
    assert split_message("") == [""]


def test_columns_count_chinese_twice() -> None:
    from bot.text import columns, to_plain

    assert columns("孙浩") == 4 and columns("--ledger 台账") == 13 and columns("") == 0
    assert to_plain("<b>预警</b>&lt;一&gt;<br>二") == "预警<一>\n二"
