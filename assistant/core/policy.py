"""What the answer leads with, and what the material does not say.

`AnswerPolicy` picks the span that answers first (a sentence read with what it needs to stand
alone, preferring one that carries the kind of answer asked for: a name, a number, a date, a
list), decides whether the material leaves the question's focus or the kind of answer out (then
the answer says so, in the question's language, before the nearest material), and words the
refusal when nothing relevant was retrieved. Rules are about kinds of questions, never about
particular ones (assistant/core/selection.py; docs/answers.md).
"""

from __future__ import annotations

from assistant.core.i18n import tr
from assistant.core.records import Hit
from assistant.core.retrieval import Retriever
from assistant.core.selection import (
    asks_for_several,
    CHECKED_KINDS,
    contents_sentences,
    Gap,
    Unit,
    counted_word,
    covered,
    finite_verb,
    focus_phrase,
    focus_stems,
    group_word,
    heading_items,
    indirect_question,
    kind_satisfied,
    main_verb,
    missing_focus,
    names_enumeration,
    office_word,
    question_kind,
    question_part,
    span_for,
    which_noun,
)
from assistant.core.settings import ComponentConfig
from assistant.core.text import stems


# Words a "when" question uses for the kind of answer, not for what it asks about.
_TIME_WORDS = frozenset({"dato", "datoen", "date", "dates", "tidspunkt", "tidspunktet", "time", "year", "året", "dagen", "day"})


class PolicyConfig(ComponentConfig):
    """How the lead is chosen and when the material is said to leave the question's focus out."""

    answer_lead_candidates: int
    answer_kind_bonus: float
    answer_language_bonus: float
    answer_focus_max_share: float
    answer_focus_confident_similarity: float


