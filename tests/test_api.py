"""The HTTP API under /v1 (assistant/web/api.py, issue 21), with the clients other tools use: the
official `openai` package for chat, httpx for search, ingest and health.

Units (keys, the rate window, local mode, what is stored) run the API app alone in-process with
the fake embedder; the rest starts `assistant serve` on loopback with the bundled corpus and the
real default engine, and talks to it over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import openai
import pytest
from starlette.testclient import TestClient

from assistant.app.api_keys import ApiKeys, add_api_key, key_hash, list_api_keys, revoke_api_key
from assistant.app.auth import AuthError, UserStore, add_user
from assistant.app.chat import ChatConfig, ChatService
from assistant.app.journal import Journal
from assistant.core.answer import AnswerConfig, AnswerEngine
from assistant.core.runtime import Runtime
from assistant.core.store import ChromaStore, StoreConfig
from assistant.web.api import ApiConfig, RateLimit, corpus_digest, create_api
from ingest.pipeline import sync_corpus

from .conftest import start_app, stop_app

MARKER = "API-HEMMELIGHET-51c9"
QUESTION = "Hvilke kommuner deltok i piloten?"


def make_users(path: Path, users: dict[str, str]) -> dict[str, str]:
    """A users file with these users ({name: role}), each with one API key; returns the keys."""
    keys = {}
    for name, role in users.items():
        add_user(path, name, role, f"{name}-passord")
        keys[name] = add_api_key(path, name)
    return keys


def error_of(response: httpx.Response) -> dict:
    """OpenAI's error shape: {"error": {"message", "type", "code"}}, with a message that says what to do."""
    body = response.json()
    assert set(body["error"]) == {"message", "type", "code"}, body
    assert len(body["error"]["message"]) > 20
    return body["error"]


# --- units: the API app alone, fake embedder ----------------------------------------------------
@pytest.fixture
def service(settings, small_corpus, fake_embedder):
    s = settings.model_copy(update={"answer_min_similarity": 0.0, "answer_confident_similarity": 0.0})
    runtime = Runtime(settings=s, embedder=fake_embedder, store=ChromaStore(StoreConfig.from_settings(s)), _chat_model=None)
    sync_corpus(s, fake_embedder, runtime.store)
    engine = AnswerEngine(AnswerConfig.from_settings(s), runtime.retriever, fake_embedder)
    return ChatService(ChatConfig.from_settings(s), runtime, engine, Journal(s.journal_path))


@pytest.fixture
def signed(service, tmp_path):
    """The API with sign-in: kari (participant) and fasi (facilitator), one key each."""
    path = tmp_path / "users.json"
    keys = make_users(path, {"kari": "participant", "ola": "participant", "fasi": "facilitator"})
    api = create_api(ApiConfig.from_settings(service.runtime.settings), service, UserStore.load(path), ApiKeys.load(path))
    return TestClient(api, base_url="http://127.0.0.1"), keys, path


def test_keys_are_stored_hashed_and_only_the_whole_key_opens(tmp_path):
    path = tmp_path / "users.json"
    key = make_users(path, {"kari": "participant"})["kari"]
    stored = path.read_text(encoding="utf-8")
    assert key not in stored and key.split("_", 2)[2] not in stored and key_hash(key) in stored
    keys = ApiKeys.load(path)
    owner = keys.owner(key)
    assert owner is not None and owner.user == "kari" and owner.role == "participant"
    prefix, key_id, secret = key.split("_", 2)
    other = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    assert keys.owner(f"{prefix}_{key_id}_{other}") is None  # the right id, a wrong secret
    assert keys.owner("") is None and keys.owner("sk-whatever") is None and keys.owner(key + "x") is None
    # Changing the password keeps the user's keys.
    add_user(path, "kari", "participant", "nytt-passord-123")
    assert ApiKeys.load(path).owner(key) is not None


