"""Files a user exported (a conversation, all their data, a gathering's material), served to that
user only.

The file lives in the user's own folder under the data directory (erased with their data). The
browser gets a link `/export/<token>`: a random token, no path. The shell (`assistant.web.shell`)
serves it only to the signed-in user who made it.

One process keeps the links in memory. Replicas behind a load balancer share them through the
journal's database (`ExportStore(database)`, table `export_links`), so the download may land on
another replica than the one that made it (the file itself must then be on a folder they share).
Links in the database expire after `MAX_AGE_S`."""

from __future__ import annotations

import mimetypes
import secrets
import threading
import time
from pathlib import Path

from sqlalchemy import Column, Double, MetaData, Table, Text, delete, insert, select

from assistant.app.database import Database

EXPORT_LINKS = Table(
    "export_links", MetaData(),
    Column("token", Text, primary_key=True),
    Column("user", Text, nullable=False),
    Column("path", Text, nullable=False),
    Column("created", Double, nullable=False),
)


class ExportStore:
    MAX_ENTRIES = 10_000  # in memory: the oldest link goes first
    MAX_AGE_S = 24 * 3600  # in the database: a day, then the link is gone

    def __init__(self, database: Database | None = None) -> None:
        self._entries: dict[str, tuple[str, Path]] = {}
        self._lock = threading.Lock()
        self._database = database  # schema made by the Journal on the same database (migration 0002)

    def register(self, user: str, path: Path | str) -> str:
        """A token for `path`, usable by `user` only."""
        token = secrets.token_urlsafe(24)
        if self._database is not None:
            now = time.time()
            with self._database.begin() as db:
                db.execute(delete(EXPORT_LINKS).where(EXPORT_LINKS.c.created < now - self.MAX_AGE_S))
                db.execute(insert(EXPORT_LINKS).values(token=token, user=user, path=str(path), created=now))
            return token
        with self._lock:
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.pop(next(iter(self._entries)))
            self._entries[token] = (user, Path(path))
        return token

    def get(self, token: str, user: str) -> tuple[str, bytes, str] | None:
        """(file name, content, media type) when `token` is `user`'s and the file still exists."""
        entry = self._lookup(token)
        if entry is None or entry[0] != user or not entry[1].is_file():
            return None
        media = mimetypes.guess_type(entry[1].name)[0] or "application/octet-stream"
        if media.startswith("text/"):
            media += "; charset=utf-8"
        return entry[1].name, entry[1].read_bytes(), media

    def _lookup(self, token: str) -> tuple[str, Path] | None:
        if self._database is None:
            with self._lock:
                return self._entries.get(token)
        e = EXPORT_LINKS.c
        with self._database.begin() as db:
            row = db.execute(select(e.user, e.path).where(e.token == token, e.created >= time.time() - self.MAX_AGE_S)).first()
        return (row.user, Path(row.path)) if row is not None else None

    def forget_user(self, user: str) -> None:
        if self._database is not None:
            with self._database.begin() as db:
                db.execute(delete(EXPORT_LINKS).where(EXPORT_LINKS.c.user == user))
            return
        with self._lock:
            for token in [t for t, (u, _) in self._entries.items() if u == user]:
                del self._entries[token]
