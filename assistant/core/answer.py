"""The answer engine: retrieved passages -> a grounded, cited answer.

One entry point for the CLI, the chat app and the evals:
`AnswerEngine.stream(question, ...)` yields text deltas and finally the
`Answer` record; `AnswerEngine.answer(...)` returns just the record.

Grounding rules, for every backend:
- If the material does not support an answer (see `_supported`), say so in the
  user's language, name the nearest topics, and call no model.
- The default backend is extractive: it composes the answer from the
  best-supported sentences of the retrieved chunks, each followed by [n].
- A model's answer is checked afterwards: citations of sources that were not
  given are removed and reported; output is made text-safe (no HTML, images or
  foreign links) and stripped of any system-prompt text.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from assistant.core.concern import concern, mirror_sentence
from assistant.core.embeddings import Embedder
from assistant.core.i18n import LANGUAGES, tr
from assistant.core.llm import ChatMessage, ChatModel, LLMError
from assistant.core.prompts import render, render_sources
from assistant.core.records import Answer, Chunk, Citation, Hit, Insight, Timings
from assistant.core.retrieval import Retriever
from assistant.core.safety import safe_markdown, urls_in
from assistant.core.settings import Settings
from assistant.core.selection import (
    CHECKED_KINDS,
    Gap,
    Unit,
    announced_count,
    chunk_heading,
    counted_word,
    kind_satisfied,
    missing_focus,
    office_word,
    question_kind,
    question_part,
    sentence_context,
    span_for,
    stands_alone,
    units_of,
)
from assistant.core.text import guess_language, split_sentences, stems
from assistant.core.verify import verify

_CITE = re.compile(r"\[(\d{1,3})\]")
# A follow-up refers back: it opens with a connective ("og", "hva med", "and", "what about") or
# uses a pronoun or determiner that points to something said before. Being short is not enough.
_FOLLOW_UP_OPENER = re.compile(r"^\W*(og|men|hva med|enn|and|but|what about|how about)\b", re.I)
_REFERS_BACK = re.compile(
    r"\b(den|det|de|dem|denne|dette|disse|deres|hun|han|hennes|hans|der|da|"
    r"it|its|they|them|their|this|that|these|those|she|he|her|his|there|then)\b",
    re.I,
)
_ASKS_FOR_QUESTIONS = re.compile(r"\b(spørsmål\w*|question\w*|drøft\w*|discuss\w*|spør\w*|ask\w*)\b", re.I)
# "Det"/"it" as a dummy subject ("Hva er det ...", "Hvem var det som ...") does not refer back.
_DUMMY = re.compile(r"\b(hva|hvem|hvor|hvordan|hvorfor|når|what|who|where|how|why|when)\s+(er|var|blir|is|was|are|were)\s+(det|it|there)\b", re.I)


@dataclass(frozen=True)
class Support:
    """How well the material supports an answer: the signals the refusal rule combines."""

    best_similarity: float  # best sentence vs the question (e5 cosine)
    unknown_share: float  # IDF-weighted share of the question's content words the corpus never uses
    language: str

    def answerable(self, settings: Settings) -> bool:
        if self.best_similarity < settings.answer_min_similarity:
            return False
        if self.language == "en":
            confident, max_unknown = settings.answer_confident_similarity_en, settings.answer_max_unknown_share_en
        else:
            confident, max_unknown = settings.answer_confident_similarity, settings.answer_max_unknown_share
        return not (self.unknown_share >= max_unknown and self.best_similarity < confident)


class AnswerEngine:
    def __init__(
        self,
        settings: Settings,
        retriever: Retriever,
        embedder: Embedder,
        chat_model: ChatModel | None = None,
    ) -> None:
        self.settings = settings
        self.retriever = retriever
        self.embedder = embedder
        self.chat_model = chat_model
        self._sentence_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()  # the chat app answers on several threads

    # -- public -------------------------------------------------------------------
    def answer(self, question: str, **kwargs) -> Answer:
        final = None
        for item in self.stream(question, **kwargs):
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final

    def stream(
        self,
        question: str,
        *,
        mode: str = "qa",
        history: Sequence[ChatMessage] = (),
        kinds: tuple[str, ...] = (),
        stage: str | None = None,
        language: str | None = None,
        asked: Sequence[str] = (),
    ) -> Iterator[str | Answer]:
        started = time.perf_counter()
        lang = language or guess_language(question, default=_history_language(history))
        lang = lang if lang in LANGUAGES else "nb"
        query = self._retrieval_query(question, history, lang)
        t0 = time.perf_counter()
        insight_kinds = kinds or (("programme", "leadership") if mode == "reflect" else ())
        hits = self.retriever.search(query, k=self.settings.answer_chunks, kinds=insight_kinds)
        # A reflection's sentences are matched against its concern, not the introduction around it.
        candidates, support = self._candidates(concern(query) if mode == "reflect" else query, hits, lang)
        retrieval_ms = (time.perf_counter() - t0) * 1000
        answerable = bool(hits) and support.answerable(self.settings)

        if mode == "reflect":
            yield from self._reflect(question, lang, hits if answerable else [], candidates, stage, asked, started, retrieval_ms, history)
            return
        if not answerable:
            text = self._refusal_text(query, lang)
            yield text
            yield Answer(
                question=question, mode=mode, language=lang, text=text, refused=True, backend="none",
                timings=_timings(started, retrieval_ms), retrieved=tuple(h.chunk.id for h in hits),
            )
            return
        span, gap = self._gap_for(question, query, lang, hits, candidates)
        if self.chat_model is None or gap is not None:
            # Also with a model: what the material does not cover is said without calling it.
            yield from self._extractive(question, mode, lang, hits, candidates, span, gap, started, retrieval_ms)
        else:
            fallback = lambda: self._extractive(question, mode, lang, hits, candidates, span, gap, started, retrieval_ms)  # noqa: E731
            yield from self._generate(question, mode, lang, hits, started, retrieval_ms, stage or "", "", fallback=fallback)

    def reflection_questions(
        self,
        text: str,
        *,
        stage: str | None = None,
        n: int = 2,
        asked: Sequence[str] = (),
        discussion: bool = False,
    ) -> list[tuple[str, Chunk]]:
        """Bullet questions from the question documents that fit `text`.

        With `stage`, only that reflection stage's questions; with `discussion`, only the
        discussion questions (question documents that belong to no reflection stage).
        """
        hits = self.retriever.search(text, k=12, kinds=("question",), apply_floor=False)
        if discussion:
            hits = [h for h in hits if not h.chunk.meta.stage]
        elif stage:
            staged = [h for h in hits if stage in h.chunk.meta.stage]
            if not staged:
                staged = [
                    Hit(chunk=c, score=0.0, rank=0)
                    for c in self.retriever.chunks.values()
                    if stage in c.meta.stage
                ]
            hits = staged
        seen = {a.strip().casefold() for a in asked}
        pool: list[tuple[str, Chunk]] = []
        for h in hits:
            for line in h.chunk.text.splitlines():
                q = line.strip().lstrip("-*+ ").strip()
                if q.endswith("?") and len(q.split()) >= 4 and q.casefold() not in seen:
                    pool.append((q, h.chunk))
        if not pool:
            return []
        sims = self._similarities(text, [q for q, _ in pool])
        query_stems = set(stems(text))
        scored = sorted(
            range(len(pool)),
            key=lambda i: -(sims[i] + 0.05 * len(query_stems & set(stems(pool[i][0])))),
        )
        out: list[tuple[str, Chunk]] = []
        for i in scored:
            if all(pool[i][0] != q for q, _ in out):
                out.append(pool[i])
            if len(out) >= n:
                break
        return out

    # -- retrieval query ------------------------------------------------------------
    def _retrieval_query(self, question: str, history: Sequence[ChatMessage], lang: str) -> str:
        previous = [m.content for m in history if m.role == "user"]
        if not previous:
            return question
        if self.chat_model is not None:
            convo = "\n".join(f"{m.role}: {m.content[:500]}" for m in list(history)[-6:])
            prompt = render(self.settings.prompts_dir, "condense", lang, history=convo, question=question)
            try:
                rewritten = "".join(self.chat_model.stream([ChatMessage("user", prompt)])).strip()
                if 3 <= len(rewritten) <= 400:
                    return rewritten.splitlines()[0]
            except LLMError:
                pass
        # Without a model: a question that refers back borrows the previous question's words.
        if refers_back(question):
            return f"{previous[-1]} {question}"
        return question

    # -- sentence scoring -------------------------------------------------------------
    def _candidates(self, query: str, hits: list[Hit], lang: str = "nb") -> tuple[list[Unit], Support]:
        """Every sentence and list item of every retrieved chunk, scored against the query:
        e5 similarity, IDF-weighted word overlap and the chunk's rank."""
        query_stems = set(stems(query))
        weights = {s: self.retriever.idf(s) for s in query_stems}
        total = sum(weights.values()) or 1.0
        # IDF-weighted: one rare word the corpus never uses ("fårikål") outweighs common known ones.
        unknown_share = sum(w for s, w in weights.items() if self.retriever.document_frequency(s) == 0) / total
        query_sequence = stems(query)
        query_pairs = set(zip(query_sequence, query_sequence[1:]))
        units: list[Unit] = []
        contexts: list[str] = []
        for hi, hit in enumerate(hits):
            heading = chunk_heading(hit.chunk)
            head_stems = set(stems(heading))
            prev_stems: set[str] = set()
            for u in units_of(hit.chunk.text, hi, hit.chunk.meta.language):
                sequence = stems(u.text)
                u.tokens = set(sequence)
                own = sum(w for s, w in weights.items() if s in u.tokens) / total
                if query_pairs:  # the question's words side by side ("took part", "formell myndighet")
                    own += 0.3 * len(query_pairs & set(zip(sequence, sequence[1:]))) / len(query_pairs)
                ctx = sum(w for s, w in weights.items() if s in (head_stems | prev_stems) and s not in u.tokens) / total
                u.lexical = own + 0.5 * ctx  # a word in the heading or the sentence before counts half
                prev_stems = u.tokens
                units.append(u)
                contexts.append(sentence_context(heading, u.text))
        if not units:
            return [], Support(0.0, unknown_share, lang)
        per_chunk: dict[str, int] = {}
        for u in units:
            per_chunk[hits[u.hit_index].chunk.id] = per_chunk.get(hits[u.hit_index].chunk.id, 0) + 1
        sims = self._similarities(query, contexts, sentences_per_chunk=per_chunk)
        # e5 cosines are compressed and shift with the question: rank sentences relative to the
        # best and worst of this retrieval, not on a fixed scale.
        lo, top = float(min(sims)), float(max(sims))
        # A question from the question bank restates what was asked rather than answering it,
        # unless the user asks what questions the material poses.
        asks_for_questions = bool(_ASKS_FOR_QUESTIONS.search(query))
        for u, sim in zip(units, sims):
            u.similarity = float(sim)
            prior = 1.0 / (1 + u.hit_index)
            sim_norm = (u.similarity - lo) / (top - lo) if top > lo else 1.0
            u.score = 0.55 * sim_norm + 0.35 * u.lexical + 0.10 * prior
            if u.text.endswith("?") and not asks_for_questions:
                u.score *= 0.6
        return units, Support(max(u.similarity for u in units), unknown_share, lang)

    def _similarities(self, query: str, texts: list[str], sentences_per_chunk: dict[str, int] | None = None) -> np.ndarray:
        """Cosine of the query with each text. Sentence vectors come from the in-memory cache,
        then from the index (stored by ingest for the chunks in `sentences_per_chunk`), and only
        what neither has is embedded now."""
        if not texts:
            return np.zeros(0, dtype=np.float32)
        q = self.retriever.query_vector(query)
        vectors = self._passage_vectors(texts, sentences_per_chunk)
        return np.stack([vectors[t] for t in texts]) @ q

    def _passage_vectors(self, texts: list[str], sentences_per_chunk: dict[str, int] | None = None) -> dict[str, np.ndarray]:
        """Passage vectors of `texts`: from the in-memory cache, then from the index (stored by
        ingest for the chunks in `sentences_per_chunk`), and only what neither has is embedded now
        (and kept in the cache)."""
        wanted = list(dict.fromkeys(texts))
        with self._cache_lock:
            vectors = {t: self._sentence_cache[t] for t in wanted if t in self._sentence_cache}
        missing = [t for t in wanted if t not in vectors]
        if missing and sentences_per_chunk:
            stored = self.retriever.sentence_vectors(sentences_per_chunk)
            vectors.update((t, stored[t]) for t in missing if t in stored)
            missing = [t for t in missing if t not in vectors]
        if missing:
            vectors.update(zip(missing, self.embedder.embed_passages(missing)))
        with self._cache_lock:
            for t in wanted:
                if t not in self._sentence_cache:
                    self._sentence_cache[t] = vectors[t]
                    if len(self._sentence_cache) > 20_000:
                        self._sentence_cache.popitem(last=False)
        return vectors

    def _select(self, cands: list[Unit], limit: int) -> list[Unit]:
        ranked = sorted(cands, key=lambda c: -c.score)
        if not ranked:
            return []
        floor = ranked[0].score * 0.6
        chosen: list[Unit] = []
        for c in ranked:
            if c.score < floor or len(chosen) >= limit:
                break
            if any(_jaccard(c.tokens, o.tokens) > 0.5 for o in chosen):
                continue
            chosen.append(c)
        return chosen

    # -- extractive backend --------------------------------------------------------------
    def _gap_for(self, question: str, query: str, lang: str, hits: list[Hit], units: list[Unit]) -> tuple[list[Unit], Gap | None]:
        """The answering span, and what the material lacks (None when it answers)."""
        asked, is_question = question_part(question)
        span, fits = self._lead(asked, lang, units)
        # A follow-up is judged with the question it refers back to (the retrieval query).
        in_context = asked if query == question else question_part(query)[0]
        gap = self._gap(in_context, lang, hits, units, fits)
        if gap and gap.word and not is_question:
            gap = Gap(kind="any")  # an instruction, not a question: its words are not echoed back
        return span, gap

    def _lead(self, question: str, lang: str, units: list[Unit]) -> tuple[list[Unit], bool]:
        """The span that answers first, and whether it carries the kind of answer asked for.

        The best-scoring units are read with what they need to stand alone (`span_for`); a span that
        carries the kind of answer the question asks for (a name for "who", a number for "how many",
        a date for "when", an enumeration for "which") and, for an English question, one from an
        English source, is preferred."""
        kind, counted = question_kind(question), counted_word(question) or office_word(question)
        ranked = sorted(units, key=lambda u: -u.score)
        pool = ranked[: self.settings.answer_lead_candidates]
        if kind in CHECKED_KINDS:
            # A "how many" or "when" question is answered by a number or a date: look further down
            # for one (within half the best score) before concluding the material has none.
            floor = ranked[0].score * 0.5
            pool += [u for u in ranked[len(pool) : 3 * len(pool)] if u.score >= floor]
        best: tuple[tuple, list[Unit], bool] | None = None
        for u in pool:
            span = span_for(u, units)
            fits = kind_satisfied(kind, " ".join(x.text for x in span), counted) or (kind == "list" and len(span) >= 3)
            value = u.score + (self.settings.answer_kind_bonus if fits else 0.0)
            if lang == "en" and u.language == "en":
                value += self.settings.answer_language_bonus
            if kind in CHECKED_KINDS and not fits and u not in ranked[: self.settings.answer_lead_candidates]:
                continue  # looked at only for a number or a date
            # For "how many" and "when", a span with the number or date beats one without it.
            key = (fits, value) if kind in CHECKED_KINDS else (value,)
            if best is None or key > best[0]:
                best = (key, span, fits)
        assert best is not None
        return best[1], best[2]

    def _gap(self, question: str, lang: str, hits: list[Hit], units: list[Unit], lead_fits: bool) -> Gap | None:
        """What the question asks about that the retrieved material does not say, if anything:
        - the kind of answer a "how many" or "when" question wants (a number for the thing counted,
          a date) is in none of the best spans;
        - a bokmål question's focus words that no retrieved chunk uses carry at least
          `answer_focus_max_share` of the question (IDF-weighted), and no sentence is a confident
          match. English questions over mostly bokmål sources cannot be compared word by word, so
          for them only the kind is checked."""
        kind = question_kind(question)
        if kind in CHECKED_KINDS:
            # The figure asked for is the answer: found, the question is answered; missing, it is not.
            return None if lead_fits else Gap(kind=kind)
        if lang == "en" or max(u.similarity for u in units) >= self.settings.answer_focus_confident_similarity:
            return None
        # The material: every sentence of the retrieved chunks, and their titles and headings.
        texts = [" ".join((h.chunk.meta.title, *h.chunk.heading_path)) for h in hits]
        texts += [u.text for u in units]
        focus = missing_focus(question, texts, weight=self.retriever.idf)
        if focus.missing and focus.share >= self.settings.answer_focus_max_share:
            return Gap(word=focus.missing[0])
        return None

    def _extractive(self, question, mode, lang, hits, units, span, gap, started, retrieval_ms) -> Iterator[str | Answer]:
        in_span = {id(u) for u in span}
        rest = [u for u in units if id(u) not in in_span and not any(_jaccard(u.tokens, x.tokens) > 0.5 for x in span)]
        more = [] if gap else self._select(rest, self.settings.answer_max_sentences)
        floor = max(u.score for u in span) * 0.6
        more = [u for u in more if u.score >= floor]

        citations: list[Citation] = []
        numbers: dict[int, int] = {}

        def cite(u: Unit) -> int:
            if u.hit_index not in numbers:
                numbers[u.hit_index] = len(citations) + 1
                citations.append(_citation(numbers[u.hit_index], hits[u.hit_index].chunk, lang))
            return numbers[u.hit_index]

        lead_text = _render_span(span, cite)
        # Supporting sentences: grouped by source, sources in order of their best sentence.
        groups: OrderedDict[int, list[Unit]] = OrderedDict()
        for u in sorted(more, key=lambda u: -u.score):
            groups.setdefault(u.hit_index, []).append(u)
        support = [_join_lines([f"{_item(u)}{u.text} [{cite(u)}]" for u in sorted(g, key=lambda u: u.order)]) for g in groups.values()]
        # The body holds the answer's statements; the shown text adds the labels around them.
        if gap:
            statements = [_gap_text(gap, lang), lead_text]
            paragraphs = [statements[0], f"{tr(lang, 'answer.nearest_material')}\n\n{lead_text}"]
        else:
            statements = [lead_text, *support]
            paragraphs = [lead_text] + ([f"**{tr(lang, 'answer.more')}**\n\n" + "\n\n".join(support)] if support else [])
        body = "\n\n".join(statements)
        text = "\n\n".join(paragraphs)
        if tr(lang, "answer.original") and any(hits[i].chunk.meta.language != "en" for i in numbers):
            text += f"\n\n_{tr(lang, 'answer.original')}_"
        text = f"{text}\n\n{_source_list(citations, lang)}"
        allowed = urls_in([h.chunk.text for h in hits])
        text = safe_markdown(text, allowed)
        chosen = len(span) + len(more)
        yield text
        yield Answer(
            question=question, mode=mode, language=lang, text=text, body=safe_markdown(body, allowed), citations=tuple(citations),
            backend="extractive", declined=gap is not None, sentences=chosen, cited_sentences=chosen,
            timings=_timings(started, retrieval_ms), retrieved=tuple(h.chunk.id for h in hits),
        )

    # -- reflection ------------------------------------------------------------------------
    def _reflect(self, question, lang, hits, cands, stage, asked, started, retrieval_ms, history, use_model=True) -> Iterator[str | Answer]:
        stage_key = stage or "where_are_we"
        next_questions = self.reflection_questions(question, stage=stage_key, n=2, asked=asked)
        if self.chat_model is not None and hits and use_model:
            hint = next_questions[0][0] if next_questions else ""
            fallback = lambda: self._reflect(question, lang, hits, cands, stage, asked, started, retrieval_ms, history, use_model=False)  # noqa: E731
            yield from self._generate(question, "reflect", lang, hits, started, retrieval_ms, tr(lang, f"stage.{stage_key}"), hint,
                                      questions=tuple(q for q, _ in next_questions[:1]), fallback=fallback)
            return
        parts = [tr(lang, "answer.mirror", phrase=_key_phrase(mirror_sentence(question)))]
        own: list[str] = []  # the answer's own statements: insights and the next question, not the mirror
        citations: list[Citation] = []
        # Insights are read one by one, in the middle of a conversation: only sentences that stand alone.
        chosen = self._select([c for c in cands if stands_alone(c.text)], 2) if hits else []
        insights: list[Insight] = []
        if chosen:
            lines = []
            for c in sorted(chosen, key=lambda c: -c.score):
                chunk = hits[c.hit_index].chunk
                number = next((x.number for x in citations if x.source == chunk.meta.source and x.passage == chunk.text), None)
                if number is None:
                    number = len(citations) + 1
                    citations.append(_citation(number, chunk, lang))
                lines.append(f"{_as_markdown_sentence(c.text)} [{number}]")
                insights.append(Insight(text=c.text, number=number))
            own.append(_join_lines(lines))
            parts.append(f"{tr(lang, 'answer.insight')}\n\n" + own[-1])
        else:
            parts.append(tr(lang, "answer.no_insight"))
        asked_now: list[str] = []
        if next_questions:
            q, chunk = next_questions[0]
            number = len(citations) + 1
            citations.append(_citation(number, chunk, lang))
            asked_now.append(q)
            own.append(f"{q} [{number}]")
            heading = tr(lang, "answer.next", stage=tr(lang, f"stage.{stage_key}"))
            parts.append(f"**{heading}** {own[-1]}")
        text = "\n\n".join(parts)
        if citations:
            text += "\n\n" + _source_list(citations, lang)
        text = safe_markdown(text)
        yield text
        yield Answer(
            question=question, mode="reflect", language=lang, text=text, body=safe_markdown("\n\n".join(own)),
            citations=tuple(citations), backend="extractive", sentences=len(chosen), cited_sentences=len(chosen),
            reflection_questions=tuple(asked_now), insights=tuple(insights), timings=_timings(started, retrieval_ms),
            retrieved=tuple(h.chunk.id for h in hits), asked_from=tuple(chunk.id for _, chunk in next_questions[:1]),
        )

    # -- model backend ----------------------------------------------------------------------
    def _generate(self, question, mode, lang, hits, started, retrieval_ms, stage_label, next_question, questions=(),
                  fallback=None) -> Iterator[str | Answer]:
        """The model's answer, verified sentence by sentence against the passages it cites
        (assistant/core/verify.py) before anything is shown: nothing unverified is streamed. When too
        little survives, `fallback` (the extractive answer) is shown with a note."""
        assert self.chat_model is not None
        sources = [(i, h.chunk.meta.title, h.chunk.locator(lang), h.chunk.text) for i, h in enumerate(hits, start=1)]
        source_block = render_sources(sources, lang)
        system = render(self.settings.prompts_dir, "system", lang, language=tr(lang, "answer.language"))
        if mode == "reflect":
            user = render(self.settings.prompts_dir, "reflect", lang, stage=stage_label, sources=source_block,
                          question=question, next_question=next_question or "-")
            template = render(self.settings.prompts_dir, "reflect", lang, stage=stage_label, sources="", question="",
                              next_question=next_question or "-")
        else:
            user = render(self.settings.prompts_dir, "answer", lang, sources=source_block, question=question)
            template = render(self.settings.prompts_dir, "answer", lang, sources="", question="")
        t0 = time.perf_counter()
        pieces: list[str] = []
        try:
            for delta in self.chat_model.stream([ChatMessage("system", system), ChatMessage("user", user)]):
                pieces.append(delta)  # kept back: only verified sentences are shown
        except LLMError as exc:
            yield Answer(
                question=question, mode=mode, language=lang, text=str(exc), backend=self.chat_model.name,
                error=str(exc), timings=_timings(started, retrieval_ms, t0), retrieved=tuple(h.chunk.id for h in hits),
            )
            return
        raw = "".join(pieces)
        text, _, removed = check_citations(raw, len(hits))
        passages = {i: h.chunk.text for i, h in enumerate(hits, start=1)}
        checked = verify(
            text, passages, prompt_lines=[*system.splitlines(), *template.splitlines()],
            similarity=self._support_similarity, min_lexical=self.settings.verify_min_lexical,
            min_similarity=self.settings.verify_min_similarity,
            known=lambda w: any(self.retriever.document_frequency(x) > 0 for x in stems(w)),
            questions_need_no_source=(mode == "reflect"),
        )
        unverified = tuple(c.text for c in checked.removed if c.text)
        if fallback is not None and (checked.share < self.settings.verify_min_share or not checked.supported):
            for item in fallback():
                if isinstance(item, Answer):
                    note = tr(lang, "answer.unchecked")
                    shown = f"*{note}*\n\n{item.text}"
                    yield shown
                    yield item.model_copy(update={
                        "text": shown, "backend": f"{self.chat_model.name}+extractive", "fallback": True,
                        "verified_share": round(checked.share, 3), "unverified": unverified,
                        "removed_citations": tuple(removed), "timings": _timings(started, retrieval_ms, t0),
                    })
            return
        marked = self.settings.verify_mode == "mark"
        shown = [c for c in checked.checks if c.text and (c.supported or marked)]
        lines = [c.text if c.supported else f"{c.text} *{tr(lang, 'answer.unverified_mark')}*" for c in shown]
        body = _join_sentences(lines)
        body = safe_markdown(body, urls_in([h.chunk.text for h in hits]))
        used = sorted({n for c in shown for n in c.cited})  # every sentence shown has its source listed
        citations = [_citation(n, hits[n - 1].chunk, lang) for n in used]
        final = body.strip()
        if citations:
            final += "\n\n" + _source_list(citations, lang)
        yield final
        yield Answer(
            question=question, mode=mode, language=lang, text=final, body=body.strip(), citations=tuple(citations),
            backend=self.chat_model.name, removed_citations=tuple(removed), sentences=len(checked.checks),
            cited_sentences=len([c for c in checked.checks if c.cited]), reflection_questions=tuple(questions),
            insights=tuple(
                Insight(text=re.sub(r"\s*\[\d{1,3}\]", "", c.text).strip(), number=c.cited[0])
                for c in shown if mode == "reflect" and c.supported and c.cited and not c.text.rstrip().endswith("?")
            ),
            verified_share=round(checked.share, 3), unverified=unverified,
            timings=_timings(started, retrieval_ms, t0), retrieved=tuple(h.chunk.id for h in hits),
        )

    def _support_similarity(self, sentence: str, passages: list[str]) -> float:
        """Best e5 cosine of a model sentence with a sentence of the cited passages (the passages'
        sentence vectors are cached: every sentence of an answer is compared with the same ones)."""
        units = [u.text for p in passages for u in units_of(p, 0, "nb")] or list(passages)
        vectors = self._passage_vectors(units)
        own = self.embedder.embed_passages([sentence])[0]
        return float(np.max(np.stack([vectors[u] for u in units]) @ own))

    # -- refusal ------------------------------------------------------------------------------
    def _refusal_text(self, query: str, lang: str) -> str:
        near = self.retriever.search(query, k=8, apply_floor=False)
        titles = list(dict.fromkeys(h.chunk.meta.title for h in near if h.chunk.meta.kind != "question"))[:3]
        text = tr(lang, "answer.refuse")
        if titles:
            text += " " + tr(lang, "answer.nearest", titles="; ".join(f"«{x}»" for x in titles))
        return f"{text} {tr(lang, 'answer.try')}"


