"""A facilitator's preparation of a gathering: material, discussion questions and one reflection
question per stage, for a theme and optionally a gathering number.

Kept apart from the participant's conversation flow (`assistant.app.chat`): it reads the index and
the question bank, and writes nothing. The rules are general: questions are ranked by how close
they are to the theme (not by which question document the search found first), snippets end
where a sentence ends, and what the material marks for the named gathering says so and comes first.

Every item says where it comes from (assistant/core/provenance.py), and the discussion questions
come in groups by provenance, each under its own heading: the programme's own questions first, then
the suggestions written for this assistant, so that a facilitator never puts an added question to
a gathering as if the programme had asked it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.core.answer import AnswerEngine
from assistant.core.i18n import tr
from assistant.core.provenance import PROVENANCES, provenance_label
from assistant.core.records import REFLECTION_STAGES, Chunk
from assistant.core.retrieval import Retriever, per_document
from assistant.core.selection import sentence_texts, units_of
from assistant.core.text import split_sentences, stems, strip_emphasis

MATERIAL_ITEMS = 6
DISCUSSION_ITEMS = 5  # the programme's own questions, at most
SUGGESTION_ITEMS = 3  # questions of each other provenance (written for the assistant, from the literature), at most
SNIPPET_CHARS = 260
# At most this many sections of one document in the material list, so that one long text does not fill it.
PER_DOCUMENT = 3
# Each shared word stem with the theme adds this to a question's cosine (as the question bank does):
# a question that names the theme's own words beats one that is only near it in meaning.
STEM_BONUS = 0.05
_INITIAL_END = re.compile(r"(?:^|\s)[A-ZÆØÅ]\.$")


@dataclass(frozen=True)
class RankedQuestion:
    """A question from the bank, the chunk it was written in (for its title and gathering), and how
    close it is to the theme."""

    text: str
    chunk: Chunk
    score: float


class GatheringPlanner:
    """Builds the Markdown plan for a gathering from the index (`retriever`) and the engine's
    sentence scorer and question bank (`engine`)."""

    def __init__(self, retriever: Retriever, engine: AnswerEngine) -> None:
        self.retriever = retriever
        self.engine = engine

    def prepare(self, theme: str, *, gathering: int | None = None, lang: str = "nb") -> str:
        """The plan as Markdown. `theme` is already cleaned by the caller."""
        reflection = self._reflection_questions(theme, lang)
        material = self._material(theme, gathering)
        out = [f"# {tr(lang, 'prep.title', theme=theme)}", ""]
        if gathering:
            marked = any(for_gathering(c, gathering) for c in material)
            key = "prep.gathering" if marked else "prep.gathering_none"
            out += [tr(lang, key, n=gathering), ""]
        out += [f"## {tr(lang, 'prep.material')}", ""]
        for chunk in material:
            where = chunk.locator(lang)
            out.append(f"- {badge(chunk, gathering, lang)}**{chunk.meta.title}**{', ' + where if where else ''} "
                       f"· {provenance_label(lang, chunk.provenance)} ({chunk.meta.source}): {snippet(chunk.text)}")
        out += ["", f"## {tr(lang, 'prep.discussion')}", ""]
        taken = {q.casefold() for (q, _), _stage in reflection}
        for provenance, questions in self.discussion_groups(theme, exclude=taken).items():
            if not questions and provenance != "programme":
                continue
            out += [f"### {tr(lang, f'prep.discussion_{provenance}')}", ""]
            if not questions:
                out += [tr(lang, "prep.discussion_none"), ""]
            for q in questions:
                out.append(f"- {badge(q.chunk, gathering, lang)}{q.text} ({q.chunk.meta.title})")
            out.append("")
        out.pop()
        out += ["", f"## {tr(lang, 'prep.reflection')}", ""]
        for (q, chunk), stage in reflection:
            out.append(f"- *{tr(lang, f'stage.{stage}')}* {badge(chunk, gathering, lang)}{q} "
                       f"({chunk.meta.source}; {provenance_label(lang, chunk.provenance)})")
        return "\n".join(out) + "\n"

    def _material(self, theme: str, gathering: int | None) -> list[Chunk]:
        """The best passages, one per section and a few per document; the named gathering's first,
        each group in search order."""
        # A named gathering looks a little deeper, so that its own material near the theme is found.
        k = 2 * MATERIAL_ITEMS if gathering else 8
        hits = self.retriever.search(theme, k=k, kinds=("programme", "leadership"), apply_floor=False)
        section = lambda h: f"{h.chunk.meta.source}#{h.chunk.section}"  # noqa: E731
        chosen = [h.chunk for h in per_document(hits, PER_DOCUMENT, distinct=section)]
        if gathering:
            chosen.sort(key=lambda c: not for_gathering(c, gathering))  # stable: search order within each group
        return chosen[:MATERIAL_ITEMS]

    def discussion_groups(self, theme: str, *, exclude: frozenset[str] | set[str] = frozenset()) -> dict[str, list[RankedQuestion]]:
        """The discussion questions closest to the theme, by provenance, in the order the plan shows
        them: the programme's own (up to DISCUSSION_ITEMS), then those of every other provenance
        (up to SUGGESTION_ITEMS each), each group in the order `discussion_questions` ranks."""
        ranked = self._ranked_questions(theme, exclude)
        return {
            provenance: [r for r in ranked if r.chunk.provenance == provenance][
                : DISCUSSION_ITEMS if provenance == "programme" else SUGGESTION_ITEMS
            ]
            for provenance in PROVENANCES
        }

    def discussion_questions(self, theme: str, *, n: int, exclude: frozenset[str] | set[str] = frozenset()) -> list[RankedQuestion]:
        """The question bank's `n` questions closest to the theme, from every question document.

        Each question is compared with the theme as ingest embedded it (with its section heading),
        so the ranking is by meaning plus shared words, never by which document a search found
        first: a theme about land use gets the land-use questions, wherever they are written."""
        return self._ranked_questions(theme, exclude)[:n]

    def _ranked_questions(self, theme: str, exclude: frozenset[str] | set[str]) -> list[RankedQuestion]:
        """Every question of the question documents, closest to the theme first, each once."""
        pool: list[tuple[str, str, Chunk]] = []  # (question, embedded text, chunk)
        counts: dict[str, int] = {}
        for chunk in self.retriever.chunks.values():
            if chunk.meta.kind != "question":
                continue
            texts = sentence_texts(chunk)
            counts[chunk.id] = len(texts)
            for unit, embedded in zip(units_of(chunk.text, 0, chunk.meta.language), texts):
                if unit.text.endswith("?") and len(unit.text.split()) >= 4 and unit.text.casefold() not in exclude:
                    pool.append((unit.text, embedded, chunk))
        if not pool:
            return []
        sims = self.engine.scorer.similarities(theme, [e for _, e, _ in pool], counts)
        theme_stems = set(stems(theme))
        ranked = sorted(
            (RankedQuestion(q, c, float(s) + STEM_BONUS * len(theme_stems & set(stems(q)))) for (q, _, c), s in zip(pool, sims)),
            key=lambda r: -r.score,
        )
        out: list[RankedQuestion] = []
        seen: set[str] = set()
        for r in ranked:
            if r.text.casefold() not in seen:
                seen.add(r.text.casefold())
                out.append(r)
        return out

    def _reflection_questions(self, theme: str, lang: str) -> list[tuple[tuple[str, Chunk], str]]:
        """One question per stage, as the participants' reflection would ask it, in the
        preparation's language where the bank has it."""
        return [(picked, stage) for stage in REFLECTION_STAGES
                for picked in self.engine.reflection_questions(theme, stage=stage, n=1, language=lang)]


