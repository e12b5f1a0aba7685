"""Persistence: typed ORM models, engine/session helpers, migrations, ledger import/export."""
