"""Where a benchmark step's seconds go in SQL: the time from each cursor execute to its
result, as the driver sees it (network and fetching included), summed per statement text.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


class StatementTimes:
    def __init__(self, engine: AsyncEngine) -> None:
        self.times: dict[str, list[float]] = defaultdict(list)
        sync = engine.sync_engine
        event.listen(sync, "before_cursor_execute", self._before)
        event.listen(sync, "after_cursor_execute", self._after)

    def _before(self, conn: Any, *_: Any) -> None:
        conn.info["statement_started"] = time.perf_counter()

    def _after(self, conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        started = conn.info.pop("statement_started", None)
        if started is not None:
            self.times[" ".join(statement.split())].append(time.perf_counter() - started)

    def reset(self) -> None:
        self.times.clear()

    def report(self, label: str, top: int = 8, width: int = 110) -> str:
        total = sum(sum(t) for t in self.times.values())
        count = sum(len(t) for t in self.times.values())
        lines = [f"--- statements: {label}: {count} executed, {total:.3f}s in all ---"]
        for text, spent in sorted(self.times.items(), key=lambda kv: -sum(kv[1]))[:top]:
            lines.append(f"  {sum(spent):7.3f}s ×{len(spent):<4} {text[:width]}")
        return "\n".join(lines)
