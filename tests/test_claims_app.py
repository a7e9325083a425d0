"""README claims about the chat app, checked through the handlers and through the running app
(tests/appclient.py: the page's own queue calls, one session per client, as a browser tab):

- *Avslutt og oppsummer*: the summary with the material's insights, the participant's own
  commitments and suggested reading is written into the journal.
- "At most `ASSISTANT_CONCURRENCY` answers are computed at once".
- Participants cannot use the facilitator features, even by calling their endpoints.
- No one can open, rename, export or delete another user's conversation by sending its id.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from pathlib import Path

import httpx
import pytest

from assistant.core.answer import AnswerConfig, AnswerEngine
from assistant.app.chat import ChatConfig, ChatService
from assistant.core.i18n import tr
from assistant.app.journal import Journal
from assistant.app.privacy import user_folder
from assistant.core.runtime import Runtime
from assistant.core.store import ChromaStore, StoreConfig
from assistant.web.shell import ShellConfig
from ingest.pipeline import sync_corpus

from .appclient import AppClient
from .conftest import free_port, start_signed_in_app, stop_app
from .test_chat import final, service  # noqa: F401 - `service`: ChatService over the small corpus, fake embedder

MARKER = "KARIS-PRIVATE-TANKE-5e1d"


# --- helpers: the app in this process, and clients ----------------------------------------


@contextlib.contextmanager
def launched(settings, chat_service, users=None):
    """`build_app` in the app shell on a free loopback port, as `serve` runs it; yields the URL."""
    from assistant.web.ui import build_app, run_server
    from assistant.web.shell import create_app

    port = free_port()
    settings = settings.model_copy(update={"host": "127.0.0.1", "port": port})
    app = create_app(ShellConfig.from_settings(settings), build_app(settings, chat_service, users), users)
    server = run_server(app, settings, prevent_thread_lock=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.close()


def client(url: str, user: str | None = None, password: str | None = None):
    return AppClient(url, user, password)


def last_text(chat: list[dict]) -> str:
    content = chat[-1]["content"]
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


# --- 3. Avslutt og oppsummer ---------------------------------------------------------------


def _summary_sections(summary: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current = None
    for line in summary.splitlines():
        if line.startswith("### "):
            current = line[4:].strip()
            sections[current] = []
        elif current and line.strip():
            sections[current].append(line.strip())
    return sections


def test_finish_and_summarise_writes_insights_commitments_and_reading_into_the_journal(service):  # noqa: F811
    cid = service.start("kari", "reflect").conversation_id
    final(service.send("kari", cid, f"Byen min vokser raskt og jeg leder planavdelingen. {MARKER}"))
    final(service.send("kari", cid, "Jeg skal invitere næringslivet til et møte om sentrum. Vi ønsker en levende by."))
    before = service.conversation("kari", cid)
    assert before.summary is None and before.stage == "how_to_get_there"  # finishing early, mid-way

    turn = service.finish("kari", cid)  # the "Avslutt og oppsummer" button

    conv = service.conversation("kari", cid)
    assert conv.summary == turn.text and conv.messages[-1].role == "assistant" and conv.messages[-1].content == turn.text
    t = {part: tr("nb", f"summary.{part}") for part in ("title", "situation", "insights", "commitments", "reading")}
    assert turn.text.startswith(f"## {t['title']}")
    sections = _summary_sections(turn.text)
    assert list(sections) == [t["situation"], t["commitments"], t["insights"], t["reading"]]
    assert sections[t["situation"]] == ["- Byen min vokser raskt og jeg leder planavdelingen."]

    # Insights: sentences the assistant cited from the material (not from question documents),
    # each with its document's title, each once.
    cited_material = {}
    for m in before.messages:
        if m.role == "assistant":
            for c in m.citations:
                if c.kind != "question":
                    cited_material[c.title] = c.source
    assert cited_material
    insights = sections[t["insights"]]
    assert insights and len(insights) == len(set(insights)), insights
    for line in insights:
        sentence, title = re.fullmatch(r"- (.+) \((.+)\)", line).groups()
        assert title in cited_material
        assert any(sentence in m.content for m in before.messages if m.role == "assistant")

    # Commitments: the participant's own "Jeg skal ..." and nothing else they wrote.
    assert sections[t["commitments"]] == ["- Jeg skal invitere næringslivet til et møte om sentrum."]

    # Suggested reading: the material cited, never the question documents.
    reading = sections[t["reading"]]
    assert reading and all(line.startswith("- ") for line in reading)
    assert {re.fullmatch(r"- (.+) \((.+)\)", line).groups() for line in reading} <= set(cited_material.items())

    exported = service.export("kari", cid)
    assert f"## {tr('nb', 'export.summary')}" in exported and MARKER in exported
    # the message, the closing turn's mirror of it, and once in the summary
    assert exported.count("Jeg skal invitere næringslivet") == 3
    assert exported.count(f"### {t['commitments']}") == 1

    # Finishing again shows the same summary (here in English) and stores nothing new.
    english = service.finish("kari", cid, "en")
    assert english.text.startswith("## Summary of your reflection") and "### Suggested reading" in english.text
    assert "- Jeg skal invitere næringslivet til et møte om sentrum." in english.text
    again = service.conversation("kari", cid)
    assert again.summary == turn.text and again.messages == conv.messages


@pytest.mark.integration  # a Gradio server on loopback
def test_the_summarise_button_of_the_app_writes_the_summary(service):  # noqa: F811
    """Through the app: start a reflection, answer, press *Avslutt og oppsummer*."""
    with launched(service.runtime.settings, service) as url:
        tab = client(url)  # local mode: one user, "lokal"
        tab.predict("reflect", api_name="/start_conversation")
        chat, *_ = tab.predict("Jeg skal invitere næringslivet til et møte om sentrum.", [], "reflect", [],
                               api_name="/send_advance")
        chat, *_ = tab.predict(chat, api_name="/on_finish")
    (conv,) = service.conversations("lokal")
    assert conv.summary
    assert last_text(chat) == conv.summary
    assert "Jeg skal invitere næringslivet til et møte om sentrum." in conv.summary
    assert service.conversation("lokal", conv.id).messages[-1].content == conv.summary


# --- 4. At most ASSISTANT_CONCURRENCY answers at once --------------------------------------


class SlowModel:
    """A model that takes `seconds` per answer and records how many answers ran at once."""

    name = "fake:slow"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.active = 0
        self.most = 0
        self.calls = 0
        self._lock = threading.Lock()

    def stream(self, messages):
        with self._lock:
            self.active += 1
            self.calls += 1
            self.most = max(self.most, self.active)
        try:
            for word in ("Horten ", "deltok ", "i ", "piloten. ", "[1]"):
                time.sleep(self.seconds / 5)
                yield word
        finally:
            with self._lock:
                self.active -= 1


@pytest.fixture
def slow_app(settings, small_corpus, fake_embedder):
    def make(concurrency: int, queue_size: int = 64, seconds: float = 1.5):
        s = settings.model_copy(update={"answer_min_similarity": 0.0, "answer_confident_similarity": 0.0,
                                        "concurrency": concurrency, "queue_size": queue_size})
        runtime = Runtime(settings=s, embedder=fake_embedder, store=ChromaStore(StoreConfig.from_settings(s)))
        sync_corpus(s, fake_embedder, runtime.store)
        model = SlowModel(seconds)
        engine = AnswerEngine(AnswerConfig.from_settings(s), runtime.retriever, fake_embedder, model)
        chat_service = ChatService(ChatConfig.from_settings(s), runtime, engine, Journal(s.journal_path))
        return s, chat_service, model

    return make


# The three ways to ask for an answer: the Send button, Enter in the message box, "stay on this stage".
ANSWER_ENDPOINTS = ("/send_advance", "/send_advance_1", "/stay_here")


@pytest.mark.integration  # a Gradio server on loopback
@pytest.mark.parametrize("limit", [1, 2])
def test_at_most_concurrency_answers_at_once(slow_app, limit):
    s, chat_service, model = slow_app(limit)
    requests = limit + 2
    with launched(s, chat_service) as url:
        tabs = [client(url) for _ in range(requests)]  # one session each, like separate browser tabs
        started = time.monotonic()
        jobs = [tab.submit("Hvilke kommuner deltok i piloten?", [], "qa", [], api_name=ANSWER_ENDPOINTS[i % 3])
                for i, tab in enumerate(tabs)]
        results = [job.result(timeout=120) for job in jobs]
        elapsed = time.monotonic() - started
    assert model.calls == requests
    assert all("Horten deltok i piloten" in last_text(chat) for chat, *_ in results)
    assert model.most == limit, f"{model.most} answers ran at once with ASSISTANT_CONCURRENCY={limit}"
    rounds = -(-requests // limit)
    assert elapsed >= rounds * model.seconds * 0.9  # they waited their turn


@pytest.mark.integration  # a Gradio server on loopback
def test_beyond_the_queue_gradio_says_busy(slow_app):
    """ASSISTANT_QUEUE_SIZE requests wait; more than that are turned away at once, not run."""
    s, chat_service, model = slow_app(1, queue_size=1, seconds=2.0)
    with launched(s, chat_service) as url:
        tabs = [client(url) for _ in range(4)]
        jobs = []
        for tab in tabs:
            jobs.append(tab.submit("Hvilke kommuner deltok i piloten?", [], "qa", [], api_name="/send_advance"))
            time.sleep(0.3)  # in order: one runs, one waits, the rest find the queue full
        outcomes = []
        for job in jobs:
            try:
                job.result(timeout=60)
                outcomes.append("answered")
            except Exception as exc:  # noqa: BLE001 - gradio_client's error for a full queue
                outcomes.append(f"refused: {exc}")
    assert outcomes[:2] == ["answered", "answered"]
    assert all(o.startswith("refused") for o in outcomes[2:]), outcomes
    assert "full" in outcomes[2].lower() or "busy" in outcomes[2].lower(), outcomes[2]
    assert model.calls == 2


# --- 8 and 9: the real app with sign-in ---------------------------------------------------------

USERS = {"kari": ("participant", "kari-passord"), "ola": ("participant", "ola-passord"),
         "fasi": ("facilitator", "fasi-passord")}


@pytest.fixture(scope="module")
def signed_in_app(indexed_data_copy):
    data = indexed_data_copy("claims-app")
    proc, url = start_signed_in_app(data, USERS)
    yield url, data
    stop_app(proc)
    assert MARKER not in (data / "serve.log").read_text(encoding="utf-8", errors="replace")


def as_user(url: str, name: str):
    return client(url, name, USERS[name][1])


def user_folder_for(data: Path, user: str) -> Path:
    from assistant.core.settings import Settings

    return user_folder(Settings(_env_file=None, data_dir=data), user)


@pytest.mark.integration
def test_participant_cannot_use_facilitator_endpoints(signed_in_app, tmp_path):
    url, data = signed_in_app
    doc = tmp_path / "notat.md"
    doc.write_text("# Notat\nSamlingen i Porsgrunn handlet om sirkulærøkonomi og kretsløp.\n", encoding="utf-8")
    from .appclient import handle_file

    kari = as_user(url, "kari")
    text, file = kari.predict("regenerativ ledelse", "", api_name="/on_prepare")
    assert text == tr("nb", "ui.forbidden") and file is None
    # A participant cannot even put a file in the upload folder (the shell refuses the upload route).
    with pytest.raises(httpx.HTTPStatusError) as refused:
        kari.predict([handle_file(str(doc))], "programme", api_name="/on_upload")
    assert refused.value.response.status_code == 403
    assert kari.predict([], "programme", api_name="/on_upload") == tr("nb", "ui.forbidden")  # and the handler checks the role
    assert not (data / "uploads").exists() or not any(p.is_file() for p in (data / "uploads").rglob("*"))
    assert not (user_folder_for(data, "kari")).exists()  # no gathering plan written for her

    # The same calls work for a facilitator: the refusal is the role, not the call.
    fasi = as_user(url, "fasi")
    plan, plan_file = fasi.predict("regenerativ ledelse", "", api_name="/on_prepare")
    assert plan.startswith("# Forberedelse av samling") and plan_file
    report = fasi.predict([handle_file(str(doc))], "programme", api_name="/on_upload")
    assert "1 nye" in report
    assert (data / "uploads" / "programme" / "notat.md").is_file()


def _attempts(tab, cid: str) -> dict[str, object]:
    """Every journal endpoint that takes a conversation id, called with `cid`."""
    out: dict[str, object] = {}
    for name, args in {
        "/on_open": (cid,), "/on_pick": (cid,), "/on_export": (cid,),
        "/on_rename": (cid, "kapret"), "/on_delete": (cid, True),
    }.items():
        try:
            out[name] = tab.predict(*args, api_name=name)
        except Exception as exc:  # noqa: BLE001 - Gradio refusing the value is a refusal too
            out[name] = exc
    return out


def _refused(result: object) -> bool:
    if isinstance(result, Exception):
        return True
    values = result if isinstance(result, tuple) else (result,)
    text = " ".join(str(v) for v in values)
    return tr("nb", "ui.not_found") in text and MARKER not in text


@pytest.mark.integration
def test_another_users_conversation_id_is_refused_through_the_app(signed_in_app):
    url, data = signed_in_app
    kari = as_user(url, "kari")
    kari.predict("reflect", api_name="/start_conversation")
    kari.predict(f"Byen min vokser raskt. {MARKER}", [], "reflect", [], api_name="/send_advance")
    choices = kari.predict(api_name="/on_refresh")[0]["choices"]
    assert len(choices) == 1
    title, cid = choices[0]

    ola = as_user(url, "ola")
    assert ola.predict(api_name="/on_refresh")[0]["choices"] == []
    attempts = _attempts(ola, cid)
    assert {name: _refused(r) for name, r in attempts.items()} == dict.fromkeys(attempts, True), attempts
    assert not user_folder_for(data, "ola").exists()  # nothing exported for ola

    # Kari's conversation is untouched: same title, her words still there.
    assert kari.predict(api_name="/on_refresh")[0]["choices"] == [[title, cid]]
    assert MARKER in kari.predict(cid, api_name="/on_pick")


@pytest.mark.integration  # a Gradio server on loopback
def test_handlers_refuse_another_users_id_even_past_gradios_choice_check(service, monkeypatch):  # noqa: F811
    """Gradio refuses a dropdown value that is not among the session's choices. Lift that check
    (as `allow_custom_value=True` would) and the handlers must still refuse: they ask the journal
    for the signed-in user's conversation only."""
    import gradio as gr

    from assistant.app.auth import UserStore, hash_password

    monkeypatch.setattr(gr.Dropdown, "preprocess", lambda self, payload: payload)
    cid = service.start("kari", "reflect").conversation_id
    final(service.send("kari", cid, f"Privat tanke {MARKER}"))
    before = service.conversation("kari", cid)
    users = UserStore({name: {"role": role, "password": hash_password(pw)} for name, (role, pw) in USERS.items()})
    with launched(service.runtime.settings, service, users) as url:
        ola = as_user(url, "ola")
        attempts = _attempts(ola, cid)
        kari = as_user(url, "kari")
        own = kari.predict(cid, api_name="/on_pick")  # the same call works for the owner
    assert not any(isinstance(r, Exception) for r in attempts.values()), attempts  # the handlers answered
    assert {name: _refused(r) for name, r in attempts.items()} == dict.fromkeys(attempts, True), attempts
    assert MARKER in own
    after = service.conversation("kari", cid)
    assert (after.title, [m.content for m in after.messages]) == (before.title, [m.content for m in before.messages])
    assert not user_folder(service.runtime.settings, "ola").exists()
