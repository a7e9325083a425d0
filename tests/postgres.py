"""A throwaway PostgreSQL server for the tests: Debian's binaries, a cluster in a temporary folder,
a free loopback port and a unix socket in that folder; nothing is installed as a service.

`start_postgres(tmp_dir)` returns `(url, stop)`; `stop()` shuts the server down and removes its
folder. `restart` on the returned handle lets a test take the database away and bring it back.
The session fixture `postgres_url` (tests/conftest.py) starts one server per test session, and
`fresh_database(url)` gives each test an empty database on it.

PostgreSQL refuses to run as root. When the tests run as root (containers, CI), the cluster is
made and run as `nobody` with `runuser`, in a folder under the system's temporary directory that
`nobody` owns (pytest's own temporary folders are private to root).

When the binaries are missing, `scripts/test.sh` installs Debian's `postgresql-15`, as it does
Chromium. A developer without them gets the PostgreSQL tests skipped, unless `CI` or
`ASSISTANT_TEST_REQUIRE_POSTGRES` is set (the test command sets it): then they fail, so a green
run always means they ran.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

PG_BIN = Path(os.environ.get("ASSISTANT_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
SUPERUSER = "postgres"


class PostgresUnavailable(RuntimeError):
    """The binaries are missing or the server did not start; the message says which and why."""


def postgres_required() -> bool:
    """Whether a missing PostgreSQL must fail the run (CI and the test command) instead of skipping."""
    return bool(os.environ.get("CI") or os.environ.get("ASSISTANT_TEST_REQUIRE_POSTGRES"))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PostgresServer:
    """One running cluster. `url` is a SQLAlchemy URL (psycopg 3) to its `postgres` database."""

    folder: Path
    port: int
    as_user: str | None  # run the binaries as this user (when we are root)
    url: str = ""
    _running: bool = field(default=False, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def log_file(self) -> Path:
        return self.folder / "postgres.log"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if self.as_user:
            command = ["runuser", "-u", self.as_user, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.folder)

    def init(self) -> None:
        done = self._run("initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "--auth=trust",
                         "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")
        if done.returncode != 0:
            raise PostgresUnavailable(f"initdb failed: {done.stderr.strip() or done.stdout.strip()}")

    def start(self) -> None:
        # fsync off: a test cluster needs no durability, and 2 shared cores need the time.
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -F "
                   "-c max_connections=200 -c shared_buffers=32MB")
        done = self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-o", options, "-w",
                         "-t", "60", "start")
        if done.returncode != 0:
            log = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
            raise PostgresUnavailable(f"pg_ctl start failed: {done.stderr.strip() or done.stdout.strip()}\n{log}")
        self._running = True

    def stop(self, mode: str = "fast") -> None:
        if self._running:
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")
            self._running = False

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_postgres(tmp_dir: Path | str) -> tuple[str, callable]:
    """Start a throwaway PostgreSQL; returns (url, stop). See `start_server` for the handle."""
    server = start_server(tmp_dir)
    return server.url, server.remove


def start_server(tmp_dir: Path | str) -> PostgresServer:
    """initdb + pg_ctl start in a new folder under `tmp_dir` (under the system temp dir when root)."""
    if not (PG_BIN / "initdb").exists():
        raise PostgresUnavailable(
            f"PostgreSQL binaries not found in {PG_BIN}: install Debian's postgresql-15 (scripts/test.sh does)"
        )
    as_user = None
    base = Path(tmp_dir)
    if os.geteuid() == 0:
        as_user = "nobody"
        base = Path(tempfile.gettempdir())
    folder = Path(tempfile.mkdtemp(prefix="assistant-pg-", dir=base))
    if as_user:
        shutil.chown(folder, user=as_user)
    server = PostgresServer(folder=folder, port=_free_port(), as_user=as_user)
    try:
        server.init()
        server.start()
    except (PostgresUnavailable, subprocess.TimeoutExpired, OSError) as exc:
        server.remove()
        raise PostgresUnavailable(str(exc)) from exc
    server.url = f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{server.port}/postgres"
    return server


def fresh_database(url: str) -> str:
    """An empty database on the server at `url`; returns its URL. Each test gets its own."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + "/" + name

