"""Composing an answer: one composer per kind, chosen by `Composition`, all with one interface.

`Turn` carries what the engine found for a message (the retrieved chunks, the scored sentences,
the answering span and what the material leaves out); a composer turns it into the text pieces
and the final `Answer` record:

- `ExtractiveComposer`: the default, no model. Leads with the span that answers, then
  supporting sentences grouped by source; or says what the material does not cover.
- `ReflectiveComposer`: the reflection's turn: the participant's own words mirrored, two
  insights from the material, the text they came from to read next (its summary), the stage's
  next question (with a model: its reply, checked).
- `GenerativeComposer`: a model's answer, verified sentence by sentence before anything is
  shown; the extractive answer with a note when too little survives.

Every text is put together by `render.render_text`.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Literal, Protocol

from assistant.core.concern import mirror_phrase
from assistant.core.i18n import tr
from assistant.core.llm import ChatMessage, ChatModel, LLMError
from assistant.core.prompts import render, render_sources
from assistant.core.question_bank import QuestionBank
from assistant.core.records import Answer, Chunk, Hit, Insight, Timings
from assistant.core.render import citation, render_text, summary_citation
from assistant.core.retrieval import Retriever
from assistant.core.safety import safe_markdown, urls_in
from assistant.core.scoring import SentenceScorer, jaccard
from assistant.core.selection import Gap, Unit, about_the_text, announced_count, insight_text, stands_alone
from assistant.core.settings import ComponentConfig
from assistant.core.text import split_sentences, stems
from assistant.core.verify import verify

_CITE = re.compile(r"\[(\d{1,3})\]")


class Composition(str, Enum):
    EXTRACTIVE = "extractive"
    REFLECTIVE = "reflective"
    GENERATIVE = "generative"


@dataclass
class Turn:
    """What the engine found for one message, handed to a composer."""

    question: str
    mode: str  # "qa" or "reflect"
    lang: str
    hits: list[Hit]
    units: list[Unit]  # every sentence of the retrieved chunks, scored
    started: float  # perf_counter at the start of the turn
    retrieval_ms: float
    span: list[Unit] = field(default_factory=list)  # the answering span (qa)
    gap: Gap | None = None  # what the material leaves out (qa)
    stage: str | None = None  # reflection stage
    asked: Sequence[str] = ()  # reflection questions asked before
    shown: Sequence[str] = ()  # insights shown before in the conversation: never shown again


class Composer(Protocol):
    def compose(self, turn: Turn) -> Iterator[str | Answer]:
        """Text pieces (adding up to what is shown), then the `Answer` record."""
        ...


class ExtractiveComposer:
    def __init__(self, scorer: SentenceScorer, *, max_sentences: int) -> None:
        self.scorer = scorer
        self.max_sentences = max_sentences  # supporting sentences after the span, at most

    def compose(self, turn: Turn) -> Iterator[str | Answer]:
        question, mode, lang, hits, units = turn.question, turn.mode, turn.lang, turn.hits, turn.units
        span, gap, started, retrieval_ms = turn.span, turn.gap, turn.started, turn.retrieval_ms
        in_span = {id(u) for u in span}
        rest = [u for u in units if id(u) not in in_span and not any(jaccard(u.tokens, x.tokens) > 0.5 for x in span)]
        more = [] if gap else self.scorer.select(rest, self.max_sentences)
        floor = max(u.score for u in span) * 0.6
        more = [u for u in more if u.score >= floor]

        citations: list[Citation] = []
        numbers: dict[int, int] = {}

        def cite(u: Unit) -> int:
            if u.hit_index not in numbers:
                numbers[u.hit_index] = len(citations) + 1
                citations.append(citation(numbers[u.hit_index], hits[u.hit_index].chunk, lang))
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
        if tr(lang, "answer.original") and any(hits[i].chunk.meta.language != "en" for i in numbers):
            paragraphs.append(f"_{tr(lang, 'answer.original')}_")
        allowed = urls_in([h.chunk.text for h in hits])
        text = render_text(paragraphs, citations, lang, allowed)
        chosen = len(span) + len(more)
        yield text
        yield Answer(
            question=question, mode=mode, language=lang, text=text, body=safe_markdown(body, allowed), citations=tuple(citations),
            backend="extractive", declined=gap is not None, sentences=chosen, cited_sentences=chosen,
            timings=timings(started, retrieval_ms), retrieved=tuple(h.chunk.id for h in hits),
        )


class GenerativeConfig(ComponentConfig):
    """The prompt files, and how a model's answer is verified (assistant/core/verify.py)."""

    prompts_dir: Path
    verify_mode: Literal["remove", "mark"]
    verify_min_share: float
    verify_min_lexical: float
    verify_min_similarity: float


