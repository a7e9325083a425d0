"""The answer engine: retrieved passages -> a grounded, cited answer.

One entry point for the CLI, the chat app and the evals:
`AnswerEngine.stream(question, ...)` returns an `AnswerStream`: iterate it for the text, then
read its `answer` (the `Answer` record); `AnswerEngine.answer(...)` returns just the record.

The engine wires its jobs, each in its own module: the search query for a follow-up
(`query.QueryRewriter`), sentence scores and the support signals (`scoring.SentenceScorer`),
what leads and what the material does not say (`policy.AnswerPolicy`) and the reflection
questions (`question_bank.QuestionBank`); one composer per kind of answer (`compose`: extractive,
reflective, generated), chosen by `Composition`, turns what they found into the answer.

Grounding rules, for every backend:
- If the material does not support an answer, say so in the user's language, name the
  nearest topics, and call no model.
- The default backend is extractive: it composes the answer from the
  best-supported sentences of the retrieved chunks, each followed by [n].
- A model's answer is checked afterwards (assistant/core/verify.py): only sentences the cited
  sources support are shown; citations of sources that were not given are removed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Self

from assistant.core.compose import (
    Composer,
    Composition,
    ExtractiveComposer,
    GenerativeComposer,
    GenerativeConfig,
    ReflectiveComposer,
    Turn,
    timings,
)
from assistant.core.concern import concern, places
from assistant.core.embeddings import Embedder
from assistant.core.i18n import LANGUAGES
from assistant.core.llm import ChatMessage, ChatModel
from assistant.core.policy import AnswerPolicy, PolicyConfig
from assistant.core.query import QueryRewriter, history_language
from assistant.core.question_bank import QuestionBank
from assistant.core.records import Answer, Chunk, Hit
from assistant.core.render import render_text
from assistant.core.retrieval import Retriever, per_document
from assistant.core.scoring import RefusalConfig, SentenceScorer
from assistant.core.settings import ComponentConfig, Settings
from assistant.core.text import guess_language


class AnswerStream:
    """What `AnswerEngine.stream` returns, for every backend alike: iterate it for the text pieces,
    then read `answer` for the record (reading it first runs the rest without showing it)."""

    def __init__(self, items: Iterator[str | Answer]) -> None:
        self._items = items
        self._answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        for item in self._items:
            if isinstance(item, Answer):
                self._answer = item
            else:
                yield item

    @property
    def answer(self) -> Answer:
        if self._answer is None:
            for _ in self:
                pass
        assert self._answer is not None, "the engine ended without an answer"
        return self._answer


class AnswerConfig(ComponentConfig):
    """What the engine and the parts it wires read: its own two values and one config per part."""

    answer_chunks: int
    answer_max_sentences: int
    reflection_chunks_per_document: int
    prompts_dir: Path
    policy: PolicyConfig
    refusal: RefusalConfig
    generative: GenerativeConfig

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(
            answer_chunks=settings.answer_chunks,
            answer_max_sentences=settings.answer_max_sentences,
            reflection_chunks_per_document=settings.reflection_chunks_per_document,
            prompts_dir=settings.prompts_dir,
            policy=PolicyConfig.from_settings(settings),
            refusal=RefusalConfig.from_settings(settings),
            generative=GenerativeConfig.from_settings(settings),
        )


class AnswerEngine:
    def __init__(
        self,
        config: AnswerConfig,
        retriever: Retriever,
        embedder: Embedder,
        chat_model: ChatModel | None = None,
    ) -> None:
        self.config = config
        self.retriever = retriever
        self.embedder = embedder
        self.chat_model = chat_model
        # The engine's jobs, each its own part: the search query, sentence scores, what leads and
        # what is missing, and the question bank.
        self.rewriter = QueryRewriter(chat_model, prompts_dir=config.prompts_dir)
        self.scorer = SentenceScorer(retriever, embedder)
        self.policy = AnswerPolicy(config.policy, retriever)
        self.questions = QuestionBank(retriever, self.scorer)
        extractive = ExtractiveComposer(self.scorer, max_sentences=config.answer_max_sentences)
        generative = (GenerativeComposer(config.generative, retriever, self.scorer, chat_model, fallback=extractive)
                      if chat_model else None)
        self.composers: dict[Composition, Composer] = {
            Composition.EXTRACTIVE: extractive,
            Composition.REFLECTIVE: ReflectiveComposer(self.scorer, self.questions, generative),
        }
        if generative is not None:
            self.composers[Composition.GENERATIVE] = generative

    def reflection_questions(self, text: str, **kwargs) -> list[tuple[str, Chunk]]:
        """The question bank's questions that fit `text` (`QuestionBank.questions`)."""
        return self.questions.questions(text, **kwargs)

    # -- public -------------------------------------------------------------------
    def answer(self, question: str, **kwargs) -> Answer:
        return self.stream(question, **kwargs).answer

    def _varied(self, query: str, kinds: tuple[str, ...]) -> list[Hit]:
        """A reflection's chunks, at most `reflection_chunks_per_document` from one document (taken
        from a list four times as long, in its order): insights then come from more than one text.
        An English message otherwise drew all five from the English overview, whose sentences on
        who took part are no insight into the participant's town."""
        n = self.config.answer_chunks
        found = self.retriever.search(query, k=n * 4, kinds=kinds)
        return list(islice(per_document(found, self.config.reflection_chunks_per_document), n))

    def stream(self, question: str, **kwargs) -> "AnswerStream":
        """The answer as it is composed: iterate the response for the text (pieces that add up to
        what is shown), then read its `answer`. Parameters: see `_compose`."""
        return AnswerStream(self._compose(question, **kwargs))

    def _compose(
        self,
        question: str,
        *,
        mode: str = "qa",
        history: Sequence[ChatMessage] = (),
        kinds: tuple[str, ...] = (),
        stage: str | None = None,
        language: str | None = None,
        asked: Sequence[str] = (),
        shown: Sequence[str] = (),
    ) -> Iterator[str | Answer]:
        """One answer. `asked`: the reflection questions asked before in the conversation;
        `shown`: the insights shown before in it, which the reflection does not show again."""
        started = time.perf_counter()
        lang = language or guess_language(question, default=history_language(history))
        lang = lang if lang in LANGUAGES else "nb"
        # The interface's language frames the answer; the message's own language decides how its
        # words are read (an English message in the bokmål interface is compared as English: its
        # words are not "unknown to the corpus", and an English source may lead).
        written = guess_language(question, default=lang)
        read_as = written if (written == "en") != (lang == "en") else lang
        query = self.rewriter.rewrite(question, history, lang)
        t0 = time.perf_counter()
        insight_kinds = kinds or (("programme", "leadership") if mode == "reflect" else ())
        if mode == "reflect":
            hits = self._varied(query, insight_kinds)
        else:
            hits = self.retriever.search(query, k=self.config.answer_chunks, kinds=insight_kinds)
        # A reflection's sentences are matched against its concern, not the introduction around it.
        if mode == "reflect":  # and its setting (the places it names) is no topic of its own
            candidates, support = self.scorer.candidates(concern(query), hits, read_as, setting=places(query))
        else:
            candidates, support = self.scorer.candidates(query, hits, read_as)
        retrieval_ms = (time.perf_counter() - t0) * 1000
        answerable = bool(hits) and support.answerable(self.config.refusal)

        turn = Turn(question=question, mode=mode, lang=lang, hits=hits if answerable else [], units=candidates,
                    started=started, retrieval_ms=retrieval_ms, stage=stage, asked=asked, shown=shown)
        if mode == "reflect":
            yield from self.composers[Composition.REFLECTIVE].compose(turn)
            return
        if not answerable:
            text = render_text([self.policy.refusal_text(query, lang)], (), lang)
            yield text
            yield Answer(
                question=question, mode=mode, language=lang, text=text, refused=True, backend="none",
                timings=timings(started, retrieval_ms), retrieved=tuple(h.chunk.id for h in hits),
            )
            return
        turn.span, turn.gap = self.policy.gap_for(question, query, read_as, hits, candidates)
        # Also with a model: what the material does not cover is said without calling it.
        composition = Composition.GENERATIVE if self.chat_model is not None and turn.gap is None else Composition.EXTRACTIVE
        yield from self.composers[composition].compose(turn)

