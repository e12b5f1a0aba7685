"""Signing in to the dashboard: one-time links, expiry, the session cookie, and scope."""

from __future__ import annotations

import asyncio
import hashlib

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import AuditLog, WebLoginToken
from tests.seed import seed_sample_ledger
from tests.web.conftest import HAN, KONG, WebHarness, codes_on, make_harness, web_settings
from web.auth import COOKIE


async def test_without_session_only_the_sign_in_hint(web: WebHarness) -> None:
    for path in ("/", "/p/P004", "/p/P001", "/?light=red"):
        page = await web.page(path, status=401)
        assert "请先登录" in page and "/web" in page
        assert "P00" not in page and "三一" not in page and "高速" not in page


async def test_link_signs_in_once(web: WebHarness) -> None:
    token = await web.link_token("孔德明")
    confirm = await web.page(f"/login?t={token}")
    assert "确认登录" in confirm
    # Opening the link (a chat app's preview does the same) does not spend it.
    assert "确认登录" in await web.page(f"/login?t={token}")

    resp = await web.client.post("/login", data={"t": token}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/"
    cookie = resp.cookies[COOKIE]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert int(cookie["max-age"]) == 7 * 24 * 3600
    assert not cookie["secure"]  # plain http in tests; https public_url below

    page = await web.page("/")
    assert codes_on(page) == KONG
    assert "孔德明" in page and "您联系的项目" in page

    # The same link a second time, in a fresh browser: refused, in Chinese.
    web.client.session.cookie_jar.clear()
    again = await web.client.post("/login", data={"t": token}, allow_redirects=False)
    assert again.status == 403
    text = await again.text()
    assert "已被使用或已过期" in text and COOKIE not in again.cookies
    assert "已被使用或已过期" in await web.page(f"/login?t={token}", status=403)
    assert "请先登录" in await web.page("/", status=401)


async def test_link_expires_after_15_minutes(web: WebHarness) -> None:
    early = await web.link_token("孔德明")
    late = await web.link_token("孔德明")
    web.clock.advance(minutes=14, seconds=59)
    resp = await web.client.post("/login", data={"t": early}, allow_redirects=False)
    assert resp.status == 303
    web.client.session.cookie_jar.clear()
    web.clock.advance(seconds=2)
    resp = await web.client.post("/login", data={"t": late}, allow_redirects=False)
    assert resp.status == 403
    assert "已过期" in await resp.text()


async def test_unknown_and_malformed_tokens_refused(web: WebHarness) -> None:
    for token in ("", "nope", "x" * 500):
        resp = await web.client.post("/login", data={"t": token}, allow_redirects=False)
        assert resp.status == 403
    assert "请先登录" in await web.page("/", status=401)


async def test_tokens_stored_hashed_and_audited(web: WebHarness) -> None:
    token = await web.link_token("孔德明")
    async with web.session_factory() as session:
        row = await session.scalar(select(WebLoginToken))
        assert row is not None
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in row.token_hash
    await web.client.post("/login", data={"t": token}, allow_redirects=False)
    async with web.session_factory() as session:
        actions = set((await session.scalars(select(AuditLog.action))).all())
    assert {"web_login.create", "web_login.used"} <= actions


async def test_leader_cannot_open_another_leaders_project(web: WebHarness) -> None:
    await web.sign_in("孔德明")
    own = await web.page("/p/P004")
    assert "三一集团产业基地" in own and "倒排工期" in own
    for code in [*sorted(HAN), "P999"]:
        page = await web.page(f"/p/{code}", status=403)
        assert "无权查看" in page
        assert "京港澳" not in page and "高速扩容" not in page
    # Filters cannot widen the scope either.
    assert codes_on(await web.page("/?leader=韩立新")) == set()


async def test_other_leader_sees_only_theirs(web: WebHarness) -> None:
    await web.sign_in("韩立新")
    page = await web.page("/")
    assert codes_on(page) == HAN
    assert "三一产业基地" not in page


async def test_top_leader_and_administrator_see_all(web: WebHarness) -> None:
    for name in ("杨国栋", "林晓"):
        web.client.session.cookie_jar.clear()
        await web.sign_in(name)
        page = await web.page("/")
        assert len(codes_on(page)) == 32
        assert KONG | HAN <= codes_on(page)
        assert "全部重点项目" in page
        assert "高速扩容" in await web.page("/p/P001")


async def test_forged_or_expired_cookie_is_no_session(web: WebHarness) -> None:
    await web.sign_in("孔德明")
    good = web.client.session.cookie_jar.filter_cookies(web.client.make_url("/"))[COOKIE].value
    web.client.session.cookie_jar.clear()
    person_part, _, signature = good.rpartition(".")
    web.client.session.cookie_jar.update_cookies({COOKIE: f"{person_part}.{signature[::-1]}"})
    assert "请先登录" in await web.page("/", status=401)

    web.client.session.cookie_jar.update_cookies({COOKIE: good})
    assert codes_on(await web.page("/")) == KONG
    web.clock.advance(days=7, seconds=1)  # past session_days
    assert "请先登录" in await web.page("/", status=401)


async def test_cookie_signed_by_another_key_refused(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory() as session:
        await seed_sample_ledger(session)
    one = await make_harness(session_factory)
    other = await make_harness(session_factory, web_settings(secret_key="another-key"))
    try:
        await one.sign_in("杨国栋")
        value = one.client.session.cookie_jar.filter_cookies(one.client.make_url("/"))[COOKIE]
        other.client.session.cookie_jar.update_cookies({COOKIE: value.value})
        assert "请先登录" in await other.page("/", status=401)
    finally:
        await one.client.close()
        await other.client.close()


async def test_https_public_url_marks_cookie_secure(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory() as session:
        await seed_sample_ledger(session)
    harness = await make_harness(
        session_factory, web_settings(public_url="https://gongjian.example.gov.cn/"))
    try:
        token = await harness.link_token("孔德明")
        resp = await harness.client.post("/login", data={"t": token}, allow_redirects=False)
        assert resp.cookies[COOKIE]["secure"] is True
    finally:
        await harness.client.close()


async def test_security_headers(web: WebHarness) -> None:
    resp = await web.client.get("/")
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert resp.headers["Cache-Control"] == "no-store"


async def test_one_link_used_twice_at_once_signs_in_once(web: WebHarness) -> None:
    token = await web.link_token("孔德明")

    async def use() -> int:
        resp = await web.client.post("/login", data={"t": token}, allow_redirects=False)
        return resp.status

    statuses = sorted(await asyncio.gather(use(), use(), use()))
    assert statuses == [303, 403, 403]


async def test_sign_out(web: WebHarness) -> None:
    await web.sign_in("孔德明")
    assert codes_on(await web.page("/")) == KONG
    resp = await web.client.post("/logout", allow_redirects=False)
    assert resp.status == 303
    assert resp.cookies[COOKIE].value == ""
    assert "请先登录" in await web.page("/", status=401)


async def test_unknown_pages_answer_in_chinese(web: WebHarness) -> None:
    page = await web.page("/nope", status=404)
    assert "页面不存在" in page and "Not Found" not in page
    resp = await web.client.delete("/")
    assert resp.status == 405 and "不支持" in await resp.text()
    static = await web.client.get("/static/echarts.min.js")
    assert static.status == 200 and "javascript" in static.headers["Content-Type"]
    notice = await web.client.get("/static/echarts-NOTICE.txt")
    assert notice.status == 200 and "Apache ECharts" in await notice.text()