class GenerativeComposer:
    def __init__(self, config: GenerativeConfig, retriever: Retriever, scorer: SentenceScorer, chat_model: ChatModel,
                 fallback: Composer | None = None) -> None:
        self.config = config
        self.retriever = retriever
        self.scorer = scorer
        self.chat_model = chat_model
        self.fallback = fallback

    def compose(self, turn: Turn, *, stage_label: str = "", next_question: str = "", questions: Sequence[str] = (),
                fallback: Callable[[], Iterator[str | Answer]] | None = None) -> Iterator[str | Answer]:
        """The model's answer, verified sentence by sentence against the passages it cites
        (assistant/core/verify.py) before anything is shown: nothing unverified is streamed. When too
        little survives, `fallback` (by default the extractive answer) is shown with a note."""
        question, mode, lang, hits, started, retrieval_ms = turn.question, turn.mode, turn.lang, turn.hits, turn.started, turn.retrieval_ms
        if fallback is None and self.fallback is not None:
            fallback = lambda: self.fallback.compose(turn)  # noqa: E731
        sources = [(i, h.chunk.meta.title, h.chunk.locator(lang), h.chunk.text) for i, h in enumerate(hits, start=1)]
        source_block = render_sources(sources, lang)
        system = render(self.config.prompts_dir, "system", lang, language=tr(lang, "answer.language"))
        if mode == "reflect":
            user = render(self.config.prompts_dir, "reflect", lang, stage=stage_label, sources=source_block,
                          question=question, next_question=next_question or "-")
            template = render(self.config.prompts_dir, "reflect", lang, stage=stage_label, sources="", question="",
                              next_question=next_question or "-")
        else:
            user = render(self.config.prompts_dir, "answer", lang, sources=source_block, question=question)
            template = render(self.config.prompts_dir, "answer", lang, sources="", question="")
        t0 = time.perf_counter()
        pieces: list[str] = []
        try:
            for delta in self.chat_model.stream([ChatMessage("system", system), ChatMessage("user", user)]):
                pieces.append(delta)  # kept back: only verified sentences are shown
        except LLMError as exc:
            yield Answer(
                question=question, mode=mode, language=lang, text=str(exc), backend=self.chat_model.name,
                error=str(exc), timings=timings(started, retrieval_ms, t0), retrieved=tuple(h.chunk.id for h in hits),
            )
            return
        raw = "".join(pieces)
        text, _, removed = check_citations(raw, len(hits))
        passages = {i: h.chunk.text for i, h in enumerate(hits, start=1)}
        checked = verify(
            text, passages, prompt_lines=[*system.splitlines(), *template.splitlines()],
            similarity=self.scorer.support_similarity, min_lexical=self.config.verify_min_lexical,
            min_similarity=self.config.verify_min_similarity,
            known=lambda w: any(self.retriever.document_frequency(x) > 0 for x in stems(w)),
            questions_need_no_source=(mode == "reflect"),
        )
        unverified = tuple(c.text for c in checked.removed if c.text)
        if fallback is not None and (checked.share < self.config.verify_min_share or not checked.supported):
            for item in fallback():
                if isinstance(item, Answer):
                    note = tr(lang, "answer.unchecked")
                    shown = f"*{note}*\n\n{item.text}"
                    yield shown
                    yield item.model_copy(update={
                        "text": shown, "backend": f"{self.chat_model.name}+extractive", "fallback": True,
                        "verified_share": round(checked.share, 3), "unverified": unverified,
                        "removed_citations": tuple(removed), "timings": timings(started, retrieval_ms, t0),
                    })
            return
        marked = self.config.verify_mode == "mark"
        shown = [c for c in checked.checks if c.text and (c.supported or marked)]
        lines = [c.text if c.supported else f"{c.text} *{tr(lang, 'answer.unverified_mark')}*" for c in shown]
        allowed = urls_in([h.chunk.text for h in hits])
        body = safe_markdown(_join_sentences(lines), allowed)
        used = sorted({n for c in shown for n in c.cited})  # every sentence shown has its source listed
        citations = [citation(n, hits[n - 1].chunk, lang) for n in used]
        final = render_text([_join_sentences(lines)], citations, lang, allowed)
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
            timings=timings(started, retrieval_ms, t0), retrieved=tuple(h.chunk.id for h in hits),
        )


