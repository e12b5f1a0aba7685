"""Typed keys for what the application carries."""

from __future__ import annotations

from aiohttp import web
from jinja2 import Environment
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.middlewares import Clock
from web.auth import SessionCodec

SETTINGS = web.AppKey("settings", Settings)
SESSIONS = web.AppKey("sessions", async_sessionmaker[AsyncSession])
CLOCK = web.AppKey("clock", Clock)
CODEC = web.AppKey("codec", SessionCodec)
TEMPLATES = web.AppKey("templates", Environment)
