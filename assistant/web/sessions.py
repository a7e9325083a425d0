"""Sign-in sessions that every replica can check (issue 22).

A session is a signed cookie, not an entry in one process's memory: `v1.<payload>.<signature>`,
where the payload (base64url JSON) names the user, when the session began (`iat`) and when it was
last used (`seen`), and the signature is HMAC-SHA256 over it with the session secret
(`assistant/app/session_secret.py`), which all replicas share. Any replica can then tell who is
signed in without asking the one that signed them in, and a restart signs nobody out.

What the shell guaranteed with sessions in memory still holds:

- **Idle expiry.** A cookie unused for `max_idle_s` is refused. Each request that finds `seen`
  older than `refresh_s` gets the cookie back with `seen` renewed (`Set-Cookie`), so an active
  participant stays signed in and an idle one does not; a stolen old cookie expires on its own.
- **Sign-out ends the session everywhere.** A signature cannot be withdrawn, so sign-out records
  the time per user (`assistant/app/signouts.py`, a record all replicas read) and a cookie issued
  before its user's last sign-out is refused on every replica. This signs the user out in every
  browser at once, which is what "Logg ut" promised anyway (the page also clears the site's data).
- **A removed user is signed out** at their next request (the users file is re-read when it
  changes, `assistant/app/auth.py`).
- **A Gradio session hash belongs to one user.** Gradio keeps a page's state in the memory of the
  replica that serves its queue, under a hash the page made; the binding lives beside that state,
  in the same replica. A page reopened on another replica makes a new hash there, bound to the
  same user. Nothing of a hash's state exists on a replica that did not serve it, so a hash seen
  there first is bound there first, to whoever presents it, with nothing to read.

Clocks: `iat`, `seen` and sign-out times are wall-clock seconds, so replicas' clocks must agree
(NTP) to within a small part of the idle limit. A sign-in never gets an `iat` at or before its
user's last sign-out, so a replica whose clock is slightly behind another's cannot issue a cookie
that is born revoked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable

from assistant.app.auth import UserStore
from assistant.app.signouts import MemorySignOuts, SignOuts

VERSION = "v1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Sessions:
    """Signs and checks session cookies; binds Gradio session hashes to users (in this process)."""

    def __init__(self, secret: bytes, max_idle_s: float, signouts: SignOuts | None = None,
                 users: UserStore | None = None, *, clock: Callable[[], float] = time.time,
                 refresh_s: float | None = None) -> None:
        if len(secret) < 16:
            raise ValueError("the session secret is too short")
        self._key = hashlib.sha256(b"assistant-session\0" + secret).digest()  # this use of the secret only
        self.max_idle_s = max_idle_s
        self.refresh_s = refresh_s if refresh_s is not None else min(300.0, max_idle_s / 10)
        self.signouts = signouts if signouts is not None else MemorySignOuts()
        self.users = users
        self.clock = clock
        self._hash_owner: dict[str, str] = {}
        self._lock = threading.Lock()

    # -- cookies -------------------------------------------------------------------------------
    def _sign(self, payload: dict) -> str:
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        mac = hmac.new(self._key, f"{VERSION}.{body}".encode(), hashlib.sha256).digest()
        return f"{VERSION}.{body}.{_b64(mac)}"

    def _verify(self, token: str | None) -> dict | None:
        """The payload of a cookie this secret signed, or None (forged, altered, another secret)."""
        try:
            version, body, mac = (token or "").split(".")
            if version != VERSION:
                return None
            expected = hmac.new(self._key, f"{version}.{body}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(_unb64(mac), expected):
                return None
            payload = json.loads(_unb64(body))
        except (ValueError, TypeError):  # wrong shape, bad base64 or JSON
            return None
        ok = (isinstance(payload, dict) and isinstance(payload.get("u"), str)
              and all(isinstance(payload.get(k), (int, float)) for k in ("iat", "seen")))
        return payload if ok else None

    def create(self, user: str) -> str:
        """A new session's cookie value."""
        now = max(self.clock(), self.signouts.signed_out_at(user) + 0.001)
        return self._sign({"u": user, "iat": now, "seen": now})

    def resolve(self, token: str | None) -> tuple[str | None, str | None]:
        """(the signed-in user or None, a renewed cookie value when this one should be refreshed)."""
        payload = self._verify(token)
        if payload is None:
            return None, None
        user, now = payload["u"], self.clock()
        if now - payload["seen"] > self.max_idle_s:
            return None, None
        if payload["iat"] <= self.signouts.signed_out_at(user):
            return None, None
        if self.users is not None and not self.users.exists(user):
            return None, None
        renewed = self._sign({**payload, "seen": now}) if now - payload["seen"] >= self.refresh_s else None
        return user, renewed

    def user(self, token: str | None) -> str | None:
        return self.resolve(token)[0]

    def end(self, token: str | None) -> str | None:
        """Signs the cookie's user out on every replica; returns the user (None when not signed in)."""
        user = self.user(token)
        if user is None:
            return None
        payload = self._verify(token) or {}
        # Never before the session's own start, whatever this replica's clock says.
        self.signouts.sign_out(user, max(self.clock(), float(payload.get("iat", 0.0))))
        return user

    # -- Gradio session hashes --------------------------------------------------------------------
    def claim(self, session_hash: str, user: str) -> bool:
        """True when `session_hash` is (now) this user's; False when another user has it."""
        with self._lock:
            owner = self._hash_owner.setdefault(session_hash, user)
            return owner == user

    def hashes_of(self, user: str, *, forget: bool = False) -> list[str]:
        """The Gradio session hashes `user` has used here; with `forget`, they are released too."""
        with self._lock:
            owned = [h for h, u in self._hash_owner.items() if u == user]
            if forget:
                for h in owned:
                    del self._hash_owner[h]
            return owned
