"""web login tokens: one-time dashboard sign-in links

Revision ID: 3c1d7e5a9b20
Revises: f9a90e702a89
Create Date: 2026-12-01 09:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types


revision: str = '3c1d7e5a9b20'
down_revision: str | None = 'f9a90e702a89'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('web_login_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('expires_at', storage.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('used_at', storage.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('created_at', storage.types.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_web_login_tokens_person_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_web_login_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_web_login_tokens_token_hash'))
    )
    with op.batch_alter_table('web_login_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_login_tokens_person_id'), ['person_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('web_login_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_login_tokens_person_id'))
    op.drop_table('web_login_tokens')