# --- helpers ----------------------------------------------------------------------------------------
def check_citations(text: str, n_sources: int) -> tuple[str, set[int], list[int]]:
    """Remove citations of sources that were not given. Returns text, used numbers, removed numbers."""
    used: set[int] = set()
    removed: list[int] = []

    def repl(m: re.Match) -> str:
        n = int(m.group(1))
        if 1 <= n <= n_sources:
            used.add(n)
            return m.group(0)
        removed.append(n)
        return ""

    return _CITE.sub(repl, text), used, removed


def _citation(number: int, chunk: Chunk, lang: str) -> Citation:
    return Citation(
        number=number, source=chunk.meta.source, title=chunk.meta.title, kind=chunk.meta.kind,
        locator=chunk.locator(lang), page=chunk.page, section=chunk.section, passage=chunk.text,
    )


def _source_list(citations: list[Citation], lang: str) -> str:
    lines = [f"**{tr(lang, 'answer.sources')}:**"]
    for c in citations:
        where = f", {c.locator}" if c.locator else ""
        lines.append(f"[{c.number}] {c.title}{where} ({c.source})")
    return "\n".join(lines[:1]) + "\n" + "  \n".join(lines[1:])


def _join_sentences(sentences: list[str]) -> str:
    """Verified sentences back into text: list items one per line, other sentences as paragraphs."""
    blocks: list[str] = []
    last_item = None
    for s in sentences:
        item = bool(re.match(r"^\s*(?:[-*+]|\d+[.)])\s+", s))
        if blocks and item == last_item:
            blocks[-1] += ("\n" if item else " ") + s
        else:
            blocks.append(s)
        last_item = item
    return "\n\n".join(blocks)


