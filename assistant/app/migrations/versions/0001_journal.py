"""The journal: conversations and their messages.

Creates the tables in an empty database. A SQLite journal written before the schema was
versioned (it has the tables but no `alembic_version`) is adopted instead: the columns added
since the first release are added, and filled once from the messages' text, as the app used to
read it (the bold stage label before a question; a cited line of insight; a message's kind from
where it stands). Its data stays as it is otherwise.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import json
import re

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Added after the first release (on a journal made before, `_adopt` adds and fills them).
ADDED_MESSAGE_COLUMNS = ("questions", "insights", "kind")
ADDED_CONVERSATION_COLUMNS = ("finished", "open_question", "summary_data")


def _message_id() -> sa.types.TypeEngine:
    # BIGSERIAL on PostgreSQL; on SQLite an INTEGER PRIMARY KEY is the row id (what the old file has).
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _conversation_columns() -> dict[str, sa.Column]:
    return {c.name: c for c in (
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("user", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("mode", sa.Text, nullable=False),
        sa.Column("stage", sa.Text),
        sa.Column("summary", sa.Text),
        sa.Column("created", sa.Double, nullable=False),
        sa.Column("updated", sa.Double, nullable=False),
        sa.Column("finished", sa.Integer, nullable=False, server_default="0"),
        sa.Column("open_question", sa.Text),
        sa.Column("summary_data", sa.Text),
    )}


def _message_columns() -> dict[str, sa.Column]:
    return {c.name: c for c in (
        sa.Column("id", _message_id(), primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.Text, sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("citations", sa.Text, nullable=False, server_default="[]"),
        sa.Column("stage", sa.Text),
        sa.Column("created", sa.Double, nullable=False),
        sa.Column("questions", sa.Text, nullable=False, server_default="[]"),
        sa.Column("insights", sa.Text, nullable=False, server_default="[]"),
        sa.Column("kind", sa.Text, nullable=False, server_default="answer"),
    )}


INDEXES = {
    "conversations_user": ("conversations", ["user", "updated"]),
    "conversations_updated": ("conversations", ["updated"]),  # retention's scan
    "messages_conversation": ("messages", ["conversation_id", "id"]),
}


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if inspector.has_table("conversations"):
        _adopt(inspector)
    else:
        op.create_table("conversations", *_conversation_columns().values())
        op.create_table("messages", *_message_columns().values())
    inspector = sa.inspect(op.get_bind())
    have = {i["name"] for table in ("conversations", "messages") for i in inspector.get_indexes(table)}
    for name, (table, columns) in INDEXES.items():
        if name not in have:
            op.create_index(name, table, columns)


def downgrade() -> None:
    op.drop_table("messages")
    op.drop_table("conversations")


# -- a journal from before versioning ---------------------------------------------------------
_LEGACY_QUESTION = re.compile(r"\*\*[^*]+\*\*\s*([^\[\n]+\?)")
_LEGACY_SOURCE_LINE = re.compile(r"^\[\d+\] ")
_LEGACY_CITED = re.compile(r"([^\[\]]+?)\s*\[(\d+)\]")


def _adopt(inspector) -> None:
    """Add the columns an older journal lacks (plain ADD COLUMN, so its rows and ids stay) and
    fill them for its messages."""
    db = op.get_bind()
    have = {c["name"] for c in inspector.get_columns("conversations")}
    for name in [n for n in ADDED_CONVERSATION_COLUMNS if n not in have]:
        op.add_column("conversations", _conversation_columns()[name])
    have = {c["name"] for c in inspector.get_columns("messages")}
    missing = [n for n in ADDED_MESSAGE_COLUMNS if n not in have]
    for name in missing:
        op.add_column("messages", _message_columns()[name])
    if "kind" in missing:
        _fill_kinds(db)
    if {"questions", "insights"} & set(missing):
        _fill_questions_and_insights(db)


def _fill_questions_and_insights(db) -> None:
    rows = db.execute(sa.text("SELECT id, content, citations FROM messages WHERE role = 'assistant'")).mappings().all()
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
            sa.text("UPDATE messages SET questions = :q, insights = :i WHERE id = :id"),
            {"q": json.dumps(questions, ensure_ascii=False), "i": json.dumps(insights, ensure_ascii=False), "id": row["id"]},
        )


def _fill_kinds(db) -> None:
    """The participant's messages; the assistant's message right after one is its answer, any other
    a question asked on its own, except the one that is the conversation's summary (which marks the
    conversation finished)."""
    summaries = dict(db.execute(sa.text("SELECT id, summary FROM conversations")).all())
    previous: dict[str, str] = {}
    rows = db.execute(sa.text("SELECT id, conversation_id, role, content FROM messages ORDER BY id")).mappings().all()
    for row in rows:
        cid = row["conversation_id"]
        if row["role"] == "user":
            kind = "message"
        elif summaries.get(cid) and row["content"] == summaries[cid]:
            kind = "summary"
            db.execute(sa.text("UPDATE conversations SET finished = 1 WHERE id = :id"), {"id": cid})
        else:
            kind = "answer" if previous.get(cid) == "user" else "question"
        previous[cid] = row["role"]
        db.execute(sa.text("UPDATE messages SET kind = :k WHERE id = :id"), {"k": kind, "id": row["id"]})
