"""Alembic environment: runs on the connection optout hands it (see ``optout.store.db.upgrade``)."""

from alembic import context
from sqlmodel import SQLModel

import optout.store.models  # noqa: F401  (registers the tables on SQLModel.metadata)

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying
)
with context.begin_transaction():
    context.run_migrations()
