"""Alembic environment: run migrations on the connection the store hands over."""

from alembic import context

from ingest.store.schema import declare_partial_indexes, metadata

declare_partial_indexes()

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
