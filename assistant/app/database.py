"""The database that holds what participants own: one SQLAlchemy engine for SQLite or PostgreSQL.

The journal (and the export links) speak SQLAlchemy Core to it, so the same statements run on the
embedded SQLite file (the default, no server) and on a PostgreSQL server shared by several app
replicas (`ASSISTANT_DATABASE_URL`). What differs between the two lives here and nowhere else:

- SQLite: a connection per use (`NullPool`, as before: nothing holds the file open between uses),
  foreign keys and `secure_delete` on every connection, and one writer at a time in this process.
- PostgreSQL (psycopg 3): a connection pool that tests each connection before handing it out
  (`pool_pre_ping`), so that after the server restarts the next call reconnects instead of failing
  on a dead connection; a short connect timeout, so a dead server is reported, not waited for.

A database that cannot be reached becomes `DatabaseUnavailable`, a `ServiceError`: the faces show
its message like any other missing service, and the next call tries again.

The schema is versioned with Alembic (`assistant/app/migrations/`); `upgrade` brings any database,
empty or made by an older version of the app, to the newest schema, and is run when the journal
opens. On PostgreSQL an advisory lock makes replicas that start together take turns.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, exc, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from assistant.core.errors import ServiceError
from assistant.core.settings import masked_url

MIGRATIONS = Path(__file__).with_name("migrations")
# The newest migration's revision. A database already there opens without importing Alembic (about
# a second of a server's start, docs/performance.md); `tests/test_journal.py` checks that this is
# Alembic's head, so a new migration without it here fails the tests instead of being skipped.
HEAD_REVISION = "0002"
# Any fixed number: the key of the advisory lock that serialises migrations across replicas.
_MIGRATION_LOCK = 0x6A6F75726E616C  # "journal"


class DatabaseUnavailable(ServiceError, RuntimeError):
    """The journal's database does not answer (stopped, restarting, unreachable, or busy)."""

    default_message = (
        "Dagboken er ikke tilgjengelig akkurat nå (databasen svarer ikke). Det siste du gjorde er kanskje "
        "ikke lagret. Prøv igjen om litt."
    )


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


class Database:
    """An engine plus the few things that differ between SQLite and PostgreSQL."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite:
            self.path: Path | None = Path(self.url.database) if self.url.database else None
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(self.url, poolclass=NullPool, connect_args={"timeout": 10})
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.path = None
            self.engine = create_engine(
                self.url, pool_pre_ping=True, pool_size=5, max_overflow=10, pool_timeout=10,
                connect_args={"connect_timeout": 5},
            )
        # SQLite has one writer per file: in this process, take turns instead of meeting
        # "database is locked" (PostgreSQL locks rows itself).
        self._turn = threading.Lock() if self.is_sqlite else None

    @property
    def where(self) -> str:
        """Where the data is, fit to show a participant (no password)."""
        if self.is_sqlite:
            return str(self.path)
        return masked_url(self.url.render_as_string(hide_password=False)).replace("postgresql+psycopg://", "postgresql://")

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back on an error."""
        with self._in_turn(), _reported():
            with self.engine.begin() as conn:
                yield conn

    @contextlib.contextmanager
    def autocommit(self) -> Iterator[Connection]:
        """A connection outside any transaction (VACUUM cannot run inside one)."""
        with self._in_turn(), _reported():
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                yield conn

    def _in_turn(self):
        return self._turn if self._turn is not None else contextlib.nullcontext()

    def upgrade(self) -> None:
        """Bring the schema to the newest version (Alembic's `upgrade head`); a database already
        at `HEAD_REVISION` is left as it is without loading Alembic."""
        if self.at_head():
            return
        from alembic import command

        with self.begin() as conn:
            if not self.is_sqlite:
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            command.upgrade(alembic_config(conn), "head")

    def at_head(self) -> bool:
        """The schema is at `HEAD_REVISION` (read from Alembic's version table directly)."""
        with self.begin() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return False
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [HEAD_REVISION]

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.begin() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(connection: Connection | None = None, url: str | None = None):
    """Alembic's configuration in code (no alembic.ini to keep in step): the migrations folder,
    and the connection to run on, or a URL (for the `alembic` command line, see docs/database.md)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    # Deleted reflections are overwritten on disk (explicit: builds differ in the default).
    cursor.execute("PRAGMA secure_delete = ON")
    cursor.close()


@contextlib.contextmanager
def _reported() -> Iterator[None]:
    """A lost or refused connection, a timeout waiting for one, or a locked file: DatabaseUnavailable.
    Other database errors are bugs (a wrong statement) and keep their traceback."""
    try:
        yield
    except (exc.OperationalError, exc.InterfaceError, exc.TimeoutError) as error:
        raise DatabaseUnavailable() from error
    except exc.DBAPIError as error:
        if error.connection_invalidated:
            raise DatabaseUnavailable() from error
        raise
