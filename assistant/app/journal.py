"""The private journal: every conversation, per user, in SQLite under the data directory.

Every method takes the user and every query filters on it, so one user's
conversations can never be read, renamed or deleted through another user's
session. Journal content is never logged and never indexed.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel

from assistant.core.errors import AccessError
from assistant.core.i18n import tr
from assistant.core.records import Citation, Insight
from assistant.core.safety import plain_text, safe_markdown

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    title TEXT NOT NULL,
    mode TEXT NOT NULL,
    stage TEXT,
    summary TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_user ON conversations(user, updated);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    citations TEXT NOT NULL DEFAULT '[]',
    stage TEXT,
    created REAL NOT NULL,
    questions TEXT NOT NULL DEFAULT '[]',
    insights TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS messages_conversation ON messages(conversation_id, id);
"""


# Columns added after the first release, with their definition: `_migrate` adds them to an older
# journal and fills them from the messages' text (the one time that text is parsed).
ADDED_COLUMNS = {
    "questions": "TEXT NOT NULL DEFAULT '[]'",
    "insights": "TEXT NOT NULL DEFAULT '[]'",
}


class NotFound(AccessError, LookupError):
    """No such conversation for this user (it may belong to someone else); str() is its id."""

    default_message = "Fant ikke samtalen. Den kan være slettet; velg en annen i journalen."

    @property
    def user_message(self) -> str:  # str() is the conversation id, not a message
        return self.default_message


class Message(BaseModel):
    role: str
    content: str
    citations: list[Citation] = []
    stage: str | None = None
    created: float
    questions: list[str] = []  # the reflection questions this turn asked
    insights: list[Insight] = []  # the material's sentences this turn offered