def test_a_revoked_key_opens_nothing_from_the_next_request_on(signed):
    """A leaked key is revoked in the users file; the running API (and every replica reading the
    same file) refuses it on the next request, and the user's other keys keep working."""
    client, keys, path = signed
    spare = add_api_key(path, "kari")
    first = keys["kari"]
    assert client.get("/health", headers={"Authorization": f"Bearer {first}"}).status_code == 200
    listed = list_api_keys(path, "kari")
    assert [k["id"] for k in listed] == [first.split("_")[1], spare.split("_")[1]]
    assert all(first not in str(k) and key_hash(first) not in str(k) for k in listed)  # ids, never the key or its hash
    revoke_api_key(path, "kari", first.split("_")[1])
    r = client.get("/health", headers={"Authorization": f"Bearer {first}"})
    assert r.status_code == 401 and error_of(r)["code"] == "invalid_api_key"
    assert client.get("/health", headers={"Authorization": f"Bearer {spare}"}).status_code == 200
    revoke_api_key(path, "kari", spare)  # the whole key names its id too
    assert client.get("/health", headers={"Authorization": f"Bearer {spare}"}).status_code == 401
    assert list_api_keys(path, "kari") == []
    with pytest.raises(AuthError, match="ingen API-nøkkel med id"):
        revoke_api_key(path, "kari", "deadbeef")
    with pytest.raises(AuthError, match="Fant ikke brukeren"):
        list_api_keys(path, "nobody")
    assert client.get("/health", headers={"Authorization": f"Bearer {keys['ola']}"}).status_code == 200  # other users untouched


def test_the_rate_window_slides():
    now = [0.0]
    limit = RateLimit(3, clock=lambda: now[0])
    assert [limit.wait_s("a") for _ in range(3)] == [0, 0, 0]
    assert limit.wait_s("a") == pytest.approx(60.0) and limit.wait_s("b") == 0  # per key
    now[0] = 59.5
    assert limit.wait_s("a") == pytest.approx(0.5)
    now[0] = 60.0
    assert limit.wait_s("a") == 0


def test_local_mode_answers_on_loopback_only(service):
    api = create_api(ApiConfig.from_settings(service.runtime.settings), service, None)
    remote = TestClient(api, base_url="http://127.0.0.1", client=("10.20.30.40", 50000))
    r = remote.get("/models")
    assert r.status_code == 403 and error_of(r)["code"] == "local_only"
    assert remote.post("/chat/completions", json={"model": "byledelse-qa", "messages": [{"role": "user", "content": QUESTION}]}).status_code == 403
    local = TestClient(api, base_url="http://127.0.0.1", client=("127.0.0.1", 50000))
    assert [m["id"] for m in local.get("/models").json()["data"]] == ["byledelse-qa", "byledelse-reflect"]
    assert local.post("/chat/completions", json={"model": "byledelse-qa", "messages": [{"role": "user", "content": QUESTION}]}).status_code == 200


def test_conversations_are_stored_only_when_asked_and_only_for_the_keys_user(signed, service):
    client, keys, _ = signed
    kari, ola = ({"Authorization": f"Bearer {keys[n]}"} for n in ("kari", "ola"))
    ask = {"model": "byledelse-qa", "messages": [{"role": "user", "content": f"Hvilke kommuner deltok? {MARKER}"}]}
    r = client.post("/chat/completions", json=ask, headers=kari)
    assert r.status_code == 200 and r.json()["byledelse"]["stored"] is False
    assert service.journal.list("kari") == [] and MARKER.encode() not in service.runtime.settings.journal_path.read_bytes()
    r = client.post("/chat/completions", json={**ask, "byledelse": {"store": True}}, headers=kari)
    cid = r.json()["byledelse"]["conversation_id"]
    assert r.json()["byledelse"]["stored"] is True and [c.id for c in service.journal.list("kari")] == [cid]
    assert [m.role for m in service.journal.get("kari", cid).messages] == ["user", "assistant"]
    assert service.journal.list("ola") == []
    # Continuing it: kari can, ola cannot (and learns nothing of it).
    again = {**ask, "byledelse": {"store": True, "conversation_id": cid}}
    assert client.post("/chat/completions", json=again, headers=kari).json()["byledelse"]["conversation_id"] == cid
    assert len(service.journal.get("kari", cid).messages) == 4
    r = client.post("/chat/completions", json=again, headers=ola)
    assert r.status_code == 404 and error_of(r)["code"] == "conversation_not_found" and MARKER not in r.text


