"""The journal's guarantees on both of its databases (SQLite, the default, and PostgreSQL):
every query is the signed-in user's, erase leaves nothing of the user, retention counts each old
conversation once however many replicas run it, the schema upgrades a journal made before it was
versioned, and a database that goes away gives a clear error and comes back without a restart."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlalchemy import func, select, text, update

from assistant.app.database import DatabaseUnavailable
from assistant.app.journal import CONVERSATIONS, MESSAGES, Journal, NotFound
from assistant.core.errors import ServiceError
from assistant.core.records import Citation
from assistant.core.settings import Settings, invalid_settings

from .conftest import both_databases

MARKER = "PRIVAT-DAGBOK-5c1e"


def _conversation(journal: Journal, user: str, words: str) -> str:
    cid = journal.create(user, mode="reflect", title="Ny refleksjon", stage="where_are_we")
    journal.add_message(user, cid, "assistant", "Hvor er vi?", questions=["Hvor er vi?"], kind="question")
    journal.add_message(user, cid, "user", words)
    journal.add_message(user, cid, "assistant", "Fra materialet: noe. [1]",
                        [Citation(number=1, source="a.md", title="A", kind="programme", locator="", passage="p")])
    journal.update(user, cid, summary=f"## Oppsummering\n- {words}", summary_data={"said": words}, finished=True)
    return cid


def _rows(journal: Journal) -> tuple[list[dict], list[dict]]:
    with journal.database.begin() as db:
        return ([dict(r) for r in db.execute(select(CONVERSATIONS)).mappings()],
                [dict(r) for r in db.execute(select(MESSAGES)).mappings()])


def _age(journal: Journal, cids: list[str], days: float) -> None:
    with journal.database.begin() as db:
        db.execute(update(CONVERSATIONS).where(CONVERSATIONS.c.id.in_(cids))
                   .values(updated=CONVERSATIONS.c.updated - days * 86400))


@both_databases
def test_every_query_is_the_users_own(database):
    journal = Journal(database)
    cid = _conversation(journal, "kari", f"Min private tanke {MARKER}")
    assert [c.id for c in journal.list("kari")] == [cid] and journal.list("ola") == []
    for action in (
        lambda: journal.get("ola", cid),
        lambda: journal.add_message("ola", cid, "user", "kapret"),
        lambda: journal.add_message("ola", cid, "assistant", "kapret"),
        lambda: journal.replace_last("ola", cid, "kapret"),
        lambda: journal.update("ola", cid, title="kapret"),
        lambda: journal.update("ola", cid),
        lambda: journal.export_markdown("ola", cid),
        lambda: journal.delete("ola", cid),
    ):
        with pytest.raises(NotFound):
            action()
    assert journal.export_all("ola") == [] and journal.erase_user("ola") == 0
    conv = journal.get("kari", cid)
    assert conv.title == "Ny refleksjon" and len(conv.messages) == 3 and conv.finished
    assert conv.summary_data == {"said": f"Min private tanke {MARKER}"}
    assert "kapret" not in str(_rows(journal))


@both_databases
def test_a_second_replica_sees_the_same_journal(database):
    """Two Journal objects on one database are two app processes: what one stores, the other reads."""
    a, b = Journal(database), Journal(database)
    cid = _conversation(a, "kari", "Skrevet på replika A.")
    b.add_message("kari", cid, "user", "Fortsatt på replika B.")
    assert [m.content for m in a.get("kari", cid).messages][-1] == "Fortsatt på replika B."
    b.replace_last("kari", cid, "Byttet spørsmål", kind="question")
    assert a.get("kari", cid).messages[-1].kind == "question"


@both_databases
def test_erase_removes_everything_of_the_user_and_nothing_else(database):
    journal = Journal(database)
    for _ in range(3):
        _conversation(journal, "kari", f"Kari skriver {MARKER}")
    draft = journal.create("kari", mode="qa", title="Utkast")
    kept = _conversation(journal, "ola", "Ola sin refleksjon")
    assert journal.erase_user("kari") == 3
    conversations, messages = _rows(journal)
    assert {c["user"] for c in conversations} == {"ola"} and {m["conversation_id"] for m in messages} == {kept}
    assert MARKER not in repr((conversations, messages))
    with pytest.raises(NotFound):
        journal.get("kari", draft)  # drafts too
    assert len(journal.get("ola", kept).messages) == 3


@both_databases
def test_delete_removes_the_conversation_and_its_messages(database):
    journal = Journal(database)
    gone, kept = _conversation(journal, "kari", MARKER), _conversation(journal, "kari", "behold")
    journal.delete("kari", gone)
    conversations, messages = _rows(journal)
    assert [c["id"] for c in conversations] == [kept] and {m["conversation_id"] for m in messages} == {kept}


@both_databases
def test_retention_deletes_old_conversations_once_across_replicas(database):
    """Two replicas run retention at the same moment: every old conversation is deleted, counted
    by exactly one of them, with its messages; fresh ones stay."""
    setup = Journal(database)
    old = [_conversation(setup, f"bruker{i % 7}", f"Gammel {i}") for i in range(60)]
    fresh = [_conversation(setup, "kari", "Ny") for _ in range(3)]
    _age(setup, old, 40)
    replicas = [Journal(database) for _ in range(2)]
    start, counts = threading.Barrier(len(replicas)), []

    def run(replica: Journal) -> None:
        start.wait()
        counts.append(replica.purge_older_than(30))

    threads = [threading.Thread(target=run, args=(r,)) for r in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(counts)[-1] > 0 and sum(counts) == len(old), counts
    conversations, messages = _rows(setup)
    assert sorted(c["id"] for c in conversations) == sorted(fresh)
    assert {m["conversation_id"] for m in messages} == set(fresh)
    assert setup.purge_older_than(30) == 0


@both_databases
def test_retention_keeps_a_conversation_written_to_while_it_runs(database):
    """Writing to a conversation touches it first, in the same transaction as the message: either
    retention deleted it before (NotFound), or it is no longer old and keeps every message."""
    journal = Journal(database)
    cid = _conversation(journal, "kari", "Gammel, men jeg skriver igjen")
    _age(journal, [cid], 40)
    journal.add_message("kari", cid, "user", "Ny tanke")
    assert journal.purge_older_than(30) == 0
    assert journal.get("kari", cid).messages[-1].content == "Ny tanke"


@both_databases
def test_export_links_are_shared_by_replicas_and_erased_with_the_user(database, tmp_path):
    from assistant.app.exports import ExportStore

    journal = Journal(database)
    a, b = ExportStore(journal.database), ExportStore(Journal(database).database)
    exported = tmp_path / "refleksjon.md"
    exported.write_text(f"# Min refleksjon {MARKER}", encoding="utf-8")
    token = a.register("kari", exported)
    assert b.get(token, "kari") == ("refleksjon.md", exported.read_bytes(), "text/markdown; charset=utf-8")
    assert b.get(token, "ola") is None and b.get("gjettet", "kari") is None
    journal.erase_user("kari")
    assert a.get(token, "kari") is None
    other = a.register("ola", exported)
    b.forget_user("ola")
    assert a.get(other, "ola") is None


# -- migrations -----------------------------------------------------------------------------
# The journal's schema as the app wrote it before the schema was versioned (journal.py at
# 3e50132): the SQLite file every existing installation has.
UNVERSIONED_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, user TEXT NOT NULL, title TEXT NOT NULL, mode TEXT NOT NULL, stage TEXT, summary TEXT,
    created REAL NOT NULL, updated REAL NOT NULL, finished INTEGER NOT NULL DEFAULT 0, open_question TEXT,
    summary_data TEXT
);
CREATE INDEX IF NOT EXISTS conversations_user ON conversations(user, updated);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role TEXT NOT NULL, content TEXT NOT NULL, citations TEXT NOT NULL DEFAULT '[]', stage TEXT,
    created REAL NOT NULL, questions TEXT NOT NULL DEFAULT '[]', insights TEXT NOT NULL DEFAULT '[]',
    kind TEXT NOT NULL DEFAULT 'answer'
);
CREATE INDEX IF NOT EXISTS messages_conversation ON messages(conversation_id, id);
"""


