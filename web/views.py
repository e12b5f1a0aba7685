"""The dashboard's pages. Every page but sign-in needs a session, and shows only projects in
the person's scope (storage.scope, exactly as /status)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.ranking import period_from_args
from bot.services.weblogin import LOGIN_PATH, login_is_usable, redeem_login
from scheduler.ranking import MEDALS, Dimension, RankPeriod, Span, compute_rankings
from storage.figures import elapsed_share
from storage.models import Milestone, Person, Project
from storage.overview import (
    LIGHT_LABELS,
    Filters,
    GroupFigures,
    Light,
    by_lead_department,
    choices_of,
    overview_rows,
    totals_of,
)
from storage.project_view import (
    MilestoneLine,
    MonthPoint,
    alert_lines,
    investment_facts,
    issue_lines,
    milestone_lines,
    month_points,
    report_lines,
)
from storage.scope import sees_everything, visible_projects
from web.auth import COOKIE
from web.keys import CLOCK, CODEC, SESSIONS, SETTINGS, TEMPLATES

HINT_TITLE = "请先登录"


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    settings = request.app[SETTINGS]
    page = request.app[TEMPLATES].get_template(template).render(
        tz=settings.schedule.tz, lights=LIGHT_LABELS, **context
    )
    return web.Response(text=page, status=status, content_type="text/html", charset="utf-8")


def now_of(request: web.Request) -> dt.datetime:
    return request.app[CLOCK]()


def today_of(request: web.Request) -> dt.date:
    return now_of(request).astimezone(request.app[SETTINGS].schedule.tz).date()


async def signed_in(request: web.Request, session: AsyncSession) -> Person | None:
    """The person whose unexpired session cookie this server signed, or None."""
    cookie = request.cookies.get(COOKIE)
    person_id = request.app[CODEC].loads(cookie, now_of(request)) if cookie else None
    return None if person_id is None else await session.get(Person, person_id)


def sign_in_hint(request: web.Request) -> web.Response:
    """What anyone without a session sees: nothing about any project."""
    return render(request, "hint.html", status=401, title=HINT_TITLE)


def refused(request: web.Request, title: str, message: str, status: int) -> web.Response:
    return render(request, "refused.html", status=status, title=title, message=message)


# --- sign-in ----------------------------------------------------------------------------------

LINK_REFUSED = "该登录链接无效、已被使用或已过期（链接 15 分钟内一次有效）。"
LINK_AGAIN = "请在机器人对话中发送 /web 获取新的登录链接，或联系区重点项目办。"


async def login_page(request: web.Request) -> web.Response:
    """Opening the link shows a button; only pressing it spends the link, so a chat app's
    link preview cannot use it up."""
    token = request.query.get("t", "")
    async with request.app[SESSIONS]() as session:
        usable = await login_is_usable(session, token, now_of(request))
    if not usable:
        return refused(request, "登录链接已失效", f"{LINK_REFUSED}{LINK_AGAIN}", 403)
    return render(request, "login.html", title="登录一屏统览", token=token)


async def login_submit(request: web.Request) -> web.Response:
    form = await request.post()
    token = str(form.get("t", ""))
    now = now_of(request)
    async with request.app[SESSIONS]() as session:
        person = await redeem_login(session, token, now)
        if person is None:
            await session.rollback()
            return refused(request, "登录链接已失效", f"{LINK_REFUSED}{LINK_AGAIN}", 403)
        await session.commit()
        person_id = person.id
    response = web.HTTPSeeOther("/")
    request.app[CODEC].set_cookie(response, person_id, now)
    raise response


async def logout(request: web.Request) -> web.Response:
    response = web.HTTPSeeOther("/")
    request.app[CODEC].clear_cookie(response)
    raise response


# --- chart data (plain numbers for ECharts; the tables beside the charts say the same) ---

def _number(value: Decimal | None, digits: int = 2) -> float | None:
    return None if value is None else round(float(value), digits)


def department_data(groups: list[GroupFigures]) -> list[dict[str, Any]]:
    return [
        {"name": g.name, "done": _number(g.year_done_yi), "plan": _number(g.annual_plan_yi),
         "completion": _number(None if g.completion is None else g.completion * 100, 1)}
        for g in groups if g.annual_plan_yi
    ]


def milestone_data(lines: list[MilestoneLine]) -> list[dict[str, Any]]:
    return [
        {"label": m.label, "planned": m.planned, "actual": m.actual, "original": m.original,
         "late": bool(m.late_days)}
        for m in lines
    ]


def month_data(points: list[MonthPoint]) -> list[dict[str, Any]]:
    return [
        {"month": p.month, "amount": _number(p.month_yi), "done": _number(p.done_yi),
         "plan": _number(p.plan_yi)}
        for p in points
    ]


# --- overview ---------------------------------------------------------------------------------

def _filters(request: web.Request) -> Filters:
    q = request.query
    light = q.get("light", "")
    return Filters(
        leader=q.get("leader", "").strip(), department=q.get("department", "").strip(),
        district=q.get("district", "").strip(),
        light=light if light in {x.value for x in Light} else "",
    )


async def overview(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    today = today_of(request)
    async with request.app[SESSIONS]() as session:
        person = await signed_in(request, session)
        if person is None:
            return sign_in_hint(request)
        projects = await visible_projects(session, person, settings.org)
        rows = await overview_rows(session, projects, today, settings.schedule.tz)
        everything = sees_everything(person, settings.org)
        name = person.name
    filters = _filters(request)
    shown = filters.apply(rows)
    shown.sort(key=lambda r: (-r.light.rank, r.code))
    return render(
        request, "overview.html", title="重点项目一屏统览", me=name, everything=everything,
        today=today, elapsed=elapsed_share(today), rows=shown, total_in_scope=len(rows),
        totals=totals_of(shown), filters=filters, choices=choices_of(rows), Light=Light,
        departments=department_data(by_lead_department(shown)),
    )


# --- one project ------------------------------------------------------------------------------

async def project_page(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    tz = settings.schedule.tz
    today = today_of(request)
    code = request.match_info["code"]
    async with request.app[SESSIONS]() as session:
        person = await signed_in(request, session)
        if person is None:
            return sign_in_hint(request)
        project = await session.scalar(select(Project).where(Project.code == code))
        allowed = {p.id for p in await visible_projects(session, person, settings.org)}
        if project is None or project.id not in allowed:
            # The same answer whether it exists or not: nothing leaks outside the scope.
            return refused(request, "无权查看", "无权查看该项目，或项目不存在。", 403)
        [row] = await overview_rows(session, [project], today, tz)
        milestones = milestone_lines((await session.scalars(
            select(Milestone).where(Milestone.project_id == project.id))).all(), today)
        months = month_points(await investment_facts(session, project.id),
                              project.annual_plan_investment, today)
        context = dict(
            project=project, row=row, milestones=milestones, months=months,
            reports=await report_lines(session, project.id),
            alerts=await alert_lines(session, project.id),
            issues=await issue_lines(session, project.id, today),
            me=person.name,
        )
    return render(request, "project.html", title=f"{row.short} · 项目详情", today=today,
                  elapsed=elapsed_share(today), milestone_data=milestone_data(milestones),
                  month_data=month_data(months), **context)


# --- rankings (龙虎榜) --------------------------------------------------------------------------

def ranking_data(entries: Any) -> list[dict[str, Any]]:
    return [{"name": e.name, "score": _number(e.score, 1), "medal": e.medal, "last": e.last}
            for e in entries if e.score is not None]


async def rankings_page(request: web.Request) -> web.Response:
    """The published rankings (the same for everyone, as /rank in chat); project names link
    to their pages only within the person's scope."""
    settings = request.app[SETTINGS]
    today = today_of(request)
    asked = request.query.get("p", "").strip()
    period = period_from_args(asked, today) or RankPeriod.last_complete(Span.MONTH, today)
    async with request.app[SESSIONS]() as session:
        person = await signed_in(request, session)
        if person is None:
            return sign_in_hint(request)
        if period.start > today:
            return refused(request, "尚未开始", f"{period.label}尚未开始，暂无龙虎榜。", 404)
        rankings = await compute_rankings(session, settings, period, today)
        visible = {p.code for p in await visible_projects(session, person, settings.org)}
        name = person.name
    return render(
        request, "rank.html", title=f"{period.label}龙虎榜", me=name, today=today,
        rankings=rankings, Dimension=Dimension, visible=visible, medals=MEDALS,
        previous=period.previous(), following=_following(period, today),
        last_month=RankPeriod.last_complete(Span.MONTH, today),
        last_quarter=RankPeriod.last_complete(Span.QUARTER, today),
        department_data=ranking_data(rankings[Dimension.DEPARTMENT].entries),
    )


def _following(period: RankPeriod, today: dt.date) -> RankPeriod | None:
    after = RankPeriod.containing(period.span, period.end + dt.timedelta(days=1))
    return after if after.start <= today else None


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", overview, name="overview")
    app.router.add_get(LOGIN_PATH, login_page, name="login")
    app.router.add_post(LOGIN_PATH, login_submit)
    app.router.add_post("/logout", logout, name="logout")
    app.router.add_get("/p/{code}", project_page, name="project")
    app.router.add_get("/rank", rankings_page, name="rank")
