"""README claims about the command line, run as a user runs them (a real subprocess, real e5,
embedded Chroma): `assistant ask` in each form shown in "Using the command line" with its exit
codes, and `assistant user` + ASSISTANT_USERS_FILE / ASSISTANT_USERS from "Sign-in"."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from .conftest import free_port, start_app, stop_app, write_doc
from .test_cli import cli
from .test_llm_real import llama_server  # noqa: F401 - fixture: SmolLM2 behind `python -m llama_cpp.server`

pytestmark = pytest.mark.integration

CITE = re.compile(r"\[(\d+)\]")
WHERE_TO_QUESTION = "Hvordan ser byen din ut i 2040 hvis dere lykkes?"
WHERE_ARE_WE_QUESTIONS = ("Hva kjennetegner byen din i dag?", "Hvilken rolle har du i byutviklingen?")


@pytest.fixture
def indexed(tmp_path, small_corpus):
    """The small corpus (plus one question for the stage "where_to"), ingested by `assistant ingest`."""
    write_doc(small_corpus, "questions/fremtiden.md", "Fremtiden", f"# Fremtiden\n## Bildet\n- {WHERE_TO_QUESTION}\n",
              kind="question", stage="[where_to]")
    data = tmp_path / "cli-data"
    result = cli("ingest", "--json", data_dir=data, corpus=small_corpus)
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["files_added"]) == 4
    return data, small_corpus


def ask(indexed, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    data, corpus = indexed
    return cli("ask", *args, data_dir=data, corpus=corpus, env=env)


def cited_numbers(text: str) -> set[int]:
    return {int(n) for n in CITE.findall(text)}


# --- assistant ask ------------------------------------------------------------------------


def test_ask_answers_with_citations_and_refuses_what_the_material_does_not_cover(indexed):
    # assistant ask "Hvilke kommuner deltok i piloten?"   -> cited answer
    plain = ask(indexed, "Hvilke kommuner deltok i piloten?")
    assert plain.returncode == 0, plain.stderr
    assert "Horten" in plain.stdout and "[1]" in plain.stdout
    assert "programme/piloten.md" in plain.stdout  # the numbered source list
    assert plain.stderr == ""  # no model, nothing streamed

    # assistant ask "Which towns took part?" --json     -> the answer record
    record = ask(indexed, "Which towns took part in the pilot?", "--json")
    assert record.returncode == 0, record.stderr
    answer = json.loads(record.stdout)
    assert {"text", "citations", "refused", "timings"} <= set(answer)
    assert answer["refused"] is False and answer["error"] is None and answer["language"] == "en"
    assert answer["backend"] == "extractive" and answer["citations"]
    assert answer["citations"][0]["source"] == "programme/piloten.md"
    assert "Horten" in answer["text"]
    assert cited_numbers(answer["text"]) == {c["number"] for c in answer["citations"]}
    assert answer["timings"]["total_ms"] > 0

    # ... or "finner ikke" when not covered: exit 0, no citation, no model
    refused = ask(indexed, "Hvordan lager jeg fårikål?")
    assert refused.returncode == 0, refused.stderr
    assert "finner ikke" in refused.stdout and not CITE.search(refused.stdout)
    as_json = json.loads(ask(indexed, "What is the capital of France?", "--json").stdout)
    assert as_json["refused"] is True and as_json["citations"] == [] and as_json["backend"] == "none"
    assert "cannot find" in as_json["text"]


def test_ask_reflect_asks_the_question_of_the_stage(indexed):
    # assistant ask "Byen vår vokser, hva er min rolle?" --mode reflect --stage where_are_we
    human = ask(indexed, "Byen vår vokser, hva er min rolle?", "--mode", "reflect", "--stage", "where_are_we")
    assert human.returncode == 0, human.stderr
    assert "Byen vår vokser" in human.stdout  # the participant's words mirrored
    assert "Hvor er vi?" in human.stdout and any(q in human.stdout for q in WHERE_ARE_WE_QUESTIONS)

    record = json.loads(ask(indexed, "Byen vår vokser, hva er min rolle?", "--mode", "reflect", "--stage", "where_to",
                            "--json").stdout)
    assert record["mode"] == "reflect"
    assert list(record["reflection_questions"]) == [WHERE_TO_QUESTION]  # --stage chose the question
    assert "Hvor skal vi?" in record["text"]
    assert any(c["source"] == "questions/fremtiden.md" for c in record["citations"])


def test_ask_usage_and_service_errors_exit_2(indexed, tmp_path):
    bad_stage = ask(indexed, "Hva nå?", "--mode", "reflect", "--stage", "nowhere")
    assert bad_stage.returncode == 2 and "--stage" in bad_stage.stderr and bad_stage.stdout == ""
    empty = ask(indexed, "   ")
    assert empty.returncode == 2 and "tom" in empty.stderr
    before_ingest = cli("ask", "Hvilke kommuner deltok?", data_dir=tmp_path / "no-index")
    assert before_ingest.returncode == 2 and "assistant ingest" in before_ingest.stderr

    # --backend openai with nobody listening: a clear one-line error with the URL, exit 2
    dead = f"http://127.0.0.1:{free_port()}/v1"
    human = ask(indexed, "Hvilke kommuner deltok i piloten?", "--backend", "openai", "--base-url", dead, "--model", "local")
    assert human.returncode == 2 and human.stdout == ""
    message = human.stderr.strip().splitlines()[-1]
    assert dead in message and "ASSISTANT_LLM_BACKEND=extractive" in message
    as_json = ask(indexed, "Hvilke kommuner deltok i piloten?", "--backend", "openai", "--base-url", dead, "--json")
    assert as_json.returncode == 2
    assert dead in json.loads(as_json.stdout)["error"]


def test_ask_openai_backend_against_a_real_llama_server(indexed, llama_server):  # noqa: F811
    # assistant ask "..." --backend openai --base-url http://127.0.0.1:8080/v1 --model local
    env = {"ASSISTANT_LLM_MAX_TOKENS": "64", "ASSISTANT_LLM_TEMPERATURE": "0", "ASSISTANT_LLM_TIMEOUT_S": "120"}
    args = ("Hvilke kommuner deltok i piloten?", "--backend", "openai", "--base-url", llama_server.url, "--model", "local")
    record = ask(indexed, *args, "--json", env=env)
    assert record.returncode == 0, record.stderr[-2000:]
    answer = json.loads(record.stdout)
    assert answer["error"] is None and answer["refused"] is False
    assert answer["backend"].startswith(f"openai:local@{llama_server.url}")  # the flags reached the engine ("+extractive" when it fell back)
    assert answer["text"].strip() and answer["timings"]["generation_ms"] > 0
    # Whatever the tiny model wrote: it cites only the sources it was given.
    given = len(answer["retrieved"])
    assert given >= 1 and cited_numbers(answer["text"]) <= set(range(1, given + 1))
    assert {c["number"] for c in answer["citations"]} <= set(range(1, given + 1))

    human = ask(indexed, *args, env=env)
    assert human.returncode == 0, human.stderr[-2000:]
    # The checked answer on stdout, once: a model's text is verified before any of it is shown, so
    # it is not also echoed to stderr as it arrives.
    assert human.stdout.strip() and human.stdout.strip() not in human.stderr


# --- assistant user and sign-in ------------------------------------------------------------


def user_cmd(*args: str, data_dir: Path, password: str | None = None, stdin: str | None = None,
             env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    full_env.update({"ASSISTANT_DATA_DIR": str(data_dir), **(env or {})})
    if password is not None:
        full_env["ASSISTANT_NEW_PASSWORD"] = password
    # A new session has no controlling terminal: getpass then reads the password from stdin.
    return subprocess.run([sys.executable, "-m", "assistant", "user", *args], input=stdin or "", capture_output=True,
                          text=True, env=full_env, timeout=120, start_new_session=True)


def test_user_command_stores_scrypt_hashes_and_updates_users(tmp_path):
    from assistant.app.auth import UserStore

    users_file = tmp_path / "conf" / "users.json"
    # assistant user kari --role participant --file data/users.json   (asks for the password)
    asked = user_cmd("kari", "--role", "participant", "--file", str(users_file), data_dir=tmp_path / "d",
                     stdin="kari-passord\n")
    assert asked.returncode == 0, asked.stderr
    assert "Passord for kari" in asked.stderr and "ASSISTANT_USERS_FILE" in asked.stdout
    added = user_cmd("fasilitator", "--role", "facilitator", "--file", str(users_file), "--json",
                     data_dir=tmp_path / "d", password="fasi-passord")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout) == {"user": "fasilitator", "role": "facilitator", "users_file": str(users_file)}

    raw = users_file.read_text(encoding="utf-8")
    data = json.loads(raw)["users"]
    assert {name: entry["role"] for name, entry in data.items()} == {"kari": "participant", "fasilitator": "facilitator"}
    assert all(entry["password"].startswith("scrypt$") for entry in data.values())
    assert "kari-passord" not in raw and "fasi-passord" not in raw
    assert stat.S_IMODE(users_file.stat().st_mode) == 0o600

    store = UserStore.load(users_file)
    assert store.check("kari", "kari-passord") and not store.check("kari", "fasi-passord")
    assert store.check("fasilitator", "fasi-passord") and store.role("fasilitator") == "facilitator"

    # Running it again for a user changes that user only.
    again = user_cmd("kari", "--role", "facilitator", "--file", str(users_file), data_dir=tmp_path / "d",
                     password="nytt-passord")
    assert again.returncode == 0, again.stderr
    store = UserStore.load(users_file)
    assert store.role("kari") == "facilitator" and store.check("kari", "nytt-passord")
    assert not store.check("kari", "kari-passord") and store.check("fasilitator", "fasi-passord")

    # Refused, exit 2, file unchanged: a short password, a bad name.
    before = users_file.read_bytes()
    short = user_cmd("ola", "--file", str(users_file), data_dir=tmp_path / "d", password="kort")
    assert short.returncode == 2 and "8 tegn" in short.stderr
    bad = user_cmd("ola nordmann", "--file", str(users_file), data_dir=tmp_path / "d", password="ola-passord")
    assert bad.returncode == 2 and "Brukernavn" in bad.stderr
    assert users_file.read_bytes() == before

    # Without --file: ASSISTANT_USERS_FILE, else <data_dir>/users.json.
    default = user_cmd("ola", data_dir=tmp_path / "d", password="ola-passord")
    assert default.returncode == 0 and UserStore.load(tmp_path / "d" / "users.json").check("ola", "ola-passord")
    from_env = user_cmd("ola", data_dir=tmp_path / "d", password="ola-passord",
                        env={"ASSISTANT_USERS_FILE": str(tmp_path / "env-users.json")})
    assert from_env.returncode == 0 and UserStore.load(tmp_path / "env-users.json").check("ola", "ola-passord")


def _get(url: str, opener=None) -> tuple[int, bytes]:
    try:
        with (opener or urllib.request.build_opener()).open(url, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _sign_in(url: str, user: str, password: str):
    """(status of POST /login, an opener with the session cookie)."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    form = urllib.parse.urlencode({"username": user, "password": password}).encode()
    status, _ = _get(urllib.request.Request(urllib.parse.urljoin(url, "login"), data=form), opener)
    return status, opener


