"""Users and roles for sign-in. Passwords are stored as scrypt hashes, never in clear.

The users file is JSON: {"users": {"kari": {"role": "participant", "password": "scrypt$…"}}}.
`assistant user NAME --role participant|facilitator` writes it. The same JSON
can come from the ASSISTANT_USERS environment variable instead.
Without either, the app runs in single-user local mode (shown as such in the UI).

The file is read again whenever it changes (`UsersFile`), so with several replicas reading one
shared file, a user added or removed on one machine is known, or gone, on all of them at their
next request, without a restart (issue 22).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from assistant.core.errors import AccessError

Role = Literal["participant", "facilitator"]
LOCAL_USER = "lokal"
_NAME = re.compile(r"^[a-zA-Z0-9._@-]{2,64}$")
_N, _R, _P = 2**14, 8, 1


class AuthError(AccessError, ValueError):
    """A user name, password or users file that cannot be used; str() says which, in bokmål."""


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    if len(password) < 8:
        raise AuthError("Passordet må ha minst 8 tegn.")
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "scrypt${}${}${}${}${}".format(_N, _R, _P, base64.b64encode(salt).decode(), base64.b64encode(digest).decode())


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32)
        return hmac.compare_digest(got, base64.b64decode(digest))
    except (ValueError, TypeError):
        return False


@functools.lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash with the same cost parameters as real ones, made once (the first unknown name pays
    for it twice; every later one once, as a known name does)."""
    return hash_password(base64.b64encode(os.urandom(12)).decode())


@dataclass(frozen=True)
class User:
    name: str
    role: Role


def _parse(data: dict) -> dict[str, dict]:
    users = data.get("users", {})
    for name, entry in users.items():
        if entry.get("role") not in ("participant", "facilitator") or not str(entry.get("password", "")).startswith("scrypt$"):
            raise AuthError(f"Brukeren {name!r} mangler gyldig rolle eller passord-hash i brukerfilen.")
    return users


class UsersFile:
    """The users file, parsed again when it changes: one `stat` per look, a parse only when its
    mtime, size or inode moved. `assistant user` replaces the file atomically, so a reader sees the
    old file or the new one. A file that is broken after a change (edited by hand, half copied)
    keeps the last good users, so a typo does not sign everyone out (it was checked at start); so
    does a file that went missing (a shared folder that is briefly away)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp = self._read_stamp()
        self._users = self._read()  # a file that is wrong at start is refused at start (AuthError)

    def _read_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _read(self) -> dict[str, dict]:
        return _parse(json.loads(self.path.read_text(encoding="utf-8")))

    def current(self) -> dict[str, dict]:
        with self._lock:
            stamp = self._read_stamp()
            if stamp != self._stamp:
                try:
                    self._users = self._read()
                    self._stamp = stamp
                except (ValueError, AuthError, OSError):
                    pass  # the last good users; the changed file is tried again at the next look
            return self._users

    @property
    def version(self) -> tuple[int, int, int] | None:
        """Changes when the users did (after `current()` read them)."""
        return self._stamp


class UserStore:
    def __init__(self, users: dict[str, dict], source: UsersFile | None = None) -> None:
        self._fixed = users
        self._source = source

    @property
    def _users(self) -> dict[str, dict]:
        return self._source.current() if self._source is not None else self._fixed

    @classmethod
    def load(cls, path: Path | None, env_json: str | None = None) -> "UserStore | None":
        """None means single-user local mode. A file is read again when it changes."""
        if env_json:
            return cls(_parse(json.loads(env_json)))
        if path is not None and path.exists():
            return cls({}, UsersFile(path))
        return None

    def check(self, name: str, password: str) -> bool:
        """One scrypt run whether or not the user exists, so timing does not tell which names do."""
        entry = self._users.get(name)
        if entry is None:
            verify_password(password, _dummy_hash())
            return False
        return verify_password(password, entry["password"])

    def exists(self, name: str) -> bool:
        """Whether `name` is (still) a user: one removed from the shared file is signed out."""
        return name in self._users

    def role(self, name: str) -> Role:
        entry = self._users.get(name)
        if entry is None:
            raise AuthError(f"Ukjent bruker {name!r}")
        return entry["role"]


def add_user(path: Path, name: str, role: Role, password: str) -> None:
    if not _NAME.match(name):
        raise AuthError("Brukernavn: 2–64 tegn, bokstaver, tall og . _ @ -")
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"users": {}}
    # Update in place: the user's other fields (their API keys, assistant/app/api_keys.py) stay.
    data.setdefault("users", {}).setdefault(name, {}).update(role=role, password=hash_password(password))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    os.chmod(tmp, 0o600)
    tmp.replace(path)
