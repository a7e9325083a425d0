"""A vector store in this process's memory: the `VectorStore` contract (assistant/core/vectorstore.py)
without Chroma.

For unit tests and throwaway runs. Nothing is written to disk, and an index lives as long as the
`InMemoryStore` instance that holds it: two instances never share one, and neither do two
processes. Give ingest and the retriever the same instance.

Records are kept as Chroma keeps them, through the same codec (`chunk_to_metadata` and
`chunk_from_record` in assistant/core/store.py), so the chunks read back equal what was written
and what `ChromaStore` returns; a write merges metadata as Chroma's does. Search is exact: cosine
similarity over L2-normalised vectors with numpy (Chroma's HNSW search is approximate, which only
shows on large indexes). Every call holds one lock, so threads may share an instance.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from assistant.core.records import Chunk
from assistant.core.settings import Settings
from assistant.core.store import (
    ModelMismatchError,
    StoreError,
    chunk_from_record,
    chunk_to_metadata,
    indexed_files_of,
    missing_index_message,
    model_mismatch_message,
)
from assistant.core.vectorstore import DenseMatch, IndexedFile


@dataclass
class _ChunkRecord:
    text: str
    metadata: dict
    unit: np.ndarray  # the vector scaled to length 1 (zeros stay zeros: similarity 0 to anything)


@dataclass
class _Index:
    model_id: str
    dim: int
    revision: int = 0
    id: str = field(default_factory=lambda: uuid.uuid4().hex)  # new for every index created
    chunks: dict[str, _ChunkRecord] = field(default_factory=dict)  # in write order, as Chroma reads them
    sentences: dict[str, dict[int, tuple[str, np.ndarray]]] = field(default_factory=dict)  # chunk id -> n -> (text, vector)
    _matrix: tuple[list[str], np.ndarray, np.ndarray] | None = None  # ids, unit vectors, kinds: rebuilt after a write

    def matrix(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        if self._matrix is None:
            ids = list(self.chunks)
            records = [self.chunks[i] for i in ids]
            vectors = np.stack([r.unit for r in records]) if records else np.zeros((0, self.dim), dtype=np.float32)
            kinds = np.asarray([r.metadata.get("kind", "") for r in records], dtype=object)
            self._matrix = (ids, vectors, kinds)
        return self._matrix


def _rows(vectors: np.ndarray, count: int, dim: int, what: str) -> np.ndarray:
    rows = np.asarray(vectors, dtype=np.float32).reshape(-1, dim) if count else np.zeros((0, dim), dtype=np.float32)
    if rows.shape != (count, dim):
        raise ValueError(f"{what}: expected {count} vectors of dimension {dim}, got an array of shape {np.shape(vectors)}")
    return rows


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm).astype(np.float32) if norm > 0 else np.zeros_like(vector, dtype=np.float32)


class InMemoryStore:
    """One index (chunks and their sentence vectors) in this process's memory (`VectorStore`)."""

    def __init__(self, collection: str = Settings.model_fields["collection"].default) -> None:
        self.collection_name = collection  # only named in error messages
        self._index: _Index | None = None
        self._open = False
        self._lock = threading.RLock()

    # -- the index -----------------------------------------------------------------------
    def open(self, model_id: str, dim: int, *, create: bool) -> None:
        with self._lock:
            index = self._index
            if index is None:
                if not create:
                    raise StoreError(missing_index_message(self.collection_name))
                index = _Index(model_id=model_id, dim=dim)
            elif index.model_id != model_id:
                raise ModelMismatchError(model_mismatch_message(self.collection_name, index.model_id, model_id))
            self._index = index
            self._open = True

    def drop(self) -> None:
        with self._lock:
            self._index = None
            self._open = False

    def _opened(self) -> _Index:
        if not self._open or self._index is None:
            raise StoreError("The store is not open; call open() first.")
        return self._index

    # -- reading -------------------------------------------------------------------------
    def count(self) -> int:
        with self._lock:
            return len(self._opened().chunks)

    def revision(self) -> int:
        with self._lock:
            return self._opened().revision

    def index_id(self) -> str:
        with self._lock:
            return self._opened().id

    def bump_revision(self) -> int:
        with self._lock:
            index = self._opened()
            index.revision += 1
            return index.revision

    def indexed_files(self) -> dict[str, IndexedFile]:
        with self._lock:
            return indexed_files_of((i, r.metadata) for i, r in self._opened().chunks.items())

    def all_chunks(self) -> list[Chunk]:
        with self._lock:
            return [chunk_from_record(i, r.text, r.metadata) for i, r in self._opened().chunks.items()]

    def query(self, vector: np.ndarray, n: int, kinds: tuple[str, ...] = ()) -> list[DenseMatch]:
        with self._lock:
            index = self._opened()
            if not index.chunks or n <= 0:
                return []
            ids, vectors, kind_of = index.matrix()
            similarities = vectors @ _unit(np.asarray(vector, dtype=np.float32).reshape(-1))
            rows = np.flatnonzero(np.isin(kind_of, list(kinds))) if kinds else np.arange(len(ids))
            best = rows[np.argsort(-similarities[rows], kind="stable")[:n]]
            return [DenseMatch(ids[i], float(similarities[i])) for i in best]

    # -- writing -------------------------------------------------------------------------
    def upsert(self, chunks: list[Chunk], vectors: np.ndarray, file_key: str) -> None:
        if not chunks:
            return
        with self._lock:
            index = self._opened()
            rows = _rows(vectors, len(chunks), index.dim, "upsert")
            for chunk, row in zip(chunks, rows):
                old = index.chunks.get(chunk.id)
                metadata = {**(old.metadata if old else {}), **chunk_to_metadata(chunk, file_key)}
                index.chunks[chunk.id] = _ChunkRecord(chunk.text, metadata, _unit(row))
            index._matrix = None

    def update_metadata(self, chunks: list[Chunk], file_key: str) -> None:
        if not chunks:
            return
        with self._lock:
            index = self._opened()
            for chunk in chunks:
                old = index.chunks.get(chunk.id)
                if old is not None:
                    old.metadata = {**old.metadata, **chunk_to_metadata(chunk, file_key)}
            index._matrix = None  # the kind may have changed

    def delete(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        if not ids:
            return
        with self._lock:
            index = self._opened()
            for chunk_id in ids:
                index.chunks.pop(chunk_id, None)
            index._matrix = None

    # -- sentence vectors ------------------------------------------------------------------
    def upsert_sentences(self, chunk_ids: list[str], texts: list[list[str]], vectors: np.ndarray) -> None:
        with self._lock:
            index = self._index
            if index is None or not chunk_ids:
                return
            rows = _rows(vectors, sum(len(t) for t in texts), index.dim, "upsert_sentences")
            k = 0
            for chunk_id, sentences in zip(chunk_ids, texts):
                stored = index.sentences.setdefault(chunk_id, {})
                for n, text in enumerate(sentences):
                    stored[n] = (text, rows[k].copy())
                    k += 1

    def sentence_vectors(self, sentences_per_chunk: dict[str, int]) -> dict[str, np.ndarray]:
        with self._lock:
            index = self._index
            if index is None:
                return {}
            out: dict[str, np.ndarray] = {}
            for chunk_id, count in sentences_per_chunk.items():
                stored = index.sentences.get(chunk_id, {})
                for n in range(count):
                    if n in stored:
                        text, vector = stored[n]
                        out[text] = vector.copy()
            return out

    def all_sentence_vectors(self) -> Iterator[tuple[list[str], list[str], np.ndarray]]:
        with self._lock:
            index = self._index
            if index is None:
                return
            records = [(f"{cid}:{n}", text, vector) for cid, stored in index.sentences.items()
                       for n, (text, vector) in stored.items()]
        if records:
            yield [r[0] for r in records], [r[1] for r in records], np.stack([r[2] for r in records]).astype(np.float32)

    def delete_sentences(self, chunk_ids: Iterable[str]) -> None:
        with self._lock:
            index = self._index
            if index is None:
                return
            for chunk_id in chunk_ids:
                index.sentences.pop(chunk_id, None)
