"""Count a message received again (the same bytes for the same account), and when it last was

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('message') as batch:
        batch.add_column(sa.Column('resent_count', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('last_resent_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('message') as batch:
        batch.drop_column('last_resent_at')
        batch.drop_column('resent_count')
