"""Shared fixtures: settings in a temp data dir, the fake embedder (tests/fakes.py), an in-memory
vector store, and helpers that write small corpora. Real components have their own integration
tests; fakes are only for the logic around them."""

from __future__ import annotations

import os
import socket
import textwrap
from pathlib import Path

import pytest

import assistant.core.environment  # noqa: E402,F401  (before any third-party import)

from assistant.core.memory_store import InMemoryStore  # noqa: E402
from assistant.core.settings import REPO_ROOT, Settings  # noqa: E402
from tests.fakes import FakeEmbedder  # noqa: E402


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def memory_store() -> InMemoryStore:
    """An empty index in this test's memory: for unit tests whose subject is not the store.
    Pass this one instance to both sync_corpus and the Retriever (instances do not share)."""
    return InMemoryStore()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    return Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        corpus_dir=corpus,
        relevance_floor=0.0,
        chunk_target_tokens=120,
        chunk_max_tokens=200,
    )


def write_doc(corpus: Path, rel: str, title: str, body: str, **front: object) -> Path:
    path = corpus / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["---", f'title: "{title}"']
    for key, value in front.items():
        lines.append(f"{key}: {value}")
    lines.append("---")
    path.write_text("\n".join(lines) + "\n" + textwrap.dedent(body).strip() + "\n", encoding="utf-8")
    return path


@pytest.fixture
def small_corpus(settings: Settings) -> Path:
    c = settings.corpus_dir
    write_doc(
        c,
        "programme/piloten.md",
        "Om piloten",
        """
        # Om piloten
        ## Kommunene
        Horten, Larvik, Porsgrunn og Tønsberg deltok i piloten med fire til fem ledere hver.
        ## Samlingene
        Piloten hadde fem dagssamlinger over litt mer enn ett år.
        """,
        kind="programme",
        language="nb",
    )
    write_doc(
        c,
        "leadership/regenerativ.md",
        "Regenerativ ledelse",
        """
        # Regenerativ ledelse
        Regenerativ ledelse ser organisasjonen og byen som levende systemer.
        ## Fra uttak til fornyelse
        Ledere går fra en praksis som tar ut verdier til en praksis som fornyer natur og fellesskap.
        """,
    )
    write_doc(
        c,
        "questions/refleksjon.md",
        "Refleksjon",
        """
        # Refleksjon
        ## Situasjonen
        - Hva kjennetegner byen din i dag?
        - Hvilken rolle har du i byutviklingen?
        """,
        kind="question",
        stage="[where_are_we]",
    )
    return c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def bundled_settings(tmp_path_factory) -> Settings:
    """The bundled corpus, indexed once per test session with the real default embedder."""
    from assistant.core.runtime import Runtime
    from ingest.pipeline import sync_corpus

    data = tmp_path_factory.mktemp("bundled")
    settings = Settings(_env_file=None, data_dir=data)
    rt = Runtime.from_settings(settings)
    report = sync_corpus(settings, rt.embedder, rt.store)
    assert report.ok, report.failed
    return settings


@pytest.fixture(scope="session")
def bundled_runtime(bundled_settings):
    from assistant.core.runtime import Runtime

    rt = Runtime.from_settings(bundled_settings)
    rt.retriever.warm_up()
    return rt


def start_app(data_dir: Path, extra_env: dict[str, str] | None = None, timeout_s: float = 90):
    """Start `assistant serve` on a free port; returns (process, url). The caller stops it."""
    import subprocess
    import sys
    import time
    import urllib.request

    port = free_port()
    log = open(data_dir / "serve.log", "w")
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(data_dir), "ASSISTANT_PORT": str(port), **(extra_env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "assistant", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return proc, url
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.5)
    proc.kill()
    pytest.fail(f"assistant serve did not start: {(data_dir / 'serve.log').read_text()[-3000:]}")


def start_signed_in_app(data_dir: Path, users: dict[str, tuple[str, str]]):
    """Start the app with sign-in for `users` ({name: (role, password)}); returns (process, url)."""
    import json

    from assistant.app.auth import hash_password

    users_file = data_dir / "users.json"
    users_file.write_text(
        json.dumps({"users": {n: {"role": r, "password": hash_password(p)} for n, (r, p) in users.items()}}),
        encoding="utf-8",
    )
    return start_app(data_dir, {"ASSISTANT_USERS_FILE": str(users_file)})


def stop_app(proc) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except Exception:  # noqa: BLE001
        proc.kill()


@pytest.fixture(scope="session")
def indexed_data_copy(bundled_settings, tmp_path_factory):
    """A fresh copy of the bundled index for a server process (one writer per store)."""
    import shutil

    def make(name: str) -> Path:
        data = tmp_path_factory.mktemp(name) / "data"
        shutil.copytree(bundled_settings.data_dir, data, ignore=shutil.ignore_patterns("ingest.lock", "*.log"))
        return data

    return make


# --- the journal's database: SQLite by default, PostgreSQL on request --------------------------
# A test that takes `database` runs on the SQLite file under its data directory. Marked with
# `both_databases` it runs twice, the second time on an empty database of the session's throwaway
# PostgreSQL server (tests/postgres.py). Use it for every test of what the journal guarantees.
both_databases = pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """One PostgreSQL server for the session (tests/postgres.py): skipped on a developer machine
    without the binaries, a failure in CI and in the test command (`postgres_required`)."""
    from tests.postgres import PostgresUnavailable, postgres_required, start_server

    try:
        server = start_server(tmp_path_factory.mktemp("postgres"))
    except PostgresUnavailable as exc:
        if postgres_required():
            pytest.fail(f"PostgreSQL is required here (CI or ASSISTANT_TEST_REQUIRE_POSTGRES) but did not start: {exc}")
        pytest.skip(f"no PostgreSQL on this machine: {exc}")
    yield server
    server.remove()


@pytest.fixture(scope="session")
def postgres_url(postgres_server) -> str:
    """The URL (SQLAlchemy, psycopg 3) of the session's PostgreSQL server's `postgres` database.
    Take `fresh_database(postgres_url)` (tests/postgres.py) for a database of your own."""
    return postgres_server.url


@pytest.fixture
def database(request, settings) -> str:
    """The journal's database URL for this test: the settings' SQLite file, or (param
    "postgresql") a new empty database on the session's server."""
    kind = getattr(request, "param", "sqlite")
    if kind == "sqlite":
        return settings.resolved_database_url
    from tests.postgres import fresh_database

    return fresh_database(request.getfixturevalue("postgres_url"))
