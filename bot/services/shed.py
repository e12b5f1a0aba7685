"""Messages beyond a sender's inbound limit: not parsed, not answered one by one, but kept.

A flood must not starve anyone else, so a shed message costs no database work of its own:
its raw text joins a batch written by one INSERT (many rows) and one commit — a group
commit: what arrives while a batch is being written goes in the next one, so under a flood
batches grow with the database's latency and at most one is being written at a time.

Each message gets a future that resolves once its batch is committed; the inbound path
acknowledges the update to the platform only then (bot.polling holds the offset without
holding a handler slot), so a crash before the batch is written loses nothing: the update
is delivered again. Rows are reports in state `shed`, keyed by the platform's update id
like every report (stored once however often the update arrives).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import Report
from storage.states import ReportState

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Shed:
    """One message as it arrived."""

    telegram_update_id: int | None
    chat_id: int
    message_id: int | None
    sender_telegram_id: int | None
    text: str
    photo_file_id: str | None
    sent_at: dt.datetime
    received_at: dt.datetime
    is_edit: bool = False


def _row(s: Shed) -> dict[str, object]:
    """The report row (no dataclasses.asdict: it deep-copies every value, a flood's cost)."""
    return {"telegram_update_id": s.telegram_update_id, "chat_id": s.chat_id,
            "message_id": s.message_id, "sender_telegram_id": s.sender_telegram_id,
            "sender_id": None, "text": s.text, "photo_file_id": s.photo_file_id,
            "sent_at": s.sent_at, "received_at": s.received_at, "is_edit": s.is_edit,
            "state": ReportState.SHED.value}


class ShedLog:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession], *,
                 delay: float = 0.005, max_batch: int = 1000) -> None:
        self._factory, self._delay, self._max = session_factory, delay, max_batch
        self._waiting: list[tuple[Shed, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.written = 0  # rows committed (tests, logs)

    def add(self, shed: Shed) -> asyncio.Future[None]:
        """Queue `shed` for the next batch; the future is done once it is stored."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((shed, future))
        if len(self._waiting) >= self._max:
            self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return future

    async def _run(self) -> None:
        while self._waiting:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._delay)
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        batch, self._waiting = self._waiting, []
        if not batch:
            return
        try:
            async with self._factory() as session:
                conn = await session.connection()
                insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
                stmt = insert(Report.__table__).on_conflict_do_nothing(
                    index_elements=["telegram_update_id"])
                await conn.execute(stmt, [_row(s) for s, _ in batch])
                await session.commit()
        except Exception as exc:  # the database is away: the updates are delivered again
            log.warning("限流消息 %d 条未能保存（%s）", len(batch),
                        type(exc).__name__)
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        self.written += len(batch)
        for _, future in batch:
            if not future.done():
                future.set_result(None)

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