def _as_markdown_sentence(text: str) -> str:
    text = " ".join(text.split())
    return text


def _item(u: Unit) -> str:
    return "- " if u.is_item else ""


def _render_span(span: list[Unit], cite) -> str:
    """The answering span as read: an announcing sentence ("tre parter", "fem utfordringer", or
    one ending in a colon) introduces its items as a list, so that the opening line and the items
    it announces read as one statement; anything else runs on as a paragraph."""
    head = next((i for i, u in enumerate(span) if announced_count(u.text) is not None), None)
    if head is None or head == len(span) - 1 or not all(u.block >= span[head].block for u in span[head + 1 :]):
        return _join_lines([f"{_item(u)}{u.text} [{cite(u)}]" for u in span])
    before = [f"{_item(u)}{u.text} [{cite(u)}]" for u in span[:head]]
    intro = span[head].text.rstrip()
    intro = intro[:-1] + ":" if intro.endswith(".") else intro
    items = [f"- {u.text} [{cite(u)}]" for u in span[head + 1 :]]
    lines = _join_lines(before) + "\n" if before else ""
    return f"{lines}{intro} [{cite(span[head])}]\n" + "\n".join(items)


def _gap_text(gap: Gap, lang: str) -> str:
    if gap.word:
        return tr(lang, "answer.gap_word", word=gap.word)
    return tr(lang, f"answer.gap_{gap.kind}")