def for_gathering(chunk: Chunk, gathering: int | None) -> bool:
    return bool(gathering) and gathering in chunk.meta.gathering


def badge(chunk: Chunk, gathering: int | None, lang: str) -> str:
    """"(samling 3) " before an item the material marks for the named gathering, else nothing."""
    return f"({tr(lang, 'prep.badge', n=gathering)}) " if for_gathering(chunk, gathering) else ""


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The passage's opening whole sentences, up to about `limit` characters (a little more when
    the first sentence alone would be a stub), then " …" if the passage goes on.

    A first sentence far longer than that is cut after its last whole word; nothing else is cut,
    so a snippet never stops mid-word or mid-sentence."""
    sentences = _whole_sentences(text)
    if not sentences:
        return ""
    out = [sentences[0]]
    for sentence in sentences[1:]:
        size = len(" ".join([*out, sentence]))
        if size > limit and not (len(" ".join(out)) < limit // 2 and size <= limit * 1.6):
            break
        out.append(sentence)
    shown = " ".join(out)
    if len(shown) > limit * 1.6:
        return shown[: limit + 1].rsplit(" ", 1)[0].rstrip(",;:–-") + " …"
    return shown + (" …" if len(out) < len(sentences) else "")


def _whole_sentences(text: str) -> list[str]:
    """Sentences and list items as plain text, headings left out. A piece that ends in an
    initial ("Tom R.") is joined with the next: the splitter takes the initial's dot for an end."""
    prose = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    pieces = [" ".join(strip_emphasis(s).lstrip("-*+ ").split()) for s in split_sentences(prose)]
    out: list[str] = []
    for piece in filter(None, pieces):
        if out and _INITIAL_END.search(out[-1]):
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return out
