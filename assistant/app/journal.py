"""The private journal: every conversation, per user, in SQLite under the data directory.

Every method takes the user and every query filters on it, so one user's
conversations can never be read, renamed or deleted through another user's
session. Journal content is never logged and never indexed.

A conversation's state is data, so that it survives a reload and reopening: its stage, its open
question, whether it is finished and its summary (as a record, `summary_data`), and per message
its kind, the questions it asked and the insights it offered. A new conversation is a *draft* in
memory until the participant's first message: switching between kinds of conversation, or
opening one and leaving, stores nothing.
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
    updated REAL NOT NULL,
    finished INTEGER NOT NULL DEFAULT 0,
    open_question TEXT,
    summary_data TEXT
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
    insights TEXT NOT NULL DEFAULT '[]',
    kind TEXT NOT NULL DEFAULT 'answer'
);
CREATE INDEX IF NOT EXISTS messages_conversation ON messages(conversation_id, id);
"""


# Columns added after the first release, with their definition: `_migrate` adds them to an older
# journal and fills them from the messages' text (the one time that text is parsed).
ADDED_COLUMNS = {
    "questions": "TEXT NOT NULL DEFAULT '[]'",
    "insights": "TEXT NOT NULL DEFAULT '[]'",
    "kind": "TEXT NOT NULL DEFAULT 'answer'",
}
ADDED_CONVERSATION_COLUMNS = {
    "finished": "INTEGER NOT NULL DEFAULT 0",
    "open_question": "TEXT",
    "summary_data": "TEXT",
}
# What a message is: the participant's `message`; the assistant's `answer` to it, a `question`
# asked on its own (the opening, stay, skip, back), the `closing` turn, the `summary`.
MESSAGE_KINDS = ("message", "answer", "question", "closing", "summary")
# Drafts kept in memory at most (the oldest is dropped): a draft holds only its opening question.
MAX_DRAFTS = 10_000
_KEEP: object = object()  # `update`: leave this field as it is


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
    questions: list[str] = []  # the reflection questions this turn asked; the last is the one it shows
    insights: list[Insight] = []  # the material's sentences this turn offered
    kind: str = "answer"  # one of MESSAGE_KINDS


