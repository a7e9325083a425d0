"""API keys: how a program, not a person at a browser, proves which user it acts for (issue 21).

A key is `bsk_<id>_<secret>`: `id` is 8 hex characters that name the key (shown in lists, used to
find it), `secret` 32 random bytes. Only `sha256(key)` is stored, in the users file next to the
user's password hash (`{"users": {"kari": {..., "api_keys": [{"id", "sha256", "created"}]}}}`), so
a leaked users file gives nobody a working key. A salted slow hash (as for passwords) is not
needed here: the secret has 256 bits of entropy, so no dictionary or brute force can reach it,
and a fast hash keeps every API request cheap. The key is printed once, when it is made.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from assistant.app.auth import AuthError, Role, UsersFile

PREFIX = "bsk_"
_KEY = re.compile(r"^bsk_([0-9a-f]{8})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class KeyOwner:
    """Who a valid key belongs to, and which of their keys it is (the rate limit counts per key)."""

    user: str
    role: Role
    key_id: str


def new_key() -> tuple[str, str]:
    """A fresh key and its id."""
    key_id = secrets.token_hex(4)
    return f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}", key_id


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _index(users: dict[str, dict]) -> dict[str, tuple[str, Role, str]]:
    return {str(key["id"]): (name, entry["role"], str(key["sha256"]))
            for name, entry in users.items() for key in entry.get("api_keys", ())}


class ApiKeys:
    """The keys of every user in a users file (or `ASSISTANT_USERS`), looked up by id. From a file,
    they follow it as it changes (`UsersFile`): a key made, or a user removed, on one machine
    counts on every replica that reads the same file."""

    def __init__(self, users: dict[str, dict], source: UsersFile | None = None) -> None:
        self._source = source
        self._version = source.version if source is not None else None
        self._by_id = _index(source.current() if source is not None else users)

    @classmethod
    def load(cls, path: Path | None, env_json: str | None = None) -> "ApiKeys":
        """Reads the same source as `UserStore.load` (the inline JSON wins, as there)."""
        if env_json:
            return cls(json.loads(env_json).get("users", {}))
        if path is not None and path.exists():
            return cls({}, UsersFile(path))
        return cls({})

    def _current(self) -> dict[str, tuple[str, Role, str]]:
        if self._source is not None:
            users = self._source.current()
            if self._source.version != self._version:
                self._by_id, self._version = _index(users), self._source.version
        return self._by_id

    def owner(self, key: str | None) -> KeyOwner | None:
        """The key's owner, or None for anything that is not a stored key. The comparison of
        hashes takes the same time wherever they differ."""
        match = _KEY.match(key or "")
        if not match:
            return None
        found = self._current().get(match.group(1))
        if found is None:
            return None
        user, role, stored = found
        if not hmac.compare_digest(key_hash(key or ""), stored):
            return None
        return KeyOwner(user=user, role=role, key_id=match.group(1))

    def __len__(self) -> int:
        return len(self._current())


def _user_entry(path: Path, name: str) -> tuple[dict, dict]:
    """The users file's data and `name`'s entry in it; AuthError (what to do) when there is none."""
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"users": {}}
    entry = data.get("users", {}).get(name)
    if entry is None:
        raise AuthError(f"Fant ikke brukeren {name!r} i {path}. Legg den til først: assistant user {name} --role participant")
    return data, entry


def _write(path: Path, data: dict) -> None:
    """Replace the users file in one step, readable by its owner only. Every replica that reads the
    file follows the change on its next request (`UsersFile`)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def add_api_key(path: Path, name: str) -> str:
    """Make a key for an existing user in the users file; returns the key (its only appearance:
    only the hash is written)."""
    data, entry = _user_entry(path, name)
    key, key_id = new_key()
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    entry.setdefault("api_keys", []).append({"id": key_id, "sha256": key_hash(key), "created": created})
    _write(path, data)
    return key


def list_api_keys(path: Path, name: str) -> list[dict[str, str]]:
    """A user's keys as id and creation time (the keys themselves are not stored, so never shown)."""
    _, entry = _user_entry(path, name)
    return [{"id": str(k["id"]), "created": str(k.get("created", ""))} for k in entry.get("api_keys", ())]


def revoke_api_key(path: Path, name: str, key_id: str) -> None:
    """Remove one of a user's keys by its id (the 8 characters after `bsk_`, or the whole key):
    from the next request on, it opens nothing, on every replica that reads this file."""
    match = _KEY.match(key_id)
    wanted = match.group(1) if match else key_id
    data, entry = _user_entry(path, name)
    keys = entry.get("api_keys", [])
    kept = [k for k in keys if str(k["id"]) != wanted]
    if len(kept) == len(keys):
        known = ", ".join(str(k["id"]) for k in keys) or "ingen"
        raise AuthError(f"{name!r} har ingen API-nøkkel med id {wanted!r} (nøklene: {known}). "
                        f"Se dem med: assistant user {name} --keys")
    entry["api_keys"] = kept
    _write(path, data)
