"""The private journal: every conversation, per user, in the database (by default SQLite under the
data directory; PostgreSQL when `ASSISTANT_DATABASE_URL` says so, see assistant/app/database.py).

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
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import (
    BigInteger, Column, Connection, Double, ForeignKey, Integer, MetaData, Table, Text, delete, func, insert, select, update,
)

from assistant.app.database import Database, sqlite_url
from assistant.app.exports import EXPORT_LINKS

from assistant.core.errors import AccessError
from assistant.core.i18n import tr
from assistant.core.records import Citation, Insight
from assistant.core.safety import plain_text, safe_markdown

METADATA = MetaData()
# The newest schema, as the statements below use it. Alembic owns its history
# (assistant/app/migrations/versions/): change both together, with a new revision.
CONVERSATIONS = Table(
    "conversations", METADATA,
    Column("id", Text, primary_key=True),
    Column("user", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("mode", Text, nullable=False),
    Column("stage", Text),
    Column("summary", Text),
    Column("created", Double, nullable=False),
    Column("updated", Double, nullable=False),
    Column("finished", Integer, nullable=False, server_default="0"),
    Column("open_question", Text),
    Column("summary_data", Text),
)
MESSAGES = Table(
    "messages", METADATA,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("conversation_id", Text, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    Column("role", Text, nullable=False),
    Column("content", Text, nullable=False),
    Column("citations", Text, nullable=False, server_default="[]"),
    Column("stage", Text),
    Column("created", Double, nullable=False),
    Column("questions", Text, nullable=False, server_default="[]"),
    Column("insights", Text, nullable=False, server_default="[]"),
    Column("kind", Text, nullable=False, server_default="answer"),
)
# The fields `update` may change: the names come from this list, never from input.
UPDATABLE = ("title", "stage", "summary", "updated", "open_question", "finished", "summary_data")

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
    """The journal on one database (`Database`: the SQLite file by default, or PostgreSQL).

    `Journal(path)` opens the SQLite file at `path`, `Journal("postgresql://…")` a server; either
    way the schema is brought up to date first (`Database.upgrade`). Several journals (app
    replicas) may share one PostgreSQL database: every write is one transaction that locks the
    rows it changes, so two replicas never both count, or half-do, the same deletion."""

    def __init__(self, target: Path | str) -> None:
        url = target if isinstance(target, str) and "://" in target else sqlite_url(Path(target))
        self.database = Database(url)
        self.path: Path | None = self.database.path  # the SQLite file; None on a server
        self._lock = threading.Lock()  # guards the drafts
        self._drafts: dict[str, Conversation] = {}  # id -> a conversation without participant text yet
        self.database.upgrade()

    @property
    def where(self) -> str:
        """Where the journal is stored, fit to show its owner (no password)."""
        return self.database.where

    @property
    def url(self) -> str:
        """The database's URL, password included: what opens the same journal elsewhere."""
        return self.database.url.render_as_string(hide_password=False)

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
        c = CONVERSATIONS.c
        with self.database.begin() as db:
            rows = db.execute(select(CONVERSATIONS).where(c.user == user).order_by(c.updated.desc())).mappings().all()
        return [_conversation(r) for r in rows]

    def get(self, user: str, cid: str) -> Conversation:
        draft = self._draft(user, cid)
        if draft is not None:
            return draft
        c, m = CONVERSATIONS.c, MESSAGES.c
        with self.database.begin() as db:
            row = db.execute(select(CONVERSATIONS).where(c.id == cid, c.user == user)).mappings().first()
            if row is None:
                raise NotFound(cid)
            msgs = db.execute(
                select(m.role, m.content, m.citations, m.stage, m.created, m.questions, m.insights, m.kind)
                .where(m.conversation_id == cid).order_by(m.id)
            ).mappings().all()
        conv = _conversation(row)
        conv.messages = [
            Message(
                role=r["role"],
                content=r["content"],
                citations=json.loads(r["citations"]),
                stage=r["stage"],
                created=r["created"],
                questions=json.loads(r["questions"]),
                insights=json.loads(r["insights"]),
                kind=r["kind"],
            )
            for r in msgs
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
        with self.database.begin() as db:
            if draft is not None:
                _store_draft(db, draft)
            _touch(db, user, cid, message.created)
            _insert(db, cid, message)

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
        m = MESSAGES.c
        with self.database.begin() as db:
            _touch(db, user, cid, message.created)
            last = db.execute(select(func.max(m.id)).where(m.conversation_id == cid)).scalar()
            if last is not None:
                db.execute(delete(MESSAGES).where(m.id == last))
            _insert(db, cid, message)

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
        assert set(fields) <= set(UPDATABLE)
        c = CONVERSATIONS.c
        with self.database.begin() as db:
            changed = db.execute(update(CONVERSATIONS).where(c.id == cid, c.user == user).values(**fields)) if fields else None
            if changed is None:
                _owned(db, user, cid)
            elif changed.rowcount == 0:
                raise NotFound(cid)

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
        """Delete one conversation so that its text is gone from the database.

        On SQLite, secure_delete (set on every connection) overwrites the freed rows with zeros;
        the checkpoint copies that into the main file and empties a write-ahead log, in case the
        file was ever switched to WAL mode (the mode is stored in the file) and the log still
        holds the old pages. On PostgreSQL the rows are gone for every query at once; the server
        reclaims their space in its own time (see docs/database.md).
        """
        if self._take_draft(user, cid) is not None:
            return
        c = CONVERSATIONS.c
        with self.database.begin() as db:
            gone = db.execute(delete(CONVERSATIONS).where(c.id == cid, c.user == user).returning(c.id)).scalars().all()
            if not gone:
                raise NotFound(cid)
            db.execute(delete(MESSAGES).where(MESSAGES.c.conversation_id == cid))
        if self.database.is_sqlite:
            with self.database.autocommit() as db:
                db.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- data rights -----------------------------------------------------------------
    def export_all(self, user: str) -> list[Conversation]:
        """Everything stored about the user: every conversation with its messages and summary."""
        return [self.get(user, c.id) for c in self.list(user)]

    def erase_user(self, user: str) -> int:
        """Delete every conversation of the user; returns how many. Space is reclaimed (VACUUM)."""
        with self._lock:
            for cid in [c for c, d in self._drafts.items() if d.user == user]:
                del self._drafts[cid]
        ids = self._delete_where(CONVERSATIONS.c.user == user)
        with self.database.begin() as db:  # and the links to the user's exported files (replicas)
            db.execute(delete(EXPORT_LINKS).where(EXPORT_LINKS.c.user == user))
        self._vacuum()
        return len(ids)

    def purge_older_than(self, days: int) -> int:
        """Retention: delete conversations not touched for `days` days (all users); returns how many.

        One statement deletes and returns the conversations, so when several replicas run it at
        once each old conversation is counted by exactly one of them: PostgreSQL makes the others
        wait on the rows it locked and then skip them, as they are gone; SQLite lets one writer in
        at a time. A conversation someone writes to meanwhile is touched first (`_touch` locks
        its row), so it is no longer old and stays, with all its messages."""
        cutoff = time.time() - days * 86400
        ids = self._delete_where(CONVERSATIONS.c.updated < cutoff)
        if ids:
            self._vacuum()
        return len(ids)

    def _delete_where(self, condition) -> list[str]:
        """Delete the conversations that meet `condition`, then their messages, in one transaction;
        the ids this call deleted (never one another call deleted)."""
        c = CONVERSATIONS.c
        with self.database.begin() as db:
            ids = list(db.execute(delete(CONVERSATIONS).where(condition).returning(c.id)).scalars())
            # Foreign keys cascade on a journal created with them; one adopted from before may lack them.
            for start in range(0, len(ids), 500):
                db.execute(delete(MESSAGES).where(MESSAGES.c.conversation_id.in_(ids[start:start + 500])))
        return ids

    def _vacuum(self) -> None:
        """Give freed space back, so that deleted text does not linger in free pages (SQLite) or
        dead rows (PostgreSQL, until its autovacuum)."""
        with self.database.autocommit() as db:
            if self.database.is_sqlite:
                db.exec_driver_sql("VACUUM")
            else:
                db.exec_driver_sql("VACUUM messages, conversations, export_links")

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


def _conversation(row) -> Conversation:
    values = dict(row)
    values["finished"] = bool(values.get("finished"))
    values["summary_data"] = json.loads(values["summary_data"]) if values.get("summary_data") else None
    return Conversation(**values)


def _owned(db: Connection, user: str, cid: str) -> None:
    c = CONVERSATIONS.c
    if db.execute(select(c.id).where(c.id == cid, c.user == user)).first() is None:
        raise NotFound(cid)


def _touch(db: Connection, user: str, cid: str, when: float) -> None:
    """Mark the user's conversation as updated now, or raise NotFound. First in a write: the row
    is locked until the transaction ends, so retention cannot delete the conversation under it."""
    c = CONVERSATIONS.c
    if db.execute(update(CONVERSATIONS).where(c.id == cid, c.user == user).values(updated=when)).rowcount == 0:
        raise NotFound(cid)


def _store_draft(db: Connection, draft: Conversation) -> None:
    """Write a draft and its messages (the opening question) to the database."""
    db.execute(insert(CONVERSATIONS).values(
        id=draft.id, user=draft.user, title=draft.title, mode=draft.mode, stage=draft.stage, created=draft.created,
        updated=draft.updated, finished=int(draft.finished), open_question=draft.open_question,
    ))
    for message in draft.messages:
        _insert(db, draft.id, message)


def _insert(db: Connection, cid: str, m: Message) -> None:
    db.execute(insert(MESSAGES).values(
        conversation_id=cid, role=m.role, content=m.content,
        citations=json.dumps([c.model_dump() for c in m.citations], ensure_ascii=False), stage=m.stage,
        created=m.created, questions=json.dumps(m.questions, ensure_ascii=False),
        insights=json.dumps([i.model_dump() for i in m.insights], ensure_ascii=False), kind=m.kind,
    ))