class Conversation(BaseModel):
    id: str
    user: str
    title: str
    mode: str
    stage: str | None = None
    summary: str | None = None
    created: float
    updated: float
    finished: bool = False
    open_question: str | None = None
    summary_data: dict | None = None  # the summary as a record (assistant.app.reflection.Summary)
    messages: list[Message] = []

    @property
    def has_participant_text(self) -> bool:
        return any(m.role == "user" for m in self.messages)

    @property
    def last_turn(self) -> Message | None:
        """The assistant's latest message: its sources are the ones shown next to the chat."""
        return next((m for m in reversed(self.messages) if m.role == "assistant"), None)


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._drafts: dict[str, Conversation] = {}  # id -> a conversation without participant text yet
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
        """A new conversation, as a draft: it is written to the database with the participant's
        first message (`add_message`), so that nothing empty is ever stored."""
        now = time.time()
        cid = uuid.uuid4().hex
        draft = Conversation(id=cid, user=user, title=title[:120], mode=mode, stage=stage, created=now, updated=now)
        with self._lock:
            while len(self._drafts) >= MAX_DRAFTS:
                self._drafts.pop(next(iter(self._drafts)))
            self._drafts[cid] = draft
        return cid

    def list(self, user: str) -> list[Conversation]:
        """The user's stored conversations (never a draft), most recently updated first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM conversations WHERE user = ? ORDER BY updated DESC", (user,)
            ).fetchall()
        return [_conversation(r) for r in rows]

    def get(self, user: str, cid: str) -> Conversation:
        draft = self._draft(user, cid)
        if draft is not None:
            return draft
        with self._connect() as db:
            row = db.execute("SELECT * FROM conversations WHERE id = ? AND user = ?", (cid, user)).fetchone()
            if row is None:
                raise NotFound(cid)
            msgs = db.execute(
                "SELECT role, content, citations, stage, created, questions, insights, kind FROM messages "
                "WHERE conversation_id = ? ORDER BY id", (cid,)
            ).fetchall()
        conv = _conversation(row)
        conv.messages = [
            Message(
                role=m["role"],
                content=m["content"],
                citations=json.loads(m["citations"]),
                stage=m["stage"],
                created=m["created"],
                questions=json.loads(m["questions"]),
                insights=json.loads(m["insights"]),
                kind=m["kind"],
            )
            for m in msgs
        ]
        return conv

    def add_message(
        self, user: str, cid: str, role: str, content: str, citations: list[Citation] = (), stage: str | None = None,
        *, questions: Sequence[str] = (), insights: Sequence[Insight] = (), kind: str | None = None,
    ) -> None:
        """Append a message. A draft's first participant message writes the draft, then it."""
        message = Message(role=role, content=content, citations=list(citations), stage=stage, created=time.time(),
                          questions=list(questions), insights=list(insights),
                          kind=kind or ("message" if role == "user" else "answer"))
        if role != "user" and self._edit_draft(user, cid, lambda d: d.messages.append(message)):
            return
        draft = self._take_draft(user, cid) if role == "user" else None
        with self._connect() as db:
            if draft is not None:
                _store_draft(db, draft)
            self._owned(db, user, cid)
            _insert(db, cid, message)
            db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (message.created, cid))

    def replace_last(
        self, user: str, cid: str, content: str, citations: list[Citation] = (), stage: str | None = None,
        *, questions: Sequence[str] = (), insights: Sequence[Insight] = (), kind: str = "question",
    ) -> None:
        """Replace the conversation's last message (an open question that stay, skip or back
        replaces, so that one question is open at a time)."""
        message = Message(role="assistant", content=content, citations=list(citations), stage=stage, created=time.time(),
                          questions=list(questions), insights=list(insights), kind=kind)
        def replace(draft: Conversation) -> None:
            draft.messages[-1:] = [message]

        if self._edit_draft(user, cid, replace):
            return
        with self._connect() as db:
            self._owned(db, user, cid)
            last = db.execute("SELECT max(id) FROM messages WHERE conversation_id = ?", (cid,)).fetchone()[0]
            if last is not None:
                db.execute("DELETE FROM messages WHERE id = ?", (last,))
            _insert(db, cid, message)
            db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (message.created, cid))

    def update(
        self, user: str, cid: str, *, title: str | None = None, stage: str | None = None, summary: str | None = None,
        open_question: str | None | object = _KEEP, finished: bool | None = None, summary_data: dict | None = None,
    ) -> None:
        """Change the conversation's fields that are given (`open_question=None` clears it)."""
        fields: dict[str, object] = {}
        if title is not None:
            fields["title"] = title.strip()[:120] or "Uten tittel"
        if stage is not None:
            fields["stage"] = stage
        if summary is not None:
            fields["summary"] = summary
            fields["updated"] = time.time()
        if open_question is not _KEEP:
            fields["open_question"] = open_question
        if finished is not None:
            fields["finished"] = int(finished)
        if summary_data is not None:
            fields["summary_data"] = json.dumps(summary_data, ensure_ascii=False)
        def change(draft: Conversation) -> None:
            for name, value in fields.items():
                setattr(draft, name, json.loads(value) if name == "summary_data" else bool(value) if name == "finished" else value)

        if self._edit_draft(user, cid, change):
            return
        with self._connect() as db:
            self._owned(db, user, cid)
            for name, value in fields.items():  # names from the fixed list above, never from input
                db.execute(f"UPDATE conversations SET {name} = ? WHERE id = ?", (value, cid))

    # -- drafts --------------------------------------------------------------------
    def _draft(self, user: str, cid: str) -> Conversation | None:
        """A copy of the user's draft `cid`, if it is one."""
        with self._lock:
            draft = self._drafts.get(cid)
            return draft.model_copy(deep=True) if draft is not None and draft.user == user else None

    def _edit_draft(self, user: str, cid: str, change) -> bool:
        """Apply `change` to the user's draft `cid`; False when it is no draft of theirs."""
        with self._lock:
            draft = self._drafts.get(cid)
            if draft is None or draft.user != user:
                return False
            change(draft)
            draft.updated = time.time()
            return True

    def _take_draft(self, user: str, cid: str) -> Conversation | None:
        with self._lock:
            draft = self._drafts.get(cid)
            if draft is None or draft.user != user:
                return None
            return self._drafts.pop(cid)

    def delete(self, user: str, cid: str) -> None:
        """Delete one conversation so that its text is gone from the database file(s).

        secure_delete (set on every connection) overwrites the freed rows with zeros; the
        checkpoint copies that into the main file and empties a write-ahead log, in case the
        file was ever switched to WAL mode (the mode is stored in the file) and the log still
        holds the old pages.
        """
        if self._take_draft(user, cid) is not None:
            return
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
        with self._lock:
            for cid in [c for c, d in self._drafts.items() if d.user == user]:
                del self._drafts[cid]
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
            if m.kind == "summary":
                continue  # the summary is its own section, once
            who = labels.get(m.role, m.role)
            out += [f"**{who}:**", "", safe_markdown(m.content).strip(), ""]
        if conv.summary:
            out += [f"## {tr(lang, 'export.summary')}", "", _without_title(safe_markdown(conv.summary)).strip(), ""]
        return "\n".join(out)