def test_bad_requests_get_openai_errors_that_do_not_echo_what_was_sent(signed):
    client, keys, _ = signed
    auth = {"Authorization": f"Bearer {keys['kari']}"}
    r = client.post("/chat/completions", json={"model": "gpt-4", "messages": [{"role": "user", "content": QUESTION}]}, headers=auth)
    assert r.status_code == 404 and error_of(r)["code"] == "model_not_found" and "byledelse-qa" in r.json()["error"]["message"]
    r = client.post("/chat/completions", json={"model": "byledelse-qa", "messages": [{"role": "user", "content": 42, "x": MARKER}],
                                               "stream": MARKER}, headers=auth)
    assert r.status_code == 400 and error_of(r)["code"] == "invalid_request" and MARKER not in r.text
    r = client.post("/chat/completions", json={"model": "byledelse-qa", "messages": [{"role": "assistant", "content": "Hei"}]}, headers=auth)
    assert r.status_code == 400 and error_of(r)["code"] == "no_user_message"
    r = client.post("/chat/completions", json={"model": "byledelse-qa", "messages": [{"role": "user", "content": "x" * 5000}]}, headers=auth)
    assert r.status_code == 400 and error_of(r)["code"] == "invalid_message"
    assert error_of(client.get("/nothing-here", headers=auth))["code"] == "not_found"


def test_the_extension_can_carry_the_whole_answer_record(signed):
    client, keys, _ = signed
    r = client.post("/chat/completions", headers={"Authorization": f"Bearer {keys['kari']}"}, json={
        "model": "byledelse-qa", "messages": [{"role": "user", "content": QUESTION}], "byledelse": {"include_answer": True}})
    ext = r.json()["byledelse"]
    assert ext["answer"]["text"] == r.json()["choices"][0]["message"]["content"]
    assert [c["id"] for c in ext["chunks"]][: len(ext["answer"]["retrieved"])] == ext["answer"]["retrieved"]


def test_the_health_fingerprint_is_the_eval_reports(signed, service):
    from evals.runner import corpus_fingerprint

    chunks = service.runtime.retriever.chunks.values()
    assert corpus_digest([(c.id, c.content_hash) for c in chunks]) == corpus_fingerprint(chunks, "x").fingerprint


# --- the running app: real engine, real clients --------------------------------------------------
@pytest.fixture(scope="module")
def served(indexed_data_copy):
    data = indexed_data_copy("api")
    users_file = data / "users.json"
    keys = make_users(users_file, {"kari": "participant", "fasi": "facilitator", "flood": "participant"})
    proc, url = start_app(data, {"ASSISTANT_USERS_FILE": str(users_file), "ASSISTANT_API_RATE_PER_MINUTE": "40"})
    yield url.rstrip("/"), keys, data
    stop_app(proc)


def oa(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=60)


def ext(record) -> dict:
    """The assistant's extension object on an `openai` response or chunk."""
    return record.model_extra["byledelse"]


@pytest.mark.integration
def test_openai_client_gets_a_cited_answer(served):
    url, keys, _ = served
    completion = oa(url, keys["kari"]).chat.completions.create(model="byledelse-qa", messages=[{"role": "user", "content": QUESTION}])
    text = completion.choices[0].message.content
    assert "Horten" in text and "Tønsberg" in text and "[1]" in text
    assert completion.object == "chat.completion" and completion.model == "byledelse-qa"
    extension = ext(completion)
    assert extension["refused"] is False and extension["citations"]
    first = extension["citations"][0]
    assert first["number"] == 1 and first["source"].startswith("programme/") and first["passage"] and first["title"] in text


