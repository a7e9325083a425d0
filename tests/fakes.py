"""Stand-ins for the real components, for unit tests of the logic around them: an embedder and a
chat model. The real ones have their own integration tests. (The in-memory vector store is no
fake: it is assistant/core/memory_store.py, held to the same contract as Chroma.)"""

from __future__ import annotations

import hashlib

import numpy as np

import assistant.core.environment  # noqa: F401  (before any third-party import)

from assistant.core.llm import ChatMessage, LLMError  # noqa: E402
from assistant.core.text import stems  # noqa: E402


class FakeEmbedder:
    """Bag of stemmed words hashed into 256 dimensions: similar words, similar vectors."""

    model_id = "fake/hash-256"
    dim = 256

    def __init__(self) -> None:
        self.passages_embedded = 0

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for token in stems(text) or ["\u2205"]:
            v[int(hashlib.md5(token.encode()).hexdigest(), 16) % self.dim] += 1.0
        return v / np.linalg.norm(v)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._vec(t) for t in texts])

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        self.passages_embedded += len(texts)
        return np.stack([self._vec(t) for t in texts])

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 2


class FakeChatModel:
    """Plays a model: replies from a queue, records every call."""

    name = "fake:model"

    def __init__(self, *replies: str, error: str | None = None) -> None:
        self.replies = list(replies)
        self.error = error
        self.calls: list[list[ChatMessage]] = []

    def stream(self, messages):
        self.calls.append(list(messages))
        if self.error:
            raise LLMError(self.error)
        reply = self.replies.pop(0) if self.replies else "Ingen svar."
        for i in range(0, len(reply), 7):
            yield reply[i : i + 7]