def _without_title(summary: str) -> str:
    """The summary without its own top heading: the export gives it one."""
    first, _, rest = summary.partition("\n")
    return rest if first.startswith("## ") else summary


def _conversation(row: sqlite3.Row) -> Conversation:
    values = dict(row)
    values["finished"] = bool(values.get("finished"))
    values["summary_data"] = json.loads(values["summary_data"]) if values.get("summary_data") else None
    return Conversation(**values)


def _store_draft(db: sqlite3.Connection, draft: Conversation) -> None:
    """Write a draft and its messages (the opening question) to the database."""
    db.execute(
        "INSERT INTO conversations (id, user, title, mode, stage, created, updated, finished, open_question) "
        "VALUES (?,?,?,?,?,?,?,?,?)",
        (draft.id, draft.user, draft.title, draft.mode, draft.stage, draft.created, draft.updated,
         int(draft.finished), draft.open_question),
    )
    for message in draft.messages:
        _insert(db, draft.id, message)


def _insert(db: sqlite3.Connection, cid: str, m: Message) -> None:
    db.execute(
        "INSERT INTO messages (conversation_id, role, content, citations, stage, created, questions, insights, kind) "
        "VALUES (?,?,?,?,?,?,?,?,?)",
        (cid, m.role, m.content, json.dumps([c.model_dump() for c in m.citations], ensure_ascii=False), m.stage,
         m.created, json.dumps(m.questions, ensure_ascii=False),
         json.dumps([i.model_dump() for i in m.insights], ensure_ascii=False), m.kind),
    )


# -- migration ---------------------------------------------------------------------
_LEGACY_QUESTION = re.compile(r"\*\*[^*]+\*\*\s*([^\[\n]+\?)")
_LEGACY_SOURCE_LINE = re.compile(r"^\[\d+\] ")
_LEGACY_CITED = re.compile(r"([^\[\]]+?)\s*\[(\d+)\]")


def _migrate(db: sqlite3.Connection) -> None:
    """Bring an older journal up to date: add the columns it lacks and fill them for its
    assistant messages from their text, as the app used to read it (the bold stage label before a
    question; a cited line of insight). New messages store both as data when written."""
    have = {row["name"] for row in db.execute("PRAGMA table_info(conversations)")}
    for name in [n for n in ADDED_CONVERSATION_COLUMNS if n not in have]:
        db.execute(f"ALTER TABLE conversations ADD COLUMN {name} {ADDED_CONVERSATION_COLUMNS[name]}")
    have = {row["name"] for row in db.execute("PRAGMA table_info(messages)")}
    missing = [name for name in ADDED_COLUMNS if name not in have]
    for name in missing:
        db.execute(f"ALTER TABLE messages ADD COLUMN {name} {ADDED_COLUMNS[name]}")
    if "kind" in missing:
        _migrate_kinds(db)
    if not {"questions", "insights"} & set(missing):
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


def _migrate_kinds(db: sqlite3.Connection) -> None:
    """Each message's kind, from where it stands: the participant's messages; the assistant's
    message right after one is its answer, any other a question asked on its own, except the one
    that is the conversation's summary (which marks the conversation finished)."""
    summaries = {r["id"]: r["summary"] for r in db.execute("SELECT id, summary FROM conversations")}
    previous: dict[str, str] = {}
    for row in db.execute("SELECT id, conversation_id, role, content FROM messages ORDER BY id").fetchall():
        cid = row["conversation_id"]
        if row["role"] == "user":
            kind = "message"
        elif summaries.get(cid) and row["content"] == summaries[cid]:
            kind = "summary"
            db.execute("UPDATE conversations SET finished = 1 WHERE id = ?", (cid,))
        else:
            kind = "answer" if previous.get(cid) == "user" else "question"
        previous[cid] = row["role"]
        db.execute("UPDATE messages SET kind = ? WHERE id = ?", (kind, row["id"]))
