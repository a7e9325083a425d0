"""Chat handlers as plain functions, independent of Gradio.

`ChatService` owns the conversation flow for participants (guided reflection
and questions), facilitators (questions, gathering preparation, uploads) and
the private journal. The UI only calls these methods and renders what they
return, so everything here is tested without a browser.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout
from pydantic import BaseModel

from assistant.core.answer import AnswerEngine
from assistant.app.database import DatabaseUnavailable
from assistant.app.journal import Conversation, Journal
from assistant.core.errors import AccessError, ServiceError
from assistant.core.concern import mirror_phrase
from assistant.core.i18n import LANGUAGES, tr
from assistant.core.llm import ChatMessage
from assistant.core.records import REFLECTION_STAGES, Answer, Citation
from assistant.core.render import citation
from assistant.app.reflection import Move, ReflectionState, Summary, build_summary, render_summary
from assistant.core.runtime import Runtime
from assistant.core.safety import InputRejected, clean_user_text, safe_markdown
from assistant.core.settings import ComponentConfig
from assistant.core.provenance import DEFAULT_PROVENANCE, is_provenance
from ingest.loaders import UPLOAD_PREFIX, sidecar_path, write_sidecar

UPLOAD_SUFFIXES = (".pdf", ".md", ".txt", ".docx", ".pptx")
UPLOAD_KINDS = ("programme", "leadership", "question")
_SAFE_NAME = re.compile(r"[^a-zA-Z0-9._-]+")
# A conversation still under its default title ("Ny samtale 12.03.2026 10:15") in any language is
# named after its first message.
_DEFAULT_TITLES = tuple(f"{tr(lang, key)} " for lang in LANGUAGES for key in ("chat.title_new", "chat.title_reflect"))


class Forbidden(AccessError, PermissionError):
    """The user's role does not allow this."""

    default_message = "Rollen din gir ikke tilgang til dette."


class UploadBusy(ServiceError, RuntimeError):
    """Another upload into the same folder (on this or another replica) did not finish in time."""


class ChatTurn(BaseModel):
    """What the UI shows after (part of) a turn. `citations` are this turn's sources: the sources
    panel shows them, and only them. `kind` is the stored message's kind (`journal.MESSAGE_KINDS`),
    or "notice" for a word that is shown and not stored."""

    conversation_id: str
    text: str
    done: bool = False
    answer: Answer | None = None
    stage: str | None = None
    error: str | None = None
    kind: str = "answer"
    citations: list[Citation] = []
    mirror: str = ""  # the participant's words quoted back in this turn (reflection), as data


class ChatConfig(ComponentConfig):
    """The limits the service applies itself: message length, upload size, retention."""

    max_message_chars: int
    max_upload_mb: float
    retention_days: int | None
    uploads_dir: Path


