"""projects withdrawn from the ledger: a project a later import no longer names is kept,
hidden, and restored when an import names it again

Revision ID: 1af3ccb5723e
Revises: b7c41d2e9a10
Create Date: 2026-12-01 12:01:24.784566
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types


revision: str = '1af3ccb5723e'
down_revision: str | None = 'b7c41d2e9a10'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('withdrawn_at', storage.types.UtcDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.drop_column('withdrawn_at')
