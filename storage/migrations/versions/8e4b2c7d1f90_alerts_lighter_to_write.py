"""alerts lighter to write: no index on subject (nothing looks alerts up by it), open alerts
found by an index on state alone, and room on PostgreSQL pages for the sweep's updates

ix_alerts_subject served no query, and ix_alerts_open (state, subject) only ever by its
state: each carried the subject text into a B-tree for every alert opened. With fillfactor
50 the sweep's repeats and escalations (last_notified_at, level: no index) are HOT updates
that touch no index; before, every one rewrote all six. The fillfactor applies to pages
written from now on (an existing table gains it as its rows are rewritten).

Revision ID: 8e4b2c7d1f90
Revises: 5d2f8a1c4e73
Create Date: 2026-12-01 19:10:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '8e4b2c7d1f90'
down_revision: str | None = '5d2f8a1c4e73'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILLFACTOR = 50  # room on each page for one new version of every row on it


def upgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_alerts_subject')
        batch_op.drop_index('ix_alerts_open')
        batch_op.create_index(batch_op.f('ix_alerts_state'), ['state'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f'ALTER TABLE alerts SET (fillfactor = {FILLFACTOR})')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE alerts RESET (fillfactor)')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alerts_state'))
        batch_op.create_index('ix_alerts_open', ['state', 'subject'], unique=False)
        batch_op.create_index('ix_alerts_subject', ['subject'], unique=False)
