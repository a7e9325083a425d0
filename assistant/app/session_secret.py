"""The key that signs sign-in cookies (issue 22).

Every replica behind one load balancer must sign and check cookies with the same key, or a
participant signed in on one is a stranger to the next. `ASSISTANT_SESSION_SECRET` sets it; left
unset, the first process to need it makes a random one and keeps it in
`<data_dir>/session-secret`, so the embedded default needs no configuration and replicas that
share a data directory share the key too. A restart keeps it: signing in survives a restart now.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from assistant.core.errors import ConfigError

FILE_NAME = "session-secret"
MIN_LENGTH = 32  # characters of a configured secret: shorter ones are guessable offline from a cookie


class WeakSecret(ConfigError, ValueError):
    """A configured session secret too short to be safe; str() says what to use."""


def session_secret(configured: str | None, data_dir: Path) -> bytes:
    """The configured secret, or the one kept in the data directory (made now if there is none)."""
    if configured:
        if len(configured) < MIN_LENGTH:
            raise WeakSecret(
                f"ASSISTANT_SESSION_SECRET er for kort: bruk minst {MIN_LENGTH} tilfeldige tegn "
                "(for eksempel: python -c 'import secrets; print(secrets.token_urlsafe(48))')."
            )
        return configured.encode()
    path = data_dir / FILE_NAME
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        # Written in full under a private name, then linked into place: link fails when the file
        # exists, so two processes starting at once end up with one key, never half of one.
        tmp = data_dir / f".{FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_urlsafe(48))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_text(encoding="ascii").strip().encode()