class ReflectiveComposer:
    def __init__(self, scorer: SentenceScorer, questions: QuestionBank, generative: GenerativeComposer | None = None) -> None:
        self.scorer = scorer
        self.questions = questions
        self.generative = generative

    def compose(self, turn: Turn, *, use_model: bool = True) -> Iterator[str | Answer]:
        question, lang, hits, cands, stage, asked = turn.question, turn.lang, turn.hits, turn.units, turn.stage, turn.asked
        started, retrieval_ms = turn.started, turn.retrieval_ms
        stage_key = stage or "where_are_we"
        next_questions = self.questions.questions(question, stage=stage_key, n=2, asked=asked, language=lang)
        if self.generative is not None and hits and use_model:
            hint = next_questions[0][0] if next_questions else ""
            fallback = lambda: self.compose(turn, use_model=False)  # noqa: E731
            yield from self.generative.compose(turn, stage_label=tr(lang, f"stage.{stage_key}"), next_question=hint,
                                               questions=tuple(q for q, _ in next_questions[:1]), fallback=fallback)
            return
        mirrored = mirror_phrase(question)
        parts = [tr(lang, "answer.mirror", phrase=mirrored)]
        own: list[str] = []  # the answer's own statements: insights and the next question, not the mirror
        citations: list[Citation] = []
        chosen = pick_insights(insight_candidates(cands, turn.shown), 2) if hits else []
        insights: list[Insight] = []
        if chosen:
            lines = []
            ranked = sorted(chosen, key=lambda c: -c.score)
            for c in ranked:
                chunk = hits[c.hit_index].chunk
                number = next((x.number for x in citations if x.source == chunk.meta.source and x.passage == chunk.text), None)
                if number is None:
                    number = len(citations) + 1
                    citations.append(citation(number, chunk, lang))
                # Each sentence carries its source: an insight read with the sentence it leans on is two.
                lines.append(" ".join(f"{_as_markdown_sentence(x)} [{number}]" for x in split_sentences(c.text)))
                insights.append(Insight(text=c.text, number=number))
            own.append(_join_lines(lines))
            parts.append(f"{tr(lang, 'answer.insight')}\n\n" + own[-1])
            first = hits[ranked[0].hit_index].chunk
            # Extractive only: a model backend's fallback keeps every citation on a given passage.
            pointer = reading_pointer(first, turn.shown) if self.generative is None else None
            if pointer is not None:
                title, summary = pointer
                # Cited with the summary as its passage: what the line says is what the source shows
                # (the chunk's passage need not hold the years and names a summary gives).
                number = len(citations) + 1
                citations.append(summary_citation(number, first, summary, lang))
                own.append(f"«{title}»: " + " ".join(f"{x} [{number}]" for x in split_sentences(summary)))
                insights.append(Insight(text=summary, number=number, kind="reading"))
                parts.append(f"**{tr(lang, 'answer.reading')}** {own[-1]}")
        else:
            parts.append(tr(lang, "answer.no_insight"))
        asked_now: list[str] = []
        if next_questions:
            q, chunk = next_questions[0]
            number = len(citations) + 1
            citations.append(citation(number, chunk, lang))
            asked_now.append(q)
            own.append(f"{q} [{number}]")
            heading = tr(lang, "answer.next", stage=tr(lang, f"stage.{stage_key}"))
            parts.append(f"**{heading}** {own[-1]}")
        text = render_text(parts, citations, lang)
        yield text
        yield Answer(
            question=question, mode="reflect", language=lang, text=text, body=safe_markdown("\n\n".join(own)),
            citations=tuple(citations), backend="extractive", sentences=len(chosen), cited_sentences=len(chosen),
            reflection_questions=tuple(asked_now), insights=tuple(insights), mirror=mirrored, timings=timings(started, retrieval_ms),
            retrieved=tuple(h.chunk.id for h in hits), asked_from=tuple(chunk.id for _, chunk in next_questions[:1]),
        )


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
    if gap.clause:
        return tr(lang, "answer.gap_clause", clause=gap.clause)
    if gap.word:
        return tr(lang, "answer.gap_word", word=gap.word)
    return tr(lang, f"answer.gap_{gap.kind}")


