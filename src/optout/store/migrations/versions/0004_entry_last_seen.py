"""Index entries by last_seen, for the changes feed's expiries

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_entry_last_seen', 'entry', ['last_seen'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_entry_last_seen', table_name='entry')