def refers_back(question: str) -> bool:
    """Does a follow-up question lean on what was said before ("og hvor mange?", "hva med henne?")?"""
    q = question.strip()
    if _FOLLOW_UP_OPENER.match(q):
        return True
    return bool(_REFERS_BACK.search(_DUMMY.sub(" ", q)))


def _join_lines(lines: list[str]) -> str:
    """Prose sentences run on as a paragraph; list items stay a list, each on its own line."""
    out: list[str] = []
    for line in lines:
        if line.startswith(("- ", "* ", "+ ")) or not out or out[-1].startswith(("- ", "* ", "+ ")):
            out.append(line)
        else:
            out[-1] = f"{out[-1]} {line}"
    return "\n".join(out)


def _key_phrase(text: str, max_words: int = 30) -> str:
    first = split_sentences(text)[:1] or [text]
    words = first[0].split()
    phrase = " ".join(words[:max_words]) + (" …" if len(words) > max_words else "")
    return phrase.rstrip(".")


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _history_language(history: Sequence[ChatMessage]) -> str:
    for m in reversed(list(history)):
        if m.role == "user":
            return guess_language(m.content)
    return "nb"


def _timings(started: float, retrieval_ms: float, generation_started: float | None = None) -> Timings:
    now = time.perf_counter()
    generation = (now - generation_started) * 1000 if generation_started else 0.0
    return Timings(retrieval_ms=round(retrieval_ms, 1), generation_ms=round(generation, 1), total_ms=round((now - started) * 1000, 1))
