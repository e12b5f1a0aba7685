"""/rank [月|季|期间]: the rankings (龙虎榜), answered by the conversation core."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command

from handlers.lookup import command_cmd


def build_router() -> Router:
    """A new router with this module's handlers (one per dispatcher)."""
    router = Router(name="ranking")
    router.message.register(command_cmd, Command("rank"))
    return router