class ChatService:
    """The flow of conversations, data rights and uploads. Reads its own limits from `config`;
    the data-rights functions and the upload's `sync_corpus` take the whole settings, and get
    the runtime's (one settings object, so the service and the index cannot disagree)."""

    def __init__(self, config: ChatConfig, runtime: Runtime, engine: AnswerEngine, journal: Journal) -> None:
        self.config = config
        self.runtime = runtime
        self.engine = engine
        self.journal = journal

    # -- conversations ---------------------------------------------------------------
    def start(self, user: str, mode: str, lang: str = "nb", title: str | None = None) -> ChatTurn:
        """A new conversation. A reflection opens with the first stage's question. Nothing is
        stored until the participant writes (`Journal.create` makes a draft)."""
        self.apply_retention()
        if mode != "reflect":
            cid = self.journal.create(user, mode=mode, title=title or _default_title(mode, lang))
            return ChatTurn(conversation_id=cid, text="", done=True, kind="notice")
        first = REFLECTION_STAGES[0]
        cid = self.journal.create(user, mode="reflect", title=title or _default_title(mode, lang), stage=first)
        text, citations, questions = self._stage_question(first, lang, context="", asked=())
        text = f"{tr(lang, 'chat.opening')}\n\n{text}"
        self.journal.add_message(user, cid, "assistant", text, citations, stage=first, questions=questions, kind="question")
        self.journal.update(user, cid, open_question=questions[-1] if questions else None)
        return ChatTurn(conversation_id=cid, text=text, done=True, stage=first, kind="question", citations=citations)

    def send(
        self,
        user: str,
        conversation_id: str,
        message: str,
        *,
        lang: str = "nb",
        kinds: tuple[str, ...] = (),
        move: Move = "advance",
    ) -> Iterator[ChatTurn]:
        """One turn: stream partial text, then the final turn with the answer record. The answer
        to the last stage's question closes the reflection: a closing turn and its one summary.
        After that, a message continues the conversation and never makes another summary.

        A journal database that does not answer ends the turn with its message, as a notice in
        the chat (the participant's text stays in the box to send again); the next turn tries
        the database again."""
        try:
            message = clean_user_text(message, self.config.max_message_chars, lang)
        except InputRejected as exc:
            yield ChatTurn(conversation_id=conversation_id, text=str(exc), done=True, error=str(exc), kind="notice")
            return
        try:
            yield from self._send(user, conversation_id, message, lang=lang, kinds=kinds, move=move)
        except DatabaseUnavailable as exc:
            yield ChatTurn(conversation_id=conversation_id, text=exc.user_message, done=True, error=exc.user_message,
                           kind="notice")

    def _send(self, user: str, conversation_id: str, message: str, *, lang: str, kinds: tuple[str, ...],
              move: Move) -> Iterator[ChatTurn]:
        conv = self.journal.get(user, conversation_id)
        history = [ChatMessage(m.role, m.content) for m in conv.messages if m.role in ("user", "assistant")][-8:]
        self.journal.add_message(user, conversation_id, "user", message, stage=conv.stage)
        if conv.title.startswith(_DEFAULT_TITLES) and not conv.has_participant_text:
            self.journal.update(user, conversation_id, title=_title_from(message))
        if conv.mode == "reflect" and _closes(conv, move):
            yield from self._close(user, conv, message, lang)
            return
        if conv.mode == "reflect":
            state = self._state(conv).moved(move)
            stream = self.engine.stream(
                message, mode="reflect", history=history, stage=state.stage, language=lang, asked=state.asked, kinds=kinds,
                shown=[i.text for m in conv.messages if m.role == "assistant" for i in m.insights],
            )
        else:
            state = None
            stream = self.engine.stream(message, mode="qa", history=history, language=lang, kinds=kinds)
        shown = ""
        for piece in stream:
            shown += piece
            # What the browser renders while the answer grows must already load no image and offer
            # no link (source URLs show when it is done).
            yield ChatTurn(conversation_id=conversation_id, text=safe_markdown(shown))
        answer = stream.answer
        if answer.error:
            yield ChatTurn(conversation_id=conversation_id, text=answer.error, done=True, answer=answer, error=answer.error)
            return
        stage = state.stage if state else None
        self.journal.add_message(user, conversation_id, "assistant", answer.text, list(answer.citations), stage=stage,
                                 questions=answer.reflection_questions, insights=answer.insights, kind="answer")
        if state is not None:
            asked = answer.reflection_questions
            self.journal.update(user, conversation_id, stage=state.stage, open_question=asked[-1] if asked else None)
        yield ChatTurn(conversation_id=conversation_id, text=answer.text, done=True, answer=answer, stage=stage,
                       citations=list(answer.citations), mirror=answer.mirror)

    def jump(self, user: str, conversation_id: str, move: Move, lang: str = "nb") -> ChatTurn:
        """Stay, skip ahead or go back without answering: the new question *replaces* an open
        question asked on its own, so one question is open at a time. Staying asks a different
        question of the same stage and says so; when there is none, it says that instead."""
        conv = self.journal.get(user, conversation_id)
        if conv.mode != "reflect":
            return ChatTurn(conversation_id=conversation_id, text="", done=True, kind="notice")
        if conv.finished:
            return ChatTurn(conversation_id=conversation_id, text=tr(lang, "chat.finished"), done=True,
                            stage=conv.stage, kind="notice")
        state = self._state(conv).moved(move)
        context = " ".join(m.content for m in conv.messages if m.role == "user")[-600:]
        text, citations, questions = self._stage_question(state.stage, lang, context=context, asked=state.asked)
        if not questions and move != "stay":  # back to a stage whose questions were all asked: ask one again
            open_now = [conv.open_question] if conv.open_question else []
            text, citations, questions = self._stage_question(state.stage, lang, context=context, asked=open_now)
        if not questions and move == "stay":
            return ChatTurn(conversation_id=conversation_id, text=tr(lang, "chat.no_other_question"), done=True,
                            stage=conv.stage, kind="notice")
        if move == "stay":
            text = f"{tr(lang, 'chat.stay_other')}\n\n{text}"
        last = conv.messages[-1] if conv.messages else None
        if last is not None and last.kind == "question":
            if len(conv.messages) == 1:
                text = f"{tr(lang, 'chat.opening')}\n\n{text}"  # the welcome stays with the first question
            # The replaced questions stay in its record: they were asked, and are not asked again.
            self.journal.replace_last(user, conversation_id, text, citations, stage=state.stage,
                                      questions=[*last.questions, *questions])
        else:
            self.journal.add_message(user, conversation_id, "assistant", text, citations, stage=state.stage,
                                     questions=questions, kind="question")
        self.journal.update(user, conversation_id, stage=state.stage, open_question=questions[-1] if questions else None)
        return ChatTurn(conversation_id=conversation_id, text=text, done=True, stage=state.stage, kind="question",
                        citations=citations)

    def finish(self, user: str, conversation_id: str, lang: str = "nb") -> ChatTurn:
        """Write the summary into the journal and show it. Finishing again shows the same summary
        (in the interface's language) and stores nothing."""
        conv = self.journal.get(user, conversation_id)
        if conv.finished and conv.summary_data is not None:
            text = safe_markdown(render_summary(Summary.model_validate(conv.summary_data), lang))
            return ChatTurn(conversation_id=conversation_id, text=text, done=True, stage=conv.stage, kind="summary")
        if not conv.has_participant_text:
            return ChatTurn(conversation_id=conversation_id, text=tr(lang, "chat.nothing_yet"), done=True,
                            stage=conv.stage, kind="notice")
        return self._summarise(user, conv, lang)

    def _close(self, user: str, conv: Conversation, message: str, lang: str) -> Iterator[ChatTurn]:
        """The reflection's end: a closing turn that mirrors the participant's last words (their next
        step, as a rule) and asks nothing more, then its summary."""
        mirrored = mirror_phrase(message)
        text = safe_markdown(f"{tr(lang, 'answer.mirror', phrase=mirrored)}\n\n{tr(lang, 'chat.closing')}")
        self.journal.add_message(user, conv.id, "assistant", text, stage=conv.stage, kind="closing")
        yield ChatTurn(conversation_id=conv.id, text=text, done=True, stage=conv.stage, kind="closing", mirror=mirrored)
        yield self._summarise(user, self.journal.get(user, conv.id), lang)

    def _summarise(self, user: str, conv: Conversation, lang: str) -> ChatTurn:
        summary = build_summary(conv)
        text = safe_markdown(render_summary(summary, lang))
        self.journal.add_message(user, conv.id, "assistant", text, stage=conv.stage, kind="summary")
        self.journal.update(user, conv.id, summary=text, summary_data=summary.model_dump(), finished=True, open_question=None)
        return ChatTurn(conversation_id=conv.id, text=text, done=True, stage=conv.stage, kind="summary")

    def _state(self, conv: Conversation) -> ReflectionState:
        stage = conv.stage or REFLECTION_STAGES[0]
        asked = [q for m in conv.messages if m.role == "assistant" for q in m.questions]
        return ReflectionState(stage_index=REFLECTION_STAGES.index(stage), asked=asked)

    def _stage_question(self, stage: str, lang: str, *, context: str, asked) -> tuple[str, list[Citation], list[str]]:
        """The stage's next question as shown, its source, and the question itself (stored as data)."""
        seed = context or tr("nb", f"stage.{stage}")
        picked = self.engine.reflection_questions(seed, stage=stage, n=1, asked=asked, language=lang)
        label = tr(lang, f"stage.{stage}")
        if not picked:
            return f"**{label}**", [], []
        question, chunk = picked[0]
        src = tr(lang, "chat.source")
        # The question, title and file name come from a document: shown as text only.
        text = safe_markdown(f"**{label}** {question} [1]\n\n{src}: [1] {chunk.meta.title} ({chunk.meta.source})")
        return text, [citation(1, chunk, lang)], [question]

    # -- journal -------------------------------------------------------------------------
    def conversations(self, user: str) -> list[Conversation]:
        return self.journal.list(user)

    def conversation(self, user: str, conversation_id: str) -> Conversation:
        return self.journal.get(user, conversation_id)

    def rename(self, user: str, conversation_id: str, title: str) -> None:
        self.journal.update(user, conversation_id, title=clean_user_text(title, 120))

    def delete(self, user: str, conversation_id: str) -> None:
        self.journal.delete(user, conversation_id)

    def export(self, user: str, conversation_id: str, lang: str = "nb") -> str:
        return self.journal.export_markdown(user, conversation_id, lang)

    # -- data rights -------------------------------------------------------------------------
    def my_data(self, user: str, role: str) -> dict:
        from assistant.app.privacy import inventory

        return inventory(self.runtime.settings, self.journal, user, role)

    def export_everything(self, user: str, role: str, lang: str = "nb") -> Path:
        from assistant.app.privacy import export_archive, user_folder

        folder = user_folder(self.runtime.settings, user)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"mine-data-{time.strftime('%Y%m%d-%H%M%S')}.zip"
        path.write_bytes(export_archive(self.runtime.settings, self.journal, user, role, lang))
        return path

    def erase_everything(self, user: str) -> dict:
        from assistant.app.privacy import erase_everything

        return erase_everything(self.runtime.settings, self.journal, user)

    def apply_retention(self) -> int:
        if self.config.retention_days is None:
            return 0
        return self.journal.purge_older_than(self.config.retention_days)

    # -- facilitators ----------------------------------------------------------------------
    def prepare_gathering(self, role: str, theme: str, *, gathering: int | None = None, lang: str = "nb") -> str:
        """The facilitator's plan for a gathering (`assistant.app.facilitator`); the role is checked here."""
        from assistant.app.facilitator import GatheringPlanner

        if role != "facilitator":
            raise Forbidden("Bare fasilitatorer kan forberede samlinger.")
        planner = GatheringPlanner(self.runtime.retriever, self.engine)
        return planner.prepare(clean_user_text(theme, 300), gathering=gathering, lang=lang)

    def upload(self, role: str, files: list[Path], kind: str = "programme", provenance: str = DEFAULT_PROVENANCE):
        """Copy documents into the upload area and index them. Returns the ingest report.

        `provenance` is the facilitator's word on where the files' content comes from (the
        programme's own material by default). It is kept beside each file (`<name>.provenance`,
        `ingest.loaders.write_sidecar`), so every later ingest reads it too; a Markdown file whose
        front matter declares its own provenance keeps that."""
        from ingest.pipeline import sync_corpus

        if role != "facilitator":
            raise Forbidden("Bare fasilitatorer kan laste opp dokumenter.")
        if kind not in UPLOAD_KINDS:
            raise InputRejected(f"Ukjent dokumenttype {kind!r}.")
        if not is_provenance(provenance):
            raise InputRejected(f"Ukjent opphav {provenance!r}.")
        target = self.config.uploads_dir / kind
        target.mkdir(parents=True, exist_ok=True)
        limit = self.config.max_upload_mb * 1024 * 1024
        problems: list[str] = []
        # Several replicas may share the upload folder: one upload (copy and sync) at a time across
        # all of them, so no sync reads a file another is still writing, or removes what it keeps.
        with upload_lock(self.config.uploads_dir):
            copied: dict[str, Path] = {}  # "kind/name" -> where this upload put it
            for path in files:
                path = Path(path)
                name = safe_filename(path.name)
                if not name.lower().endswith(UPLOAD_SUFFIXES):
                    problems.append(f"{path.name}: filtypen støttes ikke (bruk PDF, Markdown, tekst, Word (.docx) eller PowerPoint (.pptx))")
                    continue
                if path.stat().st_size > limit:
                    problems.append(f"{path.name}: større enn {self.config.max_upload_mb:g} MB")
                    continue
                dest = (target / name).resolve()
                if dest.parent != target.resolve():
                    problems.append(f"{path.name}: ugyldig filnavn")
                    continue
                # The provenance first, then the file under a hidden name (ingest skips those) and
                # renamed into place: a reader sees the whole file with its provenance, or none.
                write_sidecar(dest, provenance)
                partial = dest.with_name(f".{dest.name}.partial")
                shutil.copyfile(path, partial)
                partial.replace(dest)
                copied[f"{kind}/{name}"] = dest
            report = sync_corpus(
                self.runtime.settings,
                self.runtime.embedder,
                self.runtime.store,
                corpus_dir=self.config.uploads_dir,
                source_prefix=UPLOAD_PREFIX,
            )
            self.runtime.retriever.invalidate()
            # A file that could not be read is not kept: it would be tried, and reported, on every
            # later upload. The index was left as it was (sync_corpus), and the report says why.
            for issue in report.failed:
                for key, dest in copied.items():
                    if issue.source.endswith(key) and dest.exists():
                        dest.unlink()
                        sidecar_path(dest).unlink(missing_ok=True)
                        problems.append(f"{dest.name}: ikke lagret, fordi den ikke kunne leses")
        return report, problems


