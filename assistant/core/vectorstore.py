"""What the engine needs from a vector store: the `VectorStore` protocol and the values it returns.

Two implementations keep this contract (tests/test_store_contract.py runs the same test against
both): `assistant.core.store.ChromaStore`, the index the app uses (embedded or a Chroma server),
and `assistant.core.memory_store.InMemoryStore`, for unit tests and throwaway runs. Retrieval,
ingest and the runtime are typed against the protocol, never against Chroma.

An index is two sets of records under one name: chunks (text, metadata, one vector each) and the
sentence vectors of those chunks (`assistant/core/selection.py`). Every vector of an index comes
from one embedding model, recorded when the index is created. The store never embeds anything:
callers pass vectors (rows of a float array, one per record, all of the index's dimension).

Failures are `assistant.core.store.StoreError` (the store cannot be reached or used; the message
says what to do) and its subclass `ModelMismatchError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from assistant.core.records import Chunk


@dataclass(frozen=True)
class DenseMatch:
    """A chunk found by vector search: its id and cosine similarity to the query (1.0 = same direction)."""

    id: str
    similarity: float


@dataclass(frozen=True)
class IndexedFile:
    """What the index holds for one source file: the file key its chunks were written with ("" when
    they carry more than one, i.e. a write was interrupted and the file must be redone) and their ids."""

    file_key: str
    ids: frozenset[str]


@runtime_checkable
class VectorStore(Protocol):
    """One index of chunks and sentence vectors, built with one embedding model.

    The chunk methods (all but `drop` and the four sentence methods) need `open()` first and
    raise `StoreError` on a store that is not open. The sentence methods work on whatever the
    index holds without `open()`. Ids are the callers' (`Chunk.id`); writing an id that is there
    replaces its record.
    """

    def open(self, model_id: str, dim: int, *, create: bool) -> None:
        """Open the index for chunk reads and writes.

        `create=True` creates it (empty, revision 0, with its sentence records) when it does not
        exist and keeps what it holds when it does; `create=False` raises `StoreError` (whose
        message says to run `assistant ingest`) when there is none. Either way, an index built
        with another `model_id` raises `ModelMismatchError` (the message says to rebuild), and
        nothing is changed."""
        ...

    def drop(self) -> None:
        """Delete the index, chunks and sentences, if there is one (no error if not). The store is
        closed afterwards: `open(..., create=True)` starts a new, empty index at revision 0."""
        ...

    def count(self) -> int:
        """The number of chunks."""
        ...

    def revision(self) -> int:
        """The index's revision as stored now: 0 when created, one more with each `bump_revision()`.
        Readers compare it with the one they loaded to notice another writer's changes; a store
        shared between processes (Chroma) re-reads it on every call."""
        ...

    def index_id(self) -> str:
        """Which index this is, as stored now: a value fixed when the index is created and new after
        `drop()` and a new `open(create=True)` (Chroma: the collection's id), so that a reader can
        tell a rebuilt index from the one it loaded even when both are at the same revision. Like
        `revision()`, a store shared between processes re-reads it on every call."""
        ...

    def bump_revision(self) -> int:
        """Add one to the revision (after a writer's changes are complete) and return the new value."""
        ...

    def indexed_files(self) -> dict[str, IndexedFile]:
        """Source -> the file key and chunk ids indexed for it ({} for an empty index). A source whose
        chunks carry different file keys gets file key "" (so that ingest redoes it)."""
        ...

    def all_chunks(self) -> list[Chunk]:
        """Every chunk, equal (`==`) to the `Chunk` that was written (no vectors); order unspecified."""
        ...

    def query(self, vector: np.ndarray, n: int, kinds: tuple[str, ...] = ()) -> list[DenseMatch]:
        """The (at most) `n` chunks most similar to `vector` by cosine, most similar first; only
        chunks whose `meta.kind` is in `kinds` when `kinds` is given. [] for an empty index or
        when nothing matches the filter. The order of equally similar chunks is unspecified."""
        ...

    def upsert(self, chunks: list[Chunk], vectors: np.ndarray, file_key: str) -> None:
        """Write chunks with their vectors (row i belongs to chunks[i]) and the file key of the file
        they came from. An id already there gets the new text, vector and metadata (a field the new
        record lacks may keep its old value, as in Chroma; ids fix page and slide, so none does)."""
        ...

    def update_metadata(self, chunks: list[Chunk], file_key: str) -> None:
        """Rewrite the metadata (position, file key, hashes) of chunks that are there; their text
        and vectors are kept. Ids that are not there are ignored."""
        ...

    def delete(self, ids: Iterable[str]) -> None:
        """Remove these chunks (not their sentences: `delete_sentences`). Ids not there are ignored."""
        ...

    def upsert_sentences(self, chunk_ids: list[str], texts: list[list[str]], vectors: np.ndarray) -> None:
        """Write the sentences of chunks: `texts[i]` are the sentences of `chunk_ids[i]`, and `vectors`
        has one row per sentence in that order (flattened). Sentence n of a chunk replaces the one
        stored as sentence n before. Nothing is written where the index has no sentence records."""
        ...

    def sentence_vectors(self, sentences_per_chunk: dict[str, int]) -> dict[str, np.ndarray]:
        """Sentence text -> stored vector, reading sentences 0..count-1 of each given chunk (chunk id
        -> count). Sentences that are not stored are left out; {} when none are (no index, or an
        index built before sentence vectors: callers embed what they do not find)."""
        ...

    def all_sentence_vectors(self) -> Iterator[tuple[list[str], list[str], np.ndarray]]:
        """Every stored sentence, a page at a time: ids (`<chunk id>:<n>`, sentence n of that chunk),
        texts and vectors (one row each). Nothing for an index without sentence records. For the
        retrieval snapshot (assistant/core/snapshot.py), which keeps them beside the data."""
        ...

    def delete_sentences(self, chunk_ids: Iterable[str]) -> None:
        """Remove every stored sentence of these chunks. Ids with none are ignored."""
        ...
