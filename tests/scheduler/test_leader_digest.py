"""Leaders' digests carry a picture of their projects; the top leader's text starts with
the totals. Queued through the real outbox on the digest world of test_digest; the picture
is drawn at delivery (render_notices), not when the digests are queued."""

from __future__ import annotations

import datetime as dt
import io
import re

from PIL import Image
from sqlalchemy import select

from bot.config import load_settings
from channels.telegram import render_text
from scheduler.delivery import _Claimed, render_notices
from scheduler.digest import queue_digests
from scheduler.leader_digest import CHART
from scheduler.notice import AttachmentKind
from storage.models import Outbox
from tests.scheduler.test_digest import AT, CAL, seed_digest_world


async def test_pictures_for_leaders_and_totals_for_the_top_leader(session) -> None:
    settings = load_settings(org={"top_leader": "杨国栋"})
    ids = await seed_digest_world(session)
    await queue_digests(session, settings, CAL, AT.astimezone(dt.UTC))
    await session.commit()
    rows = (await session.scalars(select(Outbox))).all()
    # Nothing rendered or drawn when queued: a row carries its day.
    assert all(r.payload == {"digest": "2023-06-01"} for r in rows)
    claimed = {r.person_id: _Claimed.of(r) for r in rows}
    rendered = await render_notices(session, settings, CAL, list(claimed.values()))
    notices = {pid: rendered[c.id] for pid, c in claimed.items()}
    assert claimed[ids["杨国栋"]].payload[CHART]["projects"] is None  # every project
    assert CHART not in claimed[ids["林晓"]].payload

    top = notices[ids["杨国栋"]]
    assert top.attachment is not None and top.attachment.kind is AttachmentKind.IMAGE
    text = render_text(top)
    first = text.split("\n")[1:4]  # right under the title
    assert first[0] == "全区 32 个项目：橙灯 1、绿灯 31"
    assert re.fullmatch(r"今年完成投资 1\.2 亿元，为年度计划 [\d.]+ 亿元的 [\d.]+%"
                        r"（序时进度 42%），31 个项目今年还没有报送投资", first[1]), first[1]
    assert first[2] == "交办件未办结 1 件，其中超期 1 件"
    assert "您关注的 32 个项目" in text  # the text stays

    kong = notices[ids["孔德明"]]  # district leader of six projects
    assert kong.attachment is not None and "全区" not in render_text(kong)
    small = Image.open(io.BytesIO(kong.attachment.data))
    big = Image.open(io.BytesIO(top.attachment.data))
    assert small.format == big.format == "PNG"
    assert small.size[1] < big.size[1]  # 6 projects drawn against 25

    assert notices[ids["林晓"]].attachment is None  # a service person: text only
