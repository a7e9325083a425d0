"""Typed records that cross module boundaries.

documents -> chunks -> hits -> citations -> answers. Everything the CLI prints
with --json is one of these, dumped by pydantic.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from assistant.core.i18n import tr
from assistant.core.provenance import DEFAULT_PROVENANCE, Provenance, fallback_provenance

REFLECTION_STAGES: tuple[str, ...] = (
    "where_are_we",
    "where_to",
    "how_to_get_there",
    "what_it_asks_of_me",
    "next_step",
)


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DocumentMeta(Record):
    """What a file says about itself (front matter, or defaults from its folder)."""

    source: str  # path relative to the corpus folder, with forward slashes
    title: str
    kind: str
    language: str = "nb"
    tags: tuple[str, ...] = ()
    gathering: tuple[int, ...] = ()
    stage: tuple[str, ...] = ()
    summary: str = ""
    # False: only the question bank reads the document (a reflection stage's questions in a second
    # language, asked to a participant who writes it); search, answers and the facilitator's
    # material leave it out, so a query in that language is not drawn to the prompts over the
    # material they are about.
    searchable: bool = True


class Section(Record):
    """A piece of a document with one locator: a Markdown/Word section, a PDF page or a slide."""

    text: str
    heading_path: tuple[str, ...] = ()
    page: int | None = None
    slide: int | None = None
    provenance: Provenance = Field(DEFAULT_PROVENANCE, description="Where the text comes from (assistant/core/provenance.py).")


def _provenance_from_kind(data: Any, kind: object) -> Any:
    """A record written before records carried provenance (an old index, a journal's citations):
    its kind decides (`fallback_provenance`). A value that is there is validated as it is."""
    if isinstance(data, dict) and not data.get("provenance"):
        data = {**data, "provenance": fallback_provenance(str(kind or ""))}
    return data


class Chunk(Record):
    id: str
    text: str
    meta: DocumentMeta
    heading_path: tuple[str, ...] = ()
    page: int | None = None
    slide: int | None = None
    position: int = 0
    content_hash: str
    file_hash: str
    provenance: Provenance = Field(description="Its section's provenance; never two in one chunk. Missing: from the kind.")

    @model_validator(mode="before")
    @classmethod
    def _old_records(cls, data: Any) -> Any:
        meta = data.get("meta") if isinstance(data, dict) else None
        return _provenance_from_kind(data, meta.get("kind") if isinstance(meta, dict) else getattr(meta, "kind", ""))

    @property
    def section(self) -> str:
        return " > ".join(self.heading_path)

    def locator(self, lang: str = "nb") -> str:
        """Human label for where the chunk sits: slide, page or section."""
        if self.slide is not None:
            return tr(lang, "where.slide", n=self.slide)
        if self.page is not None:
            return tr(lang, "where.page", n=self.page)
        return self.section


class Hit(Record):
    chunk: Chunk
    score: float = Field(description="Fused score; higher is better.")
    dense: float | None = Field(None, description="Cosine similarity to the query, when known.")
    lexical: float | None = Field(None, description="BM25 score, when the chunk matched lexically.")
    rank: int = 0


class Citation(Record):
    number: int
    source: str
    title: str
    kind: str
    locator: str
    page: int | None = None
    section: str = ""
    passage: str
    provenance: Provenance = Field(description="Where the passage comes from; the interface says it with the source.")

    @model_validator(mode="before")
    @classmethod
    def _old_records(cls, data: Any) -> Any:
        return _provenance_from_kind(data, data.get("kind") if isinstance(data, dict) else "")


class Timings(Record):
    retrieval_ms: float = 0.0
    generation_ms: float = 0.0
    total_ms: float = 0.0


class Insight(Record):
    """A sentence from the material that a reflection turn offered, and the number of its source
    among the answer's citations. Stored with the turn, so that the summary and the no-repeat
    rule read data, not the rendered text."""

    text: str = Field(description="The sentence as shown, without citation marks.")
    number: int = Field(description="Its source's number in the answer's citations.")
    kind: Literal["sentence", "reading"] = Field(
        "sentence",
        description="A sentence of the material, or `reading`: the summary of the text the turn's first insight came "
        "from, offered as what to read next (never offered twice in one conversation).",
    )


class Answer(Record):
    question: str
    mode: str
    language: str
    text: str
    body: str = Field(
        "",
        description="The answer's own statements as shown (with [n] marks): no framing line, no mirrored user "
        "text, no refusal boilerplate or nearest titles, no source list. What the evals score for facts.",
    )
    citations: tuple[Citation, ...] = ()
    refused: bool = False
    declined: bool = Field(
        False, description="Answered that the material does not say what was asked (a focus word or the kind of answer is missing), with the nearest material."
    )
    backend: str = "extractive"
    removed_citations: tuple[int, ...] = ()
    sentences: int = 0
    cited_sentences: int = 0
    reflection_questions: tuple[str, ...] = ()
    insights: tuple[Insight, ...] = Field((), description="Reflect mode: the material's sentences offered, with their source numbers.")
    mirror: str = Field("", description="Reflect mode: the participant's own words quoted back (extractive), as data.")
    error: str | None = Field(None, description="Set when the model backend failed; text says what to do.")
    verified_share: float | None = Field(None, description="Model backends: share of the model's sentences the cited sources support.")
    unverified: tuple[str, ...] = Field((), description="Model sentences not shown (or shown marked) because the sources do not support them.")
    fallback: bool = Field(False, description="The model's answer could not be checked; the extractive answer is shown instead.")
    timings: Timings = Timings()
    retrieved: tuple[str, ...] = Field((), description="Ids of the chunks the search for this question returned.")
    asked_from: tuple[str, ...] = Field(
        (), description="Reflect mode: ids of the question-bank chunks the next question was taken from (a second, stage-filtered search)."
    )


def passage_text(chunk: Chunk) -> str:
    """What is embedded and indexed for a chunk: its title and section give it context."""
    head = " — ".join(p for p in (chunk.meta.title, chunk.section) if p)
    return f"{head}\n\n{chunk.text}" if head else chunk.text