@pytest.mark.parametrize("how", ["ASSISTANT_USERS_FILE", "ASSISTANT_USERS"])
def test_users_setting_makes_serve_require_sign_in(indexed_data_copy, tmp_path, how):
    """ASSISTANT_USERS_FILE=data/users.json assistant serve; "The same JSON can be given in ASSISTANT_USERS"."""
    users_file = tmp_path / "users.json"
    for name, role, password in (("kari", "participant", "kari-passord"), ("fasi", "facilitator", "fasi-passord")):
        made = user_cmd(name, "--role", role, "--file", str(users_file), data_dir=tmp_path, password=password)
        assert made.returncode == 0, made.stderr
    setting = str(users_file) if how == "ASSISTANT_USERS_FILE" else users_file.read_text(encoding="utf-8")
    data = indexed_data_copy(f"signin-{how.lower()}")
    proc, url = start_app(data, {how: setting})
    try:
        status, page = _get(url)
        assert status == 200 and b'action="/login' in page and b"journal" not in page.lower()  # the login page, nothing else
        assert _get(urllib.parse.urljoin(url, "config"))[0] == 401
        assert _sign_in(url, "kari", "feil-passord")[0] == 401
        assert _sign_in(url, "ukjent", "kari-passord")[0] == 401
        for user, password in (("kari", "kari-passord"), ("fasi", "fasi-passord")):
            status, opener = _sign_in(url, user, password)
            assert status == 200, user
            status, config = _get(urllib.parse.urljoin(url, "config"), opener)
            assert status == 200 and b"Refleksjonsassistent" in config, user
    finally:
        stop_app(proc)
    log = (data / "serve.log").read_text(encoding="utf-8", errors="replace")
    assert "innlogging påkrevd" in log and "kari-passord" not in log


