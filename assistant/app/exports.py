"""Files a user exported (a conversation, all their data, a gathering's material), served to that
user only.

The file lives in the user's own folder under the data directory (erased with their data). The
browser gets a link `/export/<token>`: a random token, no path. The shell (`assistant.web.shell`)
serves it only to the signed-in user who made it."""

from __future__ import annotations

import mimetypes
import secrets
import threading
from pathlib import Path


class ExportStore:
    MAX_ENTRIES = 10_000

    def __init__(self) -> None:
        self._entries: dict[str, tuple[str, Path]] = {}
        self._lock = threading.Lock()

    def register(self, user: str, path: Path | str) -> str:
        """A token for `path`, usable by `user` only."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.pop(next(iter(self._entries)))
            self._entries[token] = (user, Path(path))
        return token

    def get(self, token: str, user: str) -> tuple[str, bytes, str] | None:
        """(file name, content, media type) when `token` is `user`'s and the file still exists."""
        with self._lock:
            entry = self._entries.get(token)
        if entry is None or entry[0] != user or not entry[1].is_file():
            return None
        media = mimetypes.guess_type(entry[1].name)[0] or "application/octet-stream"
        if media.startswith("text/"):
            media += "; charset=utf-8"
        return entry[1].name, entry[1].read_bytes(), media

    def forget_user(self, user: str) -> None:
        with self._lock:
            for token in [t for t, (u, _) in self._entries.items() if u == user]:
                del self._entries[token]