def test_a_journal_from_before_versioning_is_upgraded_with_its_data_intact(tmp_path):
    path = tmp_path / "journal.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(UNVERSIONED_SCHEMA)
        db.execute("INSERT INTO conversations VALUES ('c1', 'kari', 'Sentrum', 'reflect', 'where_to', '## Oppsummering',"
                   " 100.5, 200.25, 1, 'Hva nå?', '{\"situation\": [\"Byen vokser\"]}')")
        db.execute("INSERT INTO conversations (id, user, title, mode, created, updated) VALUES ('c2', 'ola', 'Spørsmål', 'qa', 1, 2)")
        db.executemany(
            "INSERT INTO messages (conversation_id, role, content, citations, stage, created, questions, insights, kind)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            [("c1", "assistant", "Hvor er vi?", "[]", "where_are_we", 101, '["Hvor er vi?"]', "[]", "question"),
             ("c1", "user", f"Byen vokser {MARKER}", "[]", "where_are_we", 102, "[]", "[]", "message"),
             ("c1", "assistant", "Svar [1]", '[{"number": 1, "source": "a.md", "title": "A", "kind": "programme",'
              ' "locator": "s. 2", "passage": "p"}]', "where_to", 103, '["Hva nå?"]',
              '[{"text": "Kommunen planlegger.", "number": 1}]', "answer"),
             ("c2", "user", "Hvem deltok?", "[]", None, 1.5, "[]", "[]", "message")],
        )
        before = {t: db.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in ("conversations", "messages")}

    journal = Journal(path)
    assert journal.database.current_revision() == "0002"
    with sqlite3.connect(path) as db:
        after = {t: db.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in ("conversations", "messages")}
        indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert after == before  # every row and every value as it was
    assert {"conversations_user", "conversations_updated", "messages_conversation"} <= indexes
    conv = journal.get("kari", "c1")
    assert (conv.stage, conv.open_question, conv.finished, conv.summary_data) == ("where_to", "Hva nå?", True, {"situation": ["Byen vokser"]})
    assert [m.kind for m in conv.messages] == ["question", "message", "answer"]
    assert conv.messages[2].citations[0].locator == "s. 2" and conv.messages[2].insights[0].number == 1
    assert [c.id for c in journal.list("ola")] == ["c2"]
    journal.add_message("kari", "c1", "user", "Jeg fortsetter.")  # and it goes on working
    assert Journal(path).get("kari", "c1").messages[-1].content == "Jeg fortsetter."


