"""Builds the engine's parts for one settings object: the one place that wires them.

Nothing is loaded until asked: the embedder, the store, the retriever, the configured language
model (None for the extractive default) and the answer engine are each built once, on first use.
Each part gets the small config derived from the settings here (`StoreConfig`,
`RetrievalConfig`, `AnswerConfig`; the model's `LLMConfig` by `build_chat_model`), never the
settings themselves. Entry points (the CLI, the web app, the eval runner, the benchmarks) ask
the runtime instead of constructing the parts themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from assistant.core.answer import AnswerConfig, AnswerEngine
from assistant.core.embeddings import Embedder, build_embedder
from assistant.core.llm import ChatModel, build_chat_model
from assistant.core.retrieval import RetrievalConfig, Retriever
from assistant.core.settings import Settings
from assistant.core.snapshot import RetrievalSnapshot
from assistant.core.store import ChromaStore, StoreConfig
from assistant.core.vectorstore import VectorStore

_UNSET = object()


@dataclass
class Runtime:
    settings: Settings
    embedder: Embedder
    store: VectorStore  # ChromaStore from settings; tests may pass an InMemoryStore
    _retriever: Retriever | None = field(default=None, repr=False)
    _chat_model: object = field(default=_UNSET, repr=False)  # ChatModel | None once built
    _engine: AnswerEngine | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, embedder: Embedder | None = None, chat_model: object = _UNSET) -> "Runtime":
        """`chat_model` given (a model, or None for the extractive backend) replaces the one the
        settings configure: for the eval runner and tests."""
        store = ChromaStore(StoreConfig.from_settings(settings))
        return cls(settings=settings, embedder=embedder or build_embedder(settings), store=store, _chat_model=chat_model)

    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:
            self._retriever = Retriever(
                RetrievalConfig.from_settings(self.settings), self.store, self.embedder,
                snapshot=RetrievalSnapshot.from_settings(self.settings),
            )
        return self._retriever

    @property
    def chat_model(self) -> ChatModel | None:
        """The configured language model, or None for the extractive default. Raises LLMError
        when the settings name a backend that cannot be built (a missing GGUF file, say)."""
        if self._chat_model is _UNSET:
            self._chat_model = build_chat_model(self.settings)
        return self._chat_model  # type: ignore[return-value]

    @property
    def engine(self) -> AnswerEngine:
        if self._engine is None:
            self._engine = AnswerEngine(AnswerConfig.from_settings(self.settings), self.retriever, self.embedder, self.chat_model)
        return self._engine
