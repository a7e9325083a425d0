"""The HTTP API's request and response records (`assistant/web/api.py`, docs/api.md).

The chat records follow OpenAI's wire format for `/v1/chat/completions` closely enough that the
`openai` client, Open WebUI and evaluation harnesses read them unchanged; what the assistant adds
lives in one namespaced extension object, `byledelse`, so no field of ours can collide with one
OpenAI adds later. Requests may carry `byledelse` too (the mode's stage, the interface language,
`store`); unknown OpenAI parameters (`temperature`, `max_tokens`, `user` …) are accepted and
ignored, because the answer is composed from the material, not sampled.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from assistant.core.records import Answer, Chunk, Citation

MODELS: dict[str, str] = {
    "byledelse-qa": "qa",
    "byledelse-reflect": "reflect",
}
MODEL_DESCRIPTIONS: dict[str, str] = {
    "byledelse-qa": "Questions and answers: a cited answer from the programme material, or a refusal when it does not cover the question.",
    "byledelse-reflect": "Guided reflection: mirrors your words, brings one or two cited insights, points to the text they came from, and asks one question for the stage.",
}


class ApiRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContentPart(BaseModel):
    """One part of a message's content (OpenAI's array form); only text parts are read."""

    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "\n".join(p.text or "" for p in self.content if p.type == "text")
        return self.content or ""


class ChatOptions(ApiRecord):
    """The request's extension object, `byledelse`."""

    store: bool = Field(False, description="Save the question and answer in the key owner's journal. Off by default: API conversations are stored nowhere.")
    conversation_id: str | None = Field(None, description="With `store`: continue this conversation of the key's owner instead of starting a new one.")
    language: Literal["nb", "nn", "en"] | None = Field(None, description="Language of the framing (refusals, 'the material does not say', headings). Default: the question's.")
    stage: Literal["where_are_we", "where_to", "how_to_get_there", "what_it_asks_of_me", "next_step"] | None = Field(
        None, description="byledelse-reflect: the reflection stage whose question to ask next."
    )
    kinds: list[str] = Field(default_factory=list, description="Search only these kinds of document: programme, leadership, question.")
    include_answer: bool = Field(False, description="Also return the whole answer record and the chunks it was built from (what `assistant eval --endpoint` scores).")


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, max_tokens, user … are accepted and ignored
    model: str = Field(description="A mode of the assistant: byledelse-qa or byledelse-reflect (GET /v1/models).")
    messages: list[ChatMessageIn] = Field(min_length=1, description="The conversation; the last message is the user's question. System messages are ignored: the grounding rules are the assistant's own.")
    stream: bool = False
    byledelse: ChatOptions = Field(default_factory=ChatOptions)


class Extension(ApiRecord):
    """What the assistant adds to a completion (`byledelse` on the response and on the final
    stream chunk)."""

    mode: str
    language: str
    citations: list[Citation] = Field(description="The sources the answer's [n] marks refer to, with document, page or section and the passage.")
    refused: bool = Field(description="The answer does not answer the question from the material: it says so (and `declined` tells how). Clients that show one flag show this one.")
    declined: bool = Field(description="With `refused`: the material is near but does not say what was asked (a budget, a figure, a focus word); the message says so first, then shows the nearest material. False with `refused`: nothing in the material is near; the message names the nearest topics.")
    backend: str
    stored: bool = Field(False, description="The turn was saved in the key owner's journal.")
    conversation_id: str | None = None
    answer: Answer | None = Field(None, description="With `include_answer`: the whole answer record.")
    chunks: list[Chunk] | None = Field(None, description="With `include_answer`: the chunks the search returned, in rank order, and those a reflection question came from.")


class AssistantMessage(ApiRecord):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(ApiRecord):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"


class ChatCompletion(ApiRecord):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    byledelse: Extension


class Delta(ApiRecord):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(ApiRecord):
    index: int = 0
    delta: Delta
    finish_reason: Literal["stop"] | None = None


class ChatCompletionChunk(ApiRecord):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    byledelse: Extension | None = Field(None, description="On the final chunk only.")


class ModelCard(ApiRecord):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "byledelse"
    description: str = ""


class ModelList(ApiRecord):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class SearchRequest(ApiRecord):
    query: str = Field(description="The question or search words, in bokmål or English.")
    k: int = Field(5, ge=1, le=50, description="Hits to return.")
    kinds: list[str] = Field(default_factory=list, description="Only these kinds of document.")
    mode: Literal["hybrid", "dense", "lexical"] = "hybrid"


class SearchHit(ApiRecord):
    rank: int
    score: float = Field(description="Fused score; higher is better.")
    dense: float | None = Field(None, description="Cosine similarity to the query, when known.")
    lexical: float | None = Field(None, description="BM25 score, when the chunk matched lexically.")
    id: str
    source: str = Field(description="The document's path in the corpus (uploads under opplastet/).")
    title: str
    kind: str
    language: str
    page: int | None = None
    slide: int | None = None
    section: str = ""
    locator: str = Field(description="Where in the document: page, slide or section, as a citation shows it.")
    text: str
    provenance: str = Field(description="Where the passage comes from: programme, literature or assistant (docs/retrieval.md).")


class SearchResponse(ApiRecord):
    object: Literal["search.result"] = "search.result"
    query: str
    hits: list[SearchHit]


class IngestResponse(ApiRecord):
    object: Literal["ingest.report"] = "ingest.report"
    files: list[str] = Field(description="The uploaded files as stored (safe base names under opplastet/<kind>/).")
    report: dict[str, Any] = Field(description="The ingest report, as `assistant ingest --json` prints it.")


class ComponentStatus(ApiRecord):
    ok: bool
    detail: str = ""


class Health(ApiRecord):
    object: Literal["health"] = "health"
    ok: bool
    index: dict[str, Any] = Field(description="chunks, documents, fingerprint (as the eval report names the corpus), embedding model.")
    embedder: ComponentStatus
    store: ComponentStatus
    model: ComponentStatus = Field(description="The answer backend: extractive (no model) or a model server.")
    engine: dict[str, Any] = Field(description="What a remote evaluator needs to score as in-process: backend, answer_chunks.")
    auth: Literal["api_key", "local"]