def test_head_revision_is_alembics_head_and_an_up_to_date_journal_opens_without_alembic(tmp_path):
    """`HEAD_REVISION` lets a server start skip Alembic's import; a migration added without
    moving it would otherwise be skipped on databases one step behind."""
    import subprocess
    import sys

    from alembic.script import ScriptDirectory

    from assistant.app.database import HEAD_REVISION, alembic_config

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD_REVISION
    path = tmp_path / "journal.db"
    probe = ("import sys; from assistant.app.journal import Journal; "
             f"Journal({str(path)!r}); print('alembic' in sys.modules)")
    first = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    second = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert first.stdout.strip() == "True"  # a new database: Alembic makes the schema
    assert second.stdout.strip() == "False"  # at the head already: not loaded


def test_postgresql_replicas_that_start_together_create_the_schema_once(postgres_url):
    from tests.postgres import fresh_database

    url = fresh_database(postgres_url)
    start, made, errors = threading.Barrier(3), [], []

    def open_journal() -> None:
        start.wait()
        try:
            made.append(Journal(url))
        except Exception as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=open_journal) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and len(made) == 3
    assert {j.database.current_revision() for j in made} == {"0002"}


# -- a database that goes away ----------------------------------------------------------------
def test_a_stopped_postgresql_is_a_clear_error_and_service_resumes_after_restart(tmp_path):
    """The journal's pool outlives a restart of the server: the call while it is down fails with
    DatabaseUnavailable (a ServiceError with a message for the participant), the first call after
    it is back succeeds, on a new connection, without a new Journal."""
    from tests.postgres import PostgresUnavailable, fresh_database, postgres_required, start_server

    try:
        server = start_server(tmp_path)  # its own server: stopping it disturbs no other test
    except PostgresUnavailable as exc:
        if postgres_required():
            pytest.fail(f"PostgreSQL is required here but did not start: {exc}")
        pytest.skip(str(exc))
    try:
        journal = Journal(fresh_database(server.url))
        cid = _conversation(journal, "kari", "Før omstarten")
        server.stop()
        with pytest.raises(DatabaseUnavailable) as failed:
            journal.add_message("kari", cid, "user", "Mens databasen er borte")
        assert isinstance(failed.value, ServiceError)
        assert "Dagboken er ikke tilgjengelig" in failed.value.user_message and "Prøv igjen" in failed.value.user_message
        with pytest.raises(DatabaseUnavailable):
            journal.list("kari")
        server.start()
        journal.add_message("kari", cid, "user", "Etter omstarten")
        contents = [m.content for m in journal.get("kari", cid).messages]
        assert contents[1:] == ["Før omstarten", "Fra materialet: noe. [1]", "Etter omstarten"]
        # A restart between two calls (no call saw it down): the pooled connections are dead, and
        # the pool's test of each one before use replaces them, so the next call just works.
        server.restart()
        assert [c.id for c in journal.list("kari")] == [cid]
    finally:
        server.remove()