@contextmanager
def upload_lock(uploads_dir: Path, timeout_s: float = 600.0):
    """One upload at a time per upload folder, across processes (a lock file in the folder)."""
    uploads_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(uploads_dir / ".upload.lock"))
    try:
        lock.acquire(timeout=timeout_s)
    except Timeout:
        raise UploadBusy(f"En annen opplasting har holdt på i over {timeout_s:.0f} s. Prøv igjen om litt.") from None
    try:
        yield
    finally:
        lock.release()


def safe_filename(name: str) -> str:
    """Base name only, safe characters, no leading dots: path traversal cannot survive this."""
    base = Path(name.replace("\\", "/")).name
    base = _SAFE_NAME.sub("-", base).lstrip(".-") or "dokument"
    return base[:120]


def _default_title(mode: str, lang: str) -> str:
    from datetime import datetime

    stamp = datetime.now().strftime("%d.%m.%Y %H:%M")
    if mode == "reflect":
        return f"{tr(lang, 'chat.title_reflect')} {stamp}"
    return f"{tr(lang, 'chat.title_new')} {stamp}"


def _title_from(message: str) -> str:
    words = message.split()
    return " ".join(words[:8]) + ("…" if len(words) > 8 else "")


def _closes(conv: Conversation, move: Move) -> bool:
    """True when the message answers a question of the last stage in an unfinished reflection
    ("stay" keeps talking on that stage instead)."""
    last = conv.last_turn
    return (not conv.finished and move == "advance" and last is not None and last.kind in ("question", "answer")
            and last.stage == REFLECTION_STAGES[-1])
