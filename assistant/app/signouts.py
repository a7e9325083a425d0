"""When each user last signed out, kept where every replica reads it (issue 22).

A sign-in cookie is signed, so any replica can check it without asking the one that issued it
(`assistant/web/sessions.py`). What a signature cannot tell is that the user has since signed out,
perhaps on another replica: that is this record. A cookie issued before its user's last sign-out
is refused everywhere, so signing out ends every session of that user (every browser, every
replica), not just the one cookie. One timestamp per user keeps it small for good: nothing grows
with the number of sign-ins.

`SignOuts` is the interface; `FileSignOuts` keeps it in a small JSON file beside the users file.
It could move into the database with the journals; the shell only uses the two methods.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Protocol

from filelock import FileLock


class SignOuts(Protocol):
    def signed_out_at(self, user: str) -> float:
        """The wall-clock time (seconds since the epoch) of `user`'s last sign-out; 0 when never."""
        ...

    def sign_out(self, user: str, at: float) -> None:
        """Record that `user` signed out at `at`: every session issued before it ends."""
        ...


class MemorySignOuts:
    """In this process only: for one process, and for tests."""

    def __init__(self) -> None:
        self._at: dict[str, float] = {}
        self._lock = threading.Lock()

    def signed_out_at(self, user: str) -> float:
        with self._lock:
            return self._at.get(user, 0.0)

    def sign_out(self, user: str, at: float) -> None:
        with self._lock:
            self._at[user] = max(at, self._at.get(user, 0.0))


class FileSignOuts:
    """`{"kari": 1767000000.5, …}` in one file. Read on every check, but parsed again only when the
    file changed (its mtime, size or inode), so a check costs one `stat`. Written under a file lock
    and replaced atomically, so two replicas signing users out at once lose neither, and a reader
    never sees half a file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None
        self._at: dict[str, float] = {}
        self._lock = threading.Lock()

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _read(self) -> dict[str, float]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except ValueError:
            return dict(self._at)  # not ours to repair: keep what was last read
        return {str(k): float(v) for k, v in data.items() if isinstance(v, (int, float))}

    def signed_out_at(self, user: str) -> float:
        with self._lock:
            stamp = self._stamp()
            if stamp != self._seen:
                self._at = self._read() if stamp is not None else {}
                self._seen = stamp
            return self._at.get(user, 0.0)

    def sign_out(self, user: str, at: float) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.path) + ".lock", timeout=30):
            data = self._read()
            data[user] = max(at, data.get(user, 0.0))
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
            os.chmod(tmp, 0o600)
            tmp.replace(self.path)
        with self._lock:
            self._seen = None  # read it again next time, with this change