def test_without_users_serve_runs_in_local_mode(indexed_data_copy):
    data = indexed_data_copy("local-mode")
    proc, url = start_app(data)
    try:
        status, page = _get(url)
        assert status == 200 and b'"auth_required":true' not in page
        assert _get(urllib.parse.urljoin(url, "config"))[0] == 200
    finally:
        stop_app(proc)
    assert "lokal modus" in (data / "serve.log").read_text(encoding="utf-8", errors="replace")


def test_user_command_lists_and_revokes_api_keys(tmp_path):
    users_file = tmp_path / "users.json"
    made = user_cmd("kari", "--api-key", "--file", str(users_file), "--json", data_dir=tmp_path / "d", password="kari-passord")
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)["api_key"]
    key_id = key.split("_")[1]
    listed = user_cmd("kari", "--keys", "--file", str(users_file), "--json", data_dir=tmp_path / "d")
    assert listed.returncode == 0 and [k["id"] for k in json.loads(listed.stdout)["api_keys"]] == [key_id]
    assert key not in listed.stdout
    wrong = user_cmd("kari", "--revoke-key", "00000000", "--file", str(users_file), data_dir=tmp_path / "d")
    assert wrong.returncode != 0 and "--keys" in wrong.stderr and key_id in wrong.stderr  # what exists, how to see it
    revoked = user_cmd("kari", "--revoke-key", key_id, "--file", str(users_file), data_dir=tmp_path / "d")
    assert revoked.returncode == 0, revoked.stderr
    assert "virker ikke lenger" in revoked.stdout and "ingen" in revoked.stdout
    assert json.loads(users_file.read_text(encoding="utf-8"))["users"]["kari"]["api_keys"] == []
    assert json.loads(users_file.read_text(encoding="utf-8"))["users"]["kari"]["password"].startswith("scrypt$")  # untouched