def _join_lines(lines: list[str]) -> str:
    """Prose sentences run on as a paragraph; list items stay a list, each on its own line."""
    out: list[str] = []
    for line in lines:
        if line.startswith(("- ", "* ", "+ ")) or not out or out[-1].startswith(("- ", "* ", "+ ")):
            out.append(line)
        else:
            out[-1] = f"{out[-1]} {line}"
    return "\n".join(out)


MAX_INSIGHT_WORDS = 60  # a sentence read with the one it leans on stays one short paragraph


def seen_key(text: str) -> str:
    """An insight's text as compared with those shown before: case, spacing, emphasis, citation
    marks and the final punctuation do not make a sentence new."""
    text = re.sub(r"\s*\[\d{1,3}\]", "", text.replace("**", ""))
    return " ".join(text.casefold().split()).rstrip(" .!?:;")


def insight_candidates(units: Sequence[Unit], shown: Sequence[str] = ()) -> list[Unit]:
    """The sentences that can be offered as insights. Insights are read one by one in the middle
    of a conversation: each must read alone (no bold lead-in glued in front, no "Dette …" or "Den
    andre …" without the sentence it leans on, which then comes with it), and none that was shown
    before in the conversation comes back."""
    seen = {seen_key(x) for t in shown for x in (t, *split_sentences(t))}  # an insight read with its antecedent, too
    by_place = {(u.hit_index, u.order): u for u in units}
    out: list[Unit] = []
    for u in units:
        text = insight_text(u)
        if about_the_text(text):  # "Dette dokumentet beskriver …" tells the participant nothing
            continue
        parts = [text]
        if not stands_alone(text):
            prev = by_place.get((u.hit_index, u.order - 1))
            if prev is None or prev.block != u.block or not stands_alone(insight_text(prev)) or text.rstrip().endswith(":"):
                continue
            parts.insert(0, insight_text(prev))
            text = f"{parts[0]} {text}"
            if len(text.split()) > MAX_INSIGHT_WORDS:
                continue
            u = replace(u, text=text, tokens=u.tokens | prev.tokens, order=prev.order, span=2)
        elif text != u.text:
            u = replace(u, text=text)
        if any(seen_key(p) in seen for p in (*parts, text)):
            continue
        out.append(u)
    return out


MAX_READING_WORDS = 60  # a document's summary longer than this (a PDF's subject field can hold anything) is not offered


def reading_pointer(chunk: Chunk, shown: Sequence[str] = ()) -> tuple[str, str] | None:
    """(title, summary) of the text a reflection turn's first insight came from, offered as what
    to read next: the summary says what the text holds beyond the one sentence shown (its key
    ideas, its authors), which the sentence nearest to the participant's words seldom does.
    None when the document has no summary (Markdown `summary:`, a PDF's or Office file's subject),
    when it is too long to read in passing, or when the conversation was pointed to it before."""
    summary = " ".join(chunk.meta.summary.split())
    if chunk.provenance == "assistant":  # written for the assistant (a proposal, a question): nothing to read further
        return None
    if not summary or len(summary.split()) > MAX_READING_WORDS:
        return None
    if seen_key(summary) in {seen_key(t) for t in shown}:
        return None
    return chunk.meta.title, summary


def pick_insights(cands: Sequence[Unit], limit: int) -> list[Unit]:
    """The best `limit` insights by score, within 60 % of the best, none overlapping another (the
    same sentence alone and with its antecedent, or mostly the same words)."""
    ranked = sorted(cands, key=lambda u: -u.score)
    chosen: list[Unit] = []
    for u in ranked:
        if len(chosen) >= limit or u.score < ranked[0].score * 0.6:
            break
        if not any(_overlaps(u, c) for c in chosen):
            chosen.append(u)
    return chosen


def _overlaps(a: Unit, b: Unit) -> bool:
    """The same sentence twice: places in the same chunk that meet, or mostly the same words."""
    if a.hit_index == b.hit_index and a.order < b.order + b.span and b.order < a.order + a.span:
        return True
    return jaccard(a.tokens, b.tokens) > 0.5


def timings(started: float, retrieval_ms: float, generation_started: float | None = None) -> Timings:
    now = time.perf_counter()
    generation = (now - generation_started) * 1000 if generation_started else 0.0
    return Timings(retrieval_ms=round(retrieval_ms, 1), generation_ms=round(generation, 1), total_ms=round((now - started) * 1000, 1))
