"""Wordings taught at run time: the table, and which wording recognised each message

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('message') as batch:
        batch.add_column(sa.Column('wording', sa.String(length=20), nullable=True))
        batch.add_column(sa.Column('wording_group', sa.String(length=12), nullable=True))
    op.create_index('ix_message_wording_group', 'message', ['wording_group'], unique=False)
    op.create_table('wording',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('language', sa.String(length=12), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('sentence', sa.String(length=2000), nullable=False),
    sa.Column('subject', sa.String(length=500), nullable=True),
    sa.Column('taught_by', sa.String(length=100), nullable=False),
    sa.Column('taught_at', sa.DateTime(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('forgotten_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['message_id'], ['message.id'], ),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade() -> None:
    op.drop_table('wording')
    op.drop_index('ix_message_wording_group', table_name='message')
    with op.batch_alter_table('message') as batch:
        batch.drop_column('wording_group')
        batch.drop_column('wording')