def test_a_locked_sqlite_file_is_a_clear_error(tmp_path):
    journal = Journal(tmp_path / "journal.sqlite3")
    cid = _conversation(journal, "kari", "Tekst")
    holder = sqlite3.connect(tmp_path / "journal.sqlite3")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        journal.database.engine.dispose()
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable):
            journal.add_message("kari", cid, "user", "Mens filen er låst")
        assert time.monotonic() - started < 30
    finally:
        holder.rollback()
        holder.close()
    journal.add_message("kari", cid, "user", "Etterpå")
    assert journal.get("kari", cid).messages[-1].content == "Etterpå"


# -- the setting --------------------------------------------------------------------------------
def test_the_database_setting(tmp_path, monkeypatch):
    default = Settings(_env_file=None, data_dir=tmp_path / "data")
    assert default.database_url is None and not default.uses_database_server
    assert default.resolved_database_url == f"sqlite:///{tmp_path / 'data' / 'journal.sqlite3'}"  # where it always was
    monkeypatch.setenv("ASSISTANT_DATABASE_URL", "postgres://app:s3cret@db.internal:5432/byledelse")
    server = Settings(_env_file=None)
    assert server.resolved_database_url == "postgresql+psycopg://app:s3cret@db.internal:5432/byledelse"
    assert server.uses_database_server
    shown = server.public_view()["database_url"]
    assert "s3cret" not in shown and shown.startswith("postgresql+psycopg://app:")
    for wrong in ("mysql://x/y", "just-a-name"):
        monkeypatch.setenv("ASSISTANT_DATABASE_URL", wrong)
        with pytest.raises(Exception) as caught:
            Settings(_env_file=None)
        assert "ASSISTANT_DATABASE_URL" in invalid_settings(caught.value).user_message


@both_databases
def test_assistant_db_shows_and_upgrades_the_schema(database, tmp_path, monkeypatch, capsys):
    import json

    from assistant.cli import main

    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(tmp_path / "data"))
    if not database.startswith("sqlite"):
        monkeypatch.setenv("ASSISTANT_DATABASE_URL", database)
    assert main(["db", "current", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["revision"] is None  # nothing made yet
    assert main(["db", "upgrade", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["before"], report["revision"]) == (None, "0002")
    assert Journal(database).list("kari") == []
