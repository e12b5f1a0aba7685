"""Which bot message carries a report's buttons, written in batches off the hot path.

A report's own transaction cannot hold the id of a reply sent after it commits; writing it
at once would cost a second commit per report. The id is needed only later (an edit of the
message replaces the old summary; a button press brings its own message), so ids are kept
in memory and written a batch at a time, one statement and one commit per batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import Report

log = logging.getLogger(__name__)
_TABLE = Report.__table__
_SET = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("rid"), _TABLE.c.reply_message_id.is_(None))
    .values(reply_message_id=bindparam("mid"))
)


class ReplyIds:
    def __init__(
        self, session_factory: async_sessionmaker[AsyncSession], *, delay: float = 1.0
    ) -> None:
        self._factory, self._delay = session_factory, delay
        self._pending: dict[int, int] = {}
        self._task: asyncio.Task[None] | None = None

    def note(self, report_id: int, message_id: int) -> None:
        self._pending[report_id] = message_id
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._later())

    def get(self, report_id: int) -> int | None:
        """An id noted but not written yet."""
        return self._pending.get(report_id)

    async def _later(self) -> None:
        while self._pending:
            await asyncio.sleep(self._delay)
            await self.flush()

    async def flush(self) -> None:
        if not self._pending:
            return
        batch = dict(self._pending)
        try:
            async with self._factory() as session:
                await session.execute(
                    _SET, [{"rid": r, "mid": m} for r, m in batch.items()]
                )
                await session.commit()
        except Exception:  # the database is away: keep them for the next batch
            log.warning("could not store %d reply message ids", len(batch), exc_info=True)
            return
        for report_id, message_id in batch.items():
            if self._pending.get(report_id) == message_id:
                del self._pending[report_id]

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
