"""Wires the components for one settings object. Nothing is loaded until asked."""

from __future__ import annotations

from dataclasses import dataclass, field

from assistant.core.embeddings import Embedder, build_embedder
from assistant.core.retrieval import Retriever
from assistant.core.settings import Settings
from assistant.core.store import ChromaStore
from assistant.core.vectorstore import VectorStore


@dataclass
class Runtime:
    settings: Settings
    embedder: Embedder
    store: VectorStore  # ChromaStore from settings; tests may pass an InMemoryStore
    _retriever: Retriever | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, embedder: Embedder | None = None) -> "Runtime":
        return cls(settings=settings, embedder=embedder or build_embedder(settings), store=ChromaStore(settings))

    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:
            self._retriever = Retriever(self.settings, self.store, self.embedder)
        return self._retriever
