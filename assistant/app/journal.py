"""The private journal: every conversation, per user, in SQLite under the data directory.

Every method takes the user and every query filters on it, so one user's
conversations can never be read, renamed or deleted through another user's
session. Journal content is never logged and never indexed.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel

from assistant.core.i18n import tr
from assistant.core.records import Citation
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
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_conversation ON messages(conversation_id, id);
"""


class NotFound(LookupError):
    """No such conversation for this user (it may belong to someone else)."""


class Message(BaseModel):
    role: str
    content: str
    citations: list[Citation] = []
    stage: str | None = None
    created: float


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
                "SELECT role, content, citations, stage, created FROM messages WHERE conversation_id = ? ORDER BY id", (cid,)
            ).fetchall()
        conv = Conversation(**dict(row))
        conv.messages = [
            Message(
                role=m["role"],
                content=m["content"],
                citations=json.loads(m["citations"]),
                stage=m["stage"],
                created=m["created"],
            )
            for m in msgs
        ]
        return conv

    def add_message(
        self, user: str, cid: str, role: str, content: str, citations: list[Citation] = (), stage: str | None = None
    ) -> None:
        now = time.time()
        with self._connect() as db:
            self._owned(db, user, cid)
            db.execute(
                "INSERT INTO messages (conversation_id, role, content, citations, stage, created) VALUES (?,?,?,?,?,?)",
                (cid, role, content, json.dumps([c.model_dump() for c in citations], ensure_ascii=False), stage, now),
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
