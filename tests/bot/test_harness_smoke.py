async def test_harness_starts(harness) -> None:
    me = await harness.bot.get_me()
    assert me.username == "gongjian_bot"
