"""alert notices fanned out at delivery: the sweep queues one row per alert notice and
delivery writes the recipients' outbox rows in batches

Revision ID: 5d2f8a1c4e73
Revises: 1af3ccb5723e
Create Date: 2026-12-01 15:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = '5d2f8a1c4e73'
down_revision: str | None = '1af3ccb5723e'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'alert_notices',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('alert_id', sa.Integer(), nullable=False),
        sa.Column('variant', sa.String(length=16), nullable=False),
        sa.Column('level', sa.String(length=8), nullable=False),
        sa.Column('previous', sa.String(length=8), nullable=True),
        sa.Column('day', sa.String(length=10), nullable=False),
        sa.Column('created_at', storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_notices')),
    )


def downgrade() -> None:
    op.drop_table('alert_notices')
