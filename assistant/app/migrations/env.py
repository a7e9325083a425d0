"""Alembic's entry point for the journal's schema (assistant/app/database.py runs it).

The app hands over an open connection (`config.attributes["connection"]`), inside a transaction
that, on PostgreSQL, holds the migration lock. Given only a URL (`sqlalchemy.url`), it opens its
own. SQLite cannot alter most of a table in place, so migrations run in Alembic's batch mode
there (copy, change, rename)."""

from alembic import context
from sqlalchemy import create_engine


def run(connection) -> None:
    context.configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


given = context.config.attributes.get("connection")
if given is not None:
    run(given)
else:
    with create_engine(context.config.get_main_option("sqlalchemy.url")).begin() as connection:
        run(connection)