@pytest.mark.integration
def test_openai_client_streams_a_cited_answer(served):
    url, keys, _ = served
    stream = oa(url, keys["kari"]).chat.completions.create(
        model="byledelse-qa", messages=[{"role": "user", "content": QUESTION}], stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert "Horten" in text and chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert ext(chunks[-1])["citations"] and all((c.model_extra or {}).get("byledelse") is None for c in chunks[:-1])
    # The streamed text is the whole answer: the same as without streaming.
    whole = oa(url, keys["kari"]).chat.completions.create(model="byledelse-qa", messages=[{"role": "user", "content": QUESTION}])
    assert text == whole.choices[0].message.content


@pytest.mark.integration
def test_a_refusal_is_a_normal_message_with_a_flag(served):
    url, keys, _ = served
    client = oa(url, keys["kari"])
    budget = client.chat.completions.create(model="byledelse-qa", messages=[{"role": "user", "content": "Hva kostet det å delta i piloten?"}])
    assert budget.choices[0].message.role == "assistant" and budget.choices[0].message.content.startswith("Materialet oppgir ingen beløp")
    assert ext(budget)["refused"] is True and ext(budget)["declined"] is True  # near the material, which has no figure
    far = client.chat.completions.create(model="byledelse-qa", messages=[{"role": "user", "content": "Who won the football World Cup in 2018?"}])
    assert ext(far)["refused"] is True and ext(far)["declined"] is False and ext(far)["citations"] == []
    assert far.choices[0].message.content
    answered = client.chat.completions.create(model="byledelse-qa", messages=[{"role": "user", "content": QUESTION}])
    assert ext(answered)["refused"] is False


@pytest.mark.integration
def test_reflect_mode_mirrors_and_asks(served):
    url, keys, _ = served
    r = oa(url, keys["kari"]).chat.completions.create(model="byledelse-reflect", messages=[{"role": "user", "content":
        "Planavdelingen og kulturavdelingen trekker i hver sin retning om sentrum."}], extra_body={"byledelse": {"stage": "where_are_we"}})
    assert "Planavdelingen og kulturavdelingen" in r.choices[0].message.content and ext(r)["mode"] == "reflect"
    assert ext(r)["citations"]


@pytest.mark.integration
def test_a_wrong_key_gets_401_on_every_endpoint(served):
    url, keys, _ = served
    with pytest.raises(openai.AuthenticationError) as caught:
        oa(url, "bsk_00000000_" + "A" * 43).chat.completions.create(model="byledelse-qa", messages=[{"role": "user", "content": QUESTION}])
    assert caught.value.status_code == 401 and "--api-key" in caught.value.message
    with pytest.raises(openai.AuthenticationError):
        oa(url, keys["kari"][:-2] + "zz").models.list()
    routes = [("GET", "/v1/models", {}), ("GET", "/v1/health", {}), ("POST", "/v1/search", {"json": {"query": QUESTION}}),
              ("GET", "/v1/openapi.json", {}), ("GET", "/v1/docs", {}),
              ("POST", "/v1/chat/completions", {"json": {"model": "byledelse-qa", "messages": [{"role": "user", "content": QUESTION}]}}),
              ("POST", "/v1/ingest", {"files": {"files": ("a.md", b"# A\nTekst.\n", "text/markdown")}})]
    for method, path, kwargs in routes:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {keys['kari']}"}):
            r = httpx.request(method, url + path, headers=headers, **kwargs)
            assert r.status_code == 401 and error_of(r)["type"] == "invalid_request_error", (path, headers)
    # The browser's sign-in cookie does not open the API.
    browser = httpx.Client(base_url=url)
    assert browser.post("/login", data={"username": "kari", "password": "kari-passord"}).status_code == 303
    assert browser.get("/v1/models").status_code == 401


@pytest.mark.integration
def test_participants_cannot_ingest(served):
    url, keys, data = served
    r = httpx.post(url + "/v1/ingest", headers={"Authorization": f"Bearer {keys['kari']}"},
                   files={"files": ("notat.md", b"# Notat\nEn tekst.\n", "text/markdown")})
    assert r.status_code == 403 and error_of(r)["code"] == "facilitators_only"
    assert not (data / "uploads").exists() or not any((data / "uploads").rglob("notat.md"))


@pytest.mark.integration
def test_oversized_body_gets_413_in_openais_shape(served):
    url, keys, _ = served
    with pytest.raises(openai.APIStatusError) as caught:
        oa(url, keys["kari"]).chat.completions.create(model="byledelse-qa", messages=[{"role": "user", "content": "x" * (2 * 1024 * 1024)}])
    assert caught.value.status_code == 413
    r = httpx.post(url + "/v1/search", content=b'{"query": "' + b"y" * (2 * 1024 * 1024) + b'"}',
                   headers={"Authorization": f"Bearer {keys['kari']}", "Content-Type": "application/json"})
    assert r.status_code == 413 and error_of(r)["code"] == "request_too_large"


@pytest.mark.integration
def test_search_ingest_and_health_over_http(served):
    url, keys, data = served
    fasi = httpx.Client(base_url=url + "/v1", headers={"Authorization": f"Bearer {keys['fasi']}"}, timeout=120)
    health = fasi.get("/health")
    assert health.status_code == 200, health.text
    h = health.json()
    assert h["ok"] and h["embedder"]["ok"] and h["store"]["ok"] and h["model"]["ok"] and h["auth"] == "api_key"
    assert h["index"]["chunks"] > 50 and h["index"]["documents"] >= 20 and "e5" in h["index"]["embedding_model"]
    before = h["index"]["chunks"]

    hits = fasi.post("/search", json={"query": QUESTION, "k": 3}).json()["hits"]
    assert len(hits) == 3 and hits[0]["rank"] == 1 and hits[0]["score"] >= hits[1]["score"]
    assert hits[0]["source"].startswith("programme/") and hits[0]["title"] and hits[0]["text"] and "locator" in hits[0]
    assert any("Horten" in h["text"] for h in hits)
    assert all(h["provenance"] in ("programme", "literature", "assistant") for h in hits)
    only = fasi.post("/search", json={"query": QUESTION, "kinds": ["question"]}).json()["hits"]
    assert only and {h["kind"] for h in only} == {"question"}

    note = f"# Samling om kretsløp\n\nPå samlingen i Horten snakket lederne om {MARKER.lower()} og kretsløpsbyen.\n".encode()
    r = fasi.post("/ingest", files={"files": ("kretslop notat.md", note, "text/markdown")}, data={"kind": "programme"})
    assert r.status_code == 200, r.text
    report = r.json()["report"]
    assert r.json()["files"] == ["programme/kretslop-notat.md"] and report["files_added"] and report["chunks_added"] >= 1
    found = fasi.post("/search", json={"query": "kretsløpsbyen samling Horten", "k": 5}).json()["hits"]
    assert any(hit["source"].startswith("opplastet/") for hit in found)
    # Where the content comes from is the facilitator's choice, and it reaches the hits.
    suggestion = "# Forslag til samling\n\nEt forslag om grønne tak og regnbed i Tønsberg sentrum.\n".encode()
    r = fasi.post("/ingest", files={"files": ("forslag tak.md", suggestion, "text/markdown")},
                  data={"kind": "programme", "provenance": "assistant"})
    assert r.status_code == 200, r.text
    roofs = fasi.post("/search", json={"query": "grønne tak og regnbed i Tønsberg", "k": 3}).json()["hits"]
    assert "grønne tak" in roofs[0]["text"] and roofs[0]["provenance"] == "assistant", roofs[0]
    assert all(hit["provenance"] == "programme" for hit in found if hit["source"].startswith("opplastet/"))
    assert fasi.post("/ingest", files={"files": ("x.md", b"# X\nTekst.\n", "text/markdown")},
                     data={"provenance": "rykte"}).status_code == 400
    after = fasi.get("/health").json()["index"]["chunks"]
    assert after > before

    # A file that cannot be read: a clear JSON error with the report; nothing kept, nothing lost.
    broken = fasi.post("/ingest", files={"files": ("ødelagt.pdf", b"%PDF-1.7\n" + b"\x00garbage" * 50, "application/pdf")})
    assert broken.status_code == 422 and error_of(broken)["code"] == "unreadable_file"
    assert broken.json()["ingest"]["failed"] and "nothing" not in broken.json()["error"]["message"].lower()
    assert fasi.get("/health").json()["index"]["chunks"] == after
    assert not any((data / "uploads").rglob("*.pdf")) and any((data / "uploads").rglob("kretslop-notat.md"))
    wrong = fasi.post("/ingest", files={"files": ("bilde.png", b"\x89PNG", "image/png")})
    assert wrong.status_code == 415 and error_of(wrong)["code"] == "unsupported_file_type"


@pytest.mark.integration
def test_the_browser_rules_still_hold_and_the_api_has_its_own_docs(served):
    url, keys, _ = served
    auth = {"Authorization": f"Bearer {keys['kari']}"}
    r = httpx.get(url + "/v1/models", headers={**auth, "Origin": "http://evil.test"})
    assert r.status_code == 403 and error_of(r)["code"] == "foreign_origin" and "access-control-allow-origin" not in r.headers
    port = url.rsplit(":", 1)[1]
    r = httpx.get(url + "/v1/models", headers={**auth, "Host": f"rebind.example:{port}"})
    assert r.status_code == 400 and error_of(r)["code"] == "unknown_host"
    assert httpx.get(url + "/config").status_code == 401  # the browser interface still needs sign-in
    schema = httpx.get(url + "/v1/openapi.json", headers=auth).json()
    assert {"/chat/completions", "/models", "/search", "/ingest", "/health"} <= set(schema["paths"])
    page = httpx.get(url + "/v1/docs", headers=auth)
    assert page.status_code == 200 and "/v1/chat/completions" in page.text and "<script" not in page.text
    assert httpx.get(url + "/docs").status_code == 404  # the app's own docs route stays closed


@pytest.mark.integration
def test_z_rate_limit_gives_429(served):
    """Runs late in this module; it uses a key of its own, so the others keep working."""
    url, keys, data = served
    client = oa(url, keys["flood"])
    for _ in range(40):
        client.models.list()
    with pytest.raises(openai.RateLimitError) as caught:
        client.models.list()
    assert caught.value.status_code == 429 and int(caught.value.response.headers["retry-after"]) >= 1
    assert oa(url, keys["kari"]).models.list().data  # per key


@pytest.mark.integration
def test_zz_no_message_text_in_the_server_log(served):
    url, keys, data = served
    oa(url, keys["kari"]).chat.completions.create(model="byledelse-qa", messages=[{"role": "user", "content": f"Hvem deltok? {MARKER}"}])
    httpx.post(url + "/v1/chat/completions", headers={"Authorization": f"Bearer {keys['kari']}"},
               content=json.dumps({"model": "byledelse-qa", "messages": [{"role": "user", "content": {"x": MARKER}}]}))
    log = (data / "serve.log").read_text(encoding="utf-8", errors="replace")
    assert MARKER not in log and MARKER.lower() not in log
    journal = data / "journal.sqlite3"
    assert not journal.exists() or MARKER.encode() not in journal.read_bytes()


# --- local mode, and the eval over HTTP ---------------------------------------------------------
@pytest.fixture(scope="module")
def local(indexed_data_copy):
    data = indexed_data_copy("api-local")
    proc, url = start_app(data)
    yield url.rstrip("/"), data
    stop_app(proc)


@pytest.mark.integration
def test_local_mode_needs_no_key_on_loopback(local):
    url, _ = local
    completion = oa(url, "not-needed").chat.completions.create(model="byledelse-qa", messages=[{"role": "user", "content": QUESTION}])
    assert "Horten" in completion.choices[0].message.content and ext(completion)["citations"]
    assert httpx.get(url + "/v1/health").json()["auth"] == "local"


@pytest.mark.integration
def test_eval_over_http_matches_the_eval_in_process(local, bundled_settings, bundled_runtime, tmp_path, capsys, monkeypatch):
    """The same cases through the running server and through the engine in this process: the same
    numbers (latency aside), the same corpus."""
    from assistant.cli import main
    from evals.cli import add_arguments, run_eval_command

    url, _ = local
    common = ["--split", "test", "--type", "fact", "--type", "out_of_scope", "--type", "injection", "--limit", "9", "--no-html", "--json"]
    parser = add_arguments(__import__("argparse").ArgumentParser())
    assert run_eval_command(parser.parse_args([*common, "--out", str(tmp_path / "in")]), bundled_settings, runtime=bundled_runtime) in (0, 1)
    here = json.loads(capsys.readouterr().out)
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(tmp_path / "evaluator"))  # an evaluator's machine: no index of its own
    assert main(["eval", *common, "--out", str(tmp_path / "http"), "--endpoint", url]) in (0, 1)
    there = json.loads(capsys.readouterr().out)
    assert there["cases"] == here["cases"] >= 6 and not there["errors"] and not here["errors"]
    assert there["corpus"] == here["corpus"]
    assert there["backend"] == here["backend"] == "extractive"

    def numbers(run: dict) -> dict:
        return {group: {m: v for m, v in agg["metrics"].items() if not m.startswith("latency")}
                for group, agg in run["by_type"].items()}

    assert numbers(there) == numbers(here)
    assert numbers(here)["fact"]["hit_at_5"] is not None
    written = json.loads((tmp_path / "http" / "report.json").read_text(encoding="utf-8"))
    assert written["filters"]["endpoint"] == url + "/v1"


def test_the_services_own_role_check_answers_in_the_apis_shape(signed, monkeypatch):
    """Behind the API's role check, the service refuses a participant's upload too: should the two
    ever disagree, that refusal is a 403 in OpenAI's shape, not a server error."""
    from assistant.app.api_keys import KeyOwner
    from assistant.app.chat import ChatService, Forbidden

    client, _, _ = signed

    def refuse(self, role, files, kind="programme", provenance="programme"):
        raise Forbidden("Bare fasilitatorer kan laste opp dokumenter.")

    monkeypatch.setattr(ApiKeys, "owner", lambda self, key: KeyOwner("kari", "facilitator", "x"))
    monkeypatch.setattr(ChatService, "upload", refuse)
    r = client.post("/ingest", headers={"Authorization": "Bearer k"}, files={"files": ("a.md", b"# A\nTekst.\n", "text/markdown")})
    assert r.status_code == 403 and error_of(r)["code"] == "forbidden" and r.json()["error"]["message"].startswith("Your role")
