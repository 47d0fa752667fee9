"""refused recipients per client per day

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('refusal',
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('client', sa.String(length=64), nullable=False),
    sa.Column('refused', sa.Integer(), nullable=False),
    sa.Column('blocked', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'client')
    )


def downgrade() -> None:
    op.drop_table('refusal')