class AnswerPolicy:
    def __init__(self, config: PolicyConfig, retriever: Retriever) -> None:
        self.config = config
        self.retriever = retriever

    def gap_for(self, question: str, query: str, lang: str, hits: list[Hit], units: list[Unit]) -> tuple[list[Unit], Gap | None]:
        """The answering span, and what the material lacks (None when it answers)."""
        asked, is_question = question_part(question)
        headings = [" ".join(h.chunk.heading_path) for h in hits]
        sections = [h.chunk.heading_path[-1] if h.chunk.heading_path else "" for h in hits]
        span, fits = self.lead(asked, lang, units, headings, sections)
        # A follow-up is judged with the question it refers back to (the retrieval query).
        in_context = asked if query == question else question_part(query)[0]
        gap = self.gap(in_context, lang, hits, units, fits)
        if gap and (gap.word or gap.clause) and not is_question:
            gap = Gap(kind="any")  # an instruction, not a question: its words are not echoed back
        return span, gap

    def lead(self, question: str, lang: str, units: list[Unit], headings: list[str] | None = None,
             sections: list[str] | None = None) -> tuple[list[Unit], bool]:
        """The span that answers first, and whether it carries the kind of answer asked for.

        The best-scoring units are read with what they need to stand alone (`span_for`); a span that
        carries the kind of answer the question asks for (a name for "who", a number for "how many",
        a date for "when", an enumeration for "which") and, for an English question, one from an
        English source, is preferred."""
        kind, counted = question_kind(question), counted_word(question) or office_word(question) or group_word(question)
        several = kind == "list" and asks_for_several(question)
        ranked = sorted(units, key=lambda u: -u.score)
        pool = ranked[: self.config.answer_lead_candidates]
        if kind in CHECKED_KINDS or several:
            # A "how many" or "when" question is answered by a number or a date: look further down
            # for one (within half the best score) before concluding the material has none. A
            # "which" question is answered by the named instances: look further down for those.
            floor = ranked[0].score * 0.5
            pool += [u for u in ranked[len(pool) : 3 * len(pool)] if u.score >= floor]
        # A "when" question is answered by a date of what it asks about: a date in a span that,
        # with its section's headings (`headings`, by hit index; not the document's title, which
        # names everything the document covers), speaks of none of the
        # question's focus words ("første samling", "nasjonale programmet") is the date of
        # something else.
        subject = focus_stems(question, leave_out=_TIME_WORDS) if kind == "when" else []
        # Named instances answer "Hvilke politikere deltok?" only where the material speaks of
        # politicians: four towns named in a text that never mentions them are instances of
        # something else. Read per chunk (with its headings): "Which municipalities …" is answered
        # by "Four towns took part: …" in a section that also says "Each municipality sent …".
        noun = (stems(which_noun(question)) or [""])[0] if several else ""
        chunk_stems: dict[int, set[str]] = {}
        if noun:
            for x in units:
                chunk_stems.setdefault(x.hit_index, set()).update(stems(x.text))
            for i, heading in enumerate(headings or []):
                chunk_stems.setdefault(i, set()).update(stems(heading))
        best: tuple[tuple, list[Unit], bool] | None = None
        for u in pool:
            span = span_for(u, units)
            text = " ".join(x.text for x in span)
            fits = kind_satisfied(kind, text, counted) or (kind == "list" and len(span) >= 3)
            if fits and subject:
                span_stems = set(stems(text))
                if headings and u.hit_index < len(headings):
                    span_stems |= set(stems(headings[u.hit_index]))
                fits = any(covered(st, span_stems) for st in subject)
            value = u.score + (self.config.answer_kind_bonus if fits else 0.0)
            if lang == "en" and u.language == "en":
                value += self.config.answer_language_bonus
            # Words are compared within one language only: an English noun says nothing of a bokmål text.
            about = not noun or u.language != lang or covered(noun, chunk_stems.get(u.hit_index, set()))
            named = several and names_enumeration(text) and about
            if named:
                value += self.config.answer_kind_bonus  # the instances themselves, by name
            extra = u not in ranked[: self.config.answer_lead_candidates]
            if extra and ((kind in CHECKED_KINDS and not fits) or (several and not named)):
                continue  # looked at only for a number, a date or named instances
            # For "how many" and "when", a span with the number or date beats one without it.
            # For "which" with a plural, a span that names the instances beats one that does not.
            # For "which" with a plural, among spans that name no instances, an enumeration (the
            # instances as common nouns: "plan, samferdsel, kultur og næring") beats a sentence that
            # only repeats the question's words.
            key = (fits, value) if kind in CHECKED_KINDS else (named, fits, value) if several else (value,)
            if best is None or key > best[0]:
                best = (key, span, fits)
        if kind == "list" and sections:
            # A section whose heading announces the items and restates the question ("Hvilke
            # typiske målkonflikter finnes i en mellomstor by?" under "Tre typiske spenninger i en
            # mellomstor by", "Hva er de fire læringspunktene?" under "Fire læringspunkter")
            # answers with its items, like instances named: paragraphs that open with a bold
            # lead-in, or a list, which no sentence announces (`heading_items`).
            focus = focus_stems(question)
            for hit_index, heading in enumerate(sections):
                items = heading_items(units, hit_index, heading) if focus else []
                if not items:
                    continue
                heading_stems = set(stems(heading))
                if sum(covered(st, heading_stems) for st in focus) * 2 < len(focus):
                    continue
                value = max(u.score for u in items) + 2 * self.config.answer_kind_bonus  # fits, and named
                key = (True, True, value) if several else (value,)
                if best is None or key > best[0]:
                    best = (key, items, True)
        assert best is not None
        return best[1], best[2]

    def gap(self, question: str, lang: str, hits: list[Hit], units: list[Unit], lead_fits: bool) -> Gap | None:
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
        if lang == "en" or max(u.similarity for u in units) >= self.config.answer_focus_confident_similarity:
            return None
        # The material: every sentence of the retrieved chunks, and their titles and headings.
        texts = [" ".join((h.chunk.meta.title, *h.chunk.heading_path)) for h in hits]
        texts += [u.text for u in units]
        texts += [x for h in hits for x in contents_sentences(h.chunk.text)]  # "Dette dokumentet beskriver …"
        focus = missing_focus(question, texts, weight=self.retriever.idf)
        if focus.missing and focus.share >= self.config.answer_focus_max_share:
            # A verb is not echoed back ("sier ikke noe om finansierte"): the answer says it in general.
            word = focus.missing[0]
            if word == main_verb(question):  # "Materialet sier ikke hvor samlingene ble holdt."
                return Gap(clause=indirect_question(question))
            return Gap(kind="any") if word == finite_verb(question) else Gap(word=focus_phrase(question, word))
        return None

    def refusal_text(self, query: str, lang: str) -> str:
        near = self.retriever.search(query, k=8, apply_floor=False)
        titles = list(dict.fromkeys(h.chunk.meta.title for h in near if h.chunk.meta.kind != "question"))[:3]
        text = tr(lang, "answer.refuse")
        if titles:
            text += " " + tr(lang, "answer.nearest", titles="; ".join(f"«{x}»" for x in titles))
        return f"{text} {tr(lang, 'answer.try')}"