class Conversation(BaseModel):
    id: str
    user: str
    title: str
    mode: str
    stage: str | None = None
    summary: str | None = None
    created: float
    updated: float
    messages: list[Message] = []


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with self._connect() as db:
            db.executescript(SCHEMA)
            _migrate(db)

    @contextmanager
    def _connect(self):
        with self._lock:
            db = sqlite3.connect(self.path, timeout=10)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA foreign_keys = ON")
            # Deleted reflections are overwritten on disk (explicit: builds differ in the default).
            db.execute("PRAGMA secure_delete = ON")
            try:
                yield db
                db.commit()
            finally:
                db.close()

    # -- conversations -----------------------------------------------------------
    def create(self, user: str, *, mode: str, title: str, stage: str | None = None) -> str:
        now = time.time()
        cid = uuid.uuid4().hex
        with self._connect() as db:
            db.execute(
                "INSERT INTO conversations (id, user, title, mode, stage, created, updated) VALUES (?,?,?,?,?,?,?)",
                (cid, user, title[:120], mode, stage, now, now),
            )
        return cid

    def list(self, user: str) -> list[Conversation]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM conversations WHERE user = ? ORDER BY updated DESC", (user,)
            ).fetchall()
        return [Conversation(**dict(r)) for r in rows]

    def get(self, user: str, cid: str) -> Conversation:
        with self._connect() as db:
            row = db.execute("SELECT * FROM conversations WHERE id = ? AND user = ?", (cid, user)).fetchone()
            if row is None:
                raise NotFound(cid)
            msgs = db.execute(
                "SELECT role, content, citations, stage, created, questions, insights FROM messages "
                "WHERE conversation_id = ? ORDER BY id", (cid,)
            ).fetchall()
        conv = Conversation(**dict(row))
        conv.messages = [
            Message(
                role=m["role"],
                content=m["content"],
                citations=json.loads(m["citations"]),
                stage=m["stage"],
                created=m["created"],
                questions=json.loads(m["questions"]),
                insights=json.loads(m["insights"]),
            )
            for m in msgs
        ]
        return conv

    def add_message(
        self, user: str, cid: str, role: str, content: str, citations: list[Citation] = (), stage: str | None = None,
        *, questions: Sequence[str] = (), insights: Sequence[Insight] = (),
    ) -> None:
        now = time.time()
        with self._connect() as db:
            self._owned(db, user, cid)
            db.execute(
                "INSERT INTO messages (conversation_id, role, content, citations, stage, created, questions, insights) "
                "VALUES (?,?,?,?,?,?,?,?)",
                (cid, role, content, json.dumps([c.model_dump() for c in citations], ensure_ascii=False), stage, now,
                 json.dumps(list(questions), ensure_ascii=False),
                 json.dumps([i.model_dump() for i in insights], ensure_ascii=False)),
            )
            db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, cid))

    def update(self, user: str, cid: str, *, title: str | None = None, stage: str | None = None, summary: str | None = None) -> None:
        with self._connect() as db:
            self._owned(db, user, cid)
            if title is not None:
                db.execute("UPDATE conversations SET title = ? WHERE id = ?", (title.strip()[:120] or "Uten tittel", cid))
            if stage is not None:
                db.execute("UPDATE conversations SET stage = ? WHERE id = ?", (stage, cid))
            if summary is not None:
                db.execute("UPDATE conversations SET summary = ?, updated = ? WHERE id = ?", (summary, time.time(), cid))

    def delete(self, user: str, cid: str) -> None:
        """Delete one conversation so that its text is gone from the database file(s).

        secure_delete (set on every connection) overwrites the freed rows with zeros; the
        checkpoint copies that into the main file and empties a write-ahead log, in case the
        file was ever switched to WAL mode (the mode is stored in the file) and the log still
        holds the old pages.
        """
        with self._connect() as db:
            self._owned(db, user, cid)
            db.execute("DELETE FROM messages WHERE conversation_id = ?", (cid,))
            db.execute("DELETE FROM conversations WHERE id = ?", (cid,))
            db.commit()
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    @staticmethod
    def _owned(db: sqlite3.Connection, user: str, cid: str) -> None:
        if db.execute("SELECT 1 FROM conversations WHERE id = ? AND user = ?", (cid, user)).fetchone() is None:
            raise NotFound(cid)

    # -- data rights -----------------------------------------------------------------
    def export_all(self, user: str) -> list[Conversation]:
        """Everything stored about the user: every conversation with its messages and summary."""
        return [self.get(user, c.id) for c in self.list(user)]

    def erase_user(self, user: str) -> int:
        """Delete every conversation of the user; returns how many. Space is reclaimed (VACUUM)."""
        with self._connect() as db:
            ids = [r["id"] for r in db.execute("SELECT id FROM conversations WHERE user = ?", (user,))]
            db.executemany("DELETE FROM messages WHERE conversation_id = ?", [(i,) for i in ids])
            db.execute("DELETE FROM conversations WHERE user = ?", (user,))
        self._vacuum()
        return len(ids)

    def purge_older_than(self, days: int) -> int:
        """Retention: delete conversations not touched for `days` days (all users)."""
        cutoff = time.time() - days * 86400
        with self._connect() as db:
            ids = [r["id"] for r in db.execute("SELECT id FROM conversations WHERE updated < ?", (cutoff,))]
            db.executemany("DELETE FROM messages WHERE conversation_id = ?", [(i,) for i in ids])
            db.executemany("DELETE FROM conversations WHERE id = ?", [(i,) for i in ids])
        if ids:
            self._vacuum()
        return len(ids)

    def _vacuum(self) -> None:
        with self._lock:
            db = sqlite3.connect(self.path, timeout=10)
            try:
                db.execute("VACUUM")
            finally:
                db.close()

    # -- export -------------------------------------------------------------------
    def export_markdown(self, user: str, cid: str, lang: str = "nb") -> str:
        conv = self.get(user, cid)
        labels = {"user": tr(lang, "export.user"), "assistant": tr(lang, "export.assistant")}
        when = datetime.fromtimestamp(conv.created, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        # Everything typed or quoted is shown as text: no HTML, images or links from it.
        out = [f"# {plain_text(conv.title)}", "", f"*{when} · {conv.mode}*", ""]
        for m in conv.messages:
            who = labels.get(m.role, m.role)
            out += [f"**{who}:**", "", safe_markdown(m.content).strip(), ""]
        if conv.summary:
            out += [f"## {tr(lang, 'export.summary')}", "", safe_markdown(conv.summary).strip(), ""]
        return "\n".join(out)


# -- migration ---------------------------------------------------------------------
_LEGACY_QUESTION = re.compile(r"\*\*[^*]+\*\*\s*([^\[\n]+\?)")
_LEGACY_SOURCE_LINE = re.compile(r"^\[\d+\] ")
_LEGACY_CITED = re.compile(r"([^\[\]]+?)\s*\[(\d+)\]")


def _migrate(db: sqlite3.Connection) -> None:
    """Bring an older journal up to date: add the columns it lacks and fill them for its
    assistant messages from their text, as the app used to read it (the bold stage label before a
    question; a cited line of insight). New messages store both as data when written."""
    have = {row["name"] for row in db.execute("PRAGMA table_info(messages)")}
    missing = [name for name in ADDED_COLUMNS if name not in have]
    for name in missing:
        db.execute(f"ALTER TABLE messages ADD COLUMN {name} {ADDED_COLUMNS[name]}")
    if not missing:
        return
    rows = db.execute("SELECT id, content, citations FROM messages WHERE role = 'assistant'").fetchall()
    for row in rows:
        questions = [m.group(1).strip() for m in _LEGACY_QUESTION.finditer(row["content"])]
        kinds = {c.get("number"): c.get("kind") for c in json.loads(row["citations"] or "[]")}
        insights = []
        for line in row["content"].splitlines():
            line = line.strip()
            if _LEGACY_SOURCE_LINE.match(line):
                continue  # "[1] Title (file)": the source list
            for m in _LEGACY_CITED.finditer(line):
                text, number = m.group(1).strip().lstrip("-*+ ").strip(), int(m.group(2))
                if kinds.get(number) not in (None, "question") and not text.endswith("?") and len(text.split()) >= 3:
                    insights.append({"text": text, "number": number})
        db.execute(
            "UPDATE messages SET questions = ?, insights = ? WHERE id = ?",
            (json.dumps(questions, ensure_ascii=False), json.dumps(insights, ensure_ascii=False), row["id"]),
        )
