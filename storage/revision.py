"""Developer helper: autogenerate a migration against a scratch SQLite database.

usage: python -m storage.revision "what changed"

The chain is append-only: deployed databases are stamped with its revisions.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from alembic import command
from sqlalchemy.engine import Connection

from storage.db import make_engine
from storage.schema import alembic_config, upgrade


async def _main(message: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite+aiosqlite:///{Path(tmp) / 'rev.db'}")
        await upgrade(engine)

        def _rev(conn: Connection) -> None:
            command.revision(alembic_config(conn), message=message, autogenerate=True)

        async with engine.begin() as conn:
            await conn.run_sync(_rev)
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1] if len(sys.argv) > 1 else "schema change"))
