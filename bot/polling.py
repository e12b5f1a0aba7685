"""Long polling that acknowledges an update only once it was handled.

aiogram's own polling moves the getUpdates offset past an update as soon as it is fetched:
an update whose handling failed because the database was away is gone. Here the offset
moves only past a prefix of updates that were handled; an update that failed for want of
storage (storage.db.is_storage_failure) is handled again after a back-off, and everything
after it is fetched again but not handled twice (the ids handled are remembered until the
offset passes them; a redelivery after a restart is caught by the report's unique update id).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.methods import GetUpdates
from aiogram.methods.base import Response
from aiogram.types import Update
from pydantic import ValidationError

from storage.db import is_storage_failure

log = logging.getLogger(__name__)
PAGE = 100  # updates per getUpdates (Telegram's most)


class _RawGetUpdates(GetUpdates):
    """getUpdates answered as plain dicts. A poll returns every update from the offset on,
    those in flight or handled above an unfinished one too: only the new ones are made
    into models (building an Update costs more than handling a line of it)."""

    __returning__ = list[dict[str, Any]]


# Held: pydantic caches a generic model only weakly (as bot.telegram does for the others).
_RESPONSE_MODEL = Response[list[dict[str, Any]]]


@dataclass
class _Retry:
    update: Update
    attempts: int
    at: float  # monotonic time of the next attempt


@dataclass
class DurablePolling:
    dp: Dispatcher
    bot: Bot
    concurrency: int = 16
    polling_timeout: int = 10
    retry_base: float = 0.5
    retry_max: float = 15.0
    # How long a poll waits for updates in flight to be stored first: a poll before then
    # fetches (and parses) them again, and cannot wait for new ones.
    hold: float = 0.02
    _inflight: dict[int, asyncio.Task[None]] = field(default_factory=dict)
    _retry: dict[int, _Retry] = field(default_factory=dict)
    _done: set[int] = field(default_factory=set)
    _stored: set[int] = field(default_factory=set)  # in flight, but durable already
    # Handled, not durable yet: a shed message waiting for its batch (bot.services.shed)
    # holds the offset, not a handler slot.
    _deferred: dict[int, Awaitable[None]] = field(default_factory=dict)
    # Fetched, not started yet (no room): started as handlers finish, not fetched again.
    _fetched: collections.deque[Update] = field(default_factory=collections.deque)
    _fetched_ids: set[int] = field(default_factory=set)
    _next: int | None = None  # one past the highest update id seen
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def offset(self) -> int | None:
        """The lowest update not yet handled (Telegram forgets everything below it)."""
        waiting = [*(u for u in self._inflight if u not in self._stored), *self._retry,
                   *self._deferred, *self._fetched_ids]
        return min(waiting) if waiting else self._next

    def _unstored(self) -> bool:
        """Updates hold the offset (a poll now would return them again)."""
        return bool(self._deferred) or any(u not in self._stored for u in self._inflight)

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set; the dispatcher's startup and shutdown hooks around it."""
        workflow = {"dispatcher": self.dp, "bots": [self.bot], **self.dp.workflow_data}
        workflow.pop("bot", None)
        await self.dp.emit_startup(bot=self.bot, **workflow)
        try:
            await self._loop(stop)
        finally:
            if self._inflight:
                await asyncio.wait(list(self._inflight.values()), timeout=30)
            await self.dp.emit_shutdown(bot=self.bot, **workflow)

    async def _loop(self, stop: asyncio.Event) -> None:
        """Polls only when everything fetched has started and there is room: a poll returns
        every update from the offset on (up to 100), and parsing the same ones again and
        again cost more than handling them. When every update in flight is stored (and no
        retry is due) the poll is a long poll, as aiogram's own."""
        allowed = self.dp.resolve_used_update_types()
        # The inbound limit's gate (bot.middlewares.InboundLimitMiddleware.gate), if any.
        gate: Callable[[Update, Bot], Awaitable[None] | None] | None = \
            self.dp.workflow_data.get("inbound_gate")
        failures = 0
        stopping = asyncio.create_task(stop.wait())
        try:
            while not stopping.done():
                self._start_fetched()
                self._start_due_retries()
                if self._fetched or len(self._inflight) >= self.concurrency:
                    await self._wait(stopping, 1.0)  # for room
                    continue
                deadline = time.monotonic() + self.hold
                while self._unstored() and not stopping.done():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    await self._wait(stopping, left)
                if stopping.done():
                    break
                long = not self._unstored() and not self._retry
                fetched_from = self.offset
                method = _RawGetUpdates(offset=fetched_from, allowed_updates=allowed,
                                        limit=PAGE,
                                        timeout=self.polling_timeout if long else 0)
                fetch = asyncio.create_task(self.bot(
                    method, request_timeout=int(self.bot.session.timeout + self.polling_timeout)
                ))
                await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not fetch.done():
                    fetch.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await fetch
                    break
                try:
                    raw = fetch.result()
                except Exception as exc:  # the API is away: try again, never give up
                    failures += 1
                    delay = min(self.retry_base * 2 ** min(failures, 6), 30.0)
                    log.warning("getUpdates 失败（%s），%.1f 秒后重试",
                                type(exc).__name__, delay)
                    await _sleep_or_stop(delay, stopping)
                    continue
                failures = 0
                new = 0
                for item in raw:
                    uid = int(item["update_id"])
                    self._next = max(self._next or 0, uid + 1)
                    if (uid in self._inflight or uid in self._done or uid in self._retry
                            or uid in self._fetched_ids):
                        continue
                    try:
                        update = Update.model_validate(item, context={"bot": self.bot})
                    except ValidationError:  # not retried for ever: skipped, and said
                        log.exception("更新 %s 格式无效，已跳过", uid)
                        self._done.add(uid)
                        continue
                    new += 1
                    shed = gate(update, self.bot) if gate is not None else None
                    if shed is not None:  # beyond its sender's limit: no slot, no dispatch
                        self._done.add(uid)
                        self._defer(update, 0, shed)
                        continue
                    self._fetched.append(update)
                    self._fetched_ids.add(uid)
                self._forget_below(self.offset)
                if len(raw) >= PAGE and not new:
                    # A full page, all in hand: nothing else can be fetched before the
                    # offset moves (fetching it again would only read it again).
                    await self._until_offset_moves(fetched_from, stopping)
                elif not new and not long:  # nothing new: wait for a handler or a retry
                    await self._idle(stopping)
        finally:
            stopping.cancel()

    async def _wait(self, stopping: asyncio.Task[bool], timeout: float) -> None:
        """Until a handler stores or finishes an update, `stop`, or `timeout`."""
        self._wake.clear()
        waker = asyncio.create_task(self._wake.wait())
        try:
            await asyncio.wait({waker, stopping}, timeout=timeout,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            waker.cancel()

    def _start_fetched(self) -> None:
        while self._fetched and len(self._inflight) < self.concurrency:
            update = self._fetched.popleft()
            self._fetched_ids.discard(update.update_id)
            self._start(update, 0)

    def _start(self, update: Update, attempts: int) -> None:
        task = asyncio.create_task(self._handle(update, attempts))
        self._inflight[update.update_id] = task

    def _start_due_retries(self) -> None:
        now = time.monotonic()
        for uid, retry in sorted(self._retry.items()):
            if retry.at <= now and len(self._inflight) < self.concurrency:
                del self._retry[uid]
                self._start(retry.update, retry.attempts)

    async def _handle(self, update: Update, attempts: int) -> None:
        uid = update.update_id
        def stored() -> None:
            self._stored.add(uid)
            self._wake.set()

        def defer(durable: Awaitable[None]) -> None:
            self._defer(update, attempts, durable)

        try:
            # `acknowledge`: a handler calls it once what arrived is stored, so a slow reply
            # does not hold back the offset (getUpdates returns 100 updates past it at most).
            # `defer`: what arrived will be stored once that awaitable is done.
            await self.dp.feed_update(self.bot, update, acknowledge=stored, defer=defer)
            self._done.add(uid)
        except Exception as exc:
            if uid in self._stored:  # stored already: the unique update id makes a retry moot
                log.warning("更新 %s 已保存，但处理失败", uid, exc_info=True)
                self._done.add(uid)
            elif is_storage_failure(exc):
                delay = min(self.retry_base * 2 ** attempts, self.retry_max)
                log.warning("更新 %s 未能保存（%s）：暂不确认，%.1f 秒后重试",
                            uid, type(exc).__name__, delay)
                self._retry[uid] = _Retry(update, attempts + 1, time.monotonic() + delay)
            else:  # a bug the error handler did not take: do not retry it for ever
                log.exception("更新 %s 处理失败", uid)
                self._done.add(uid)
        finally:
            self._inflight.pop(uid, None)
            self._stored.discard(uid)
            self._wake.set()

    def _defer(self, update: Update, attempts: int, durable: Awaitable[None]) -> None:
        """Handled; acknowledged once `durable` is done (stored), handled again if it fails."""
        future = asyncio.ensure_future(durable)
        self._deferred[update.update_id] = future
        future.add_done_callback(lambda f: self._settle(update, attempts, f))

    def _settle(self, update: Update, attempts: int, durable: asyncio.Future[None]) -> None:
        """A deferred update's storage is done: acknowledged, or handled again later."""
        uid = update.update_id
        self._deferred.pop(uid, None)
        exc = None if durable.cancelled() else durable.exception()
        if durable.cancelled() or exc is not None:
            delay = min(self.retry_base * 2 ** attempts, self.retry_max)
            log.warning("更新 %s 未能保存（%s）：暂不确认，%.1f 秒后重试",
                        uid, type(exc).__name__, delay)
            self._done.discard(uid)
            self._retry[uid] = _Retry(update, attempts + 1, time.monotonic() + delay)
        self._wake.set()

    def _forget_below(self, offset: int | None) -> None:
        if offset is not None:
            self._done = {uid for uid in self._done if uid >= offset}

    async def _until_offset_moves(self, offset: int | None,
                                  stopping: asyncio.Task[bool]) -> None:
        while self.offset == offset and not stopping.done():
            if self._retry and min(r.at for r in self._retry.values()) <= time.monotonic():
                return  # a retry is due: the loop starts it
            self._wake.clear()
            waker = asyncio.create_task(self._wake.wait())
            try:
                await asyncio.wait({waker, stopping}, timeout=1.0,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                waker.cancel()
        if self._deferred:  # a batch being written (ms): let it land, the page moves further
            await asyncio.wait(list(self._deferred.values()), timeout=0.05)

    async def _idle(self, stopping: asyncio.Task[bool]) -> None:
        if not (self._inflight or self._retry):
            return
        timeout = 1.0
        if self._retry:
            timeout = max(0.0, min(r.at for r in self._retry.values()) - time.monotonic())
        await self._wait(stopping, min(timeout, 1.0))


async def _sleep_or_stop(delay: float, stopping: asyncio.Task[bool]) -> None:
    await asyncio.wait({stopping}, timeout=delay)
