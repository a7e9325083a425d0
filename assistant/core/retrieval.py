"""Hybrid retrieval: dense (the vector store) + lexical (BM25), weighted reciprocal rank fusion.

A relevance floor drops hits whose dense similarity is below it, so a question
far from the material gets no hits at all. A question about what the programme itself asked,
found or recommended gets the programme's own material first among its hits
(`provenance.asks_what_the_programme_said`, `programme_first`). e5 similarities are compressed, so
the floor is deliberately low; deciding whether the material *answers* a
question is the answer engine's job, with more signals than one cosine.
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from dataclasses import replace
from functools import lru_cache
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Literal

import numpy as np

from assistant.core.embeddings import Embedder
from assistant.core.lexical import LexicalIndex
from assistant.core.provenance import asks_what_the_programme_said
from assistant.core.records import Chunk, Hit
from assistant.core.selection import covered, focus_stems
from assistant.core.settings import ComponentConfig
from assistant.core.snapshot import ChunkTable, RetrievalSnapshot, SentenceTable, WriterStopped
from assistant.core.text import stems
from assistant.core.vectorstore import VectorStore

Mode = Literal["hybrid", "dense", "lexical"]


# The snapshot's sentence writers still running. A process that ends (a CLI answer, a stopped
# server) while one is inside Chroma's native code crashed at exit (SIGSEGV, seen at 200k chunks,
# where paging through 870k sentence vectors takes minutes) and left a partial file behind. At
# exit each writer is told to stop after the page it is reading, and waited for.
_WRITERS: "weakref.WeakSet[threading.Thread]" = weakref.WeakSet()
_EXITING = threading.Event()
WRITER_EXIT_WAIT_S = 60.0


def _until_exit(pages: Iterable):
    for page in pages:
        if _EXITING.is_set():
            raise WriterStopped("the process is exiting; the next start adds the sentence vectors")
        yield page


@atexit.register
def _stop_writers() -> None:
    # atexit runs after the interpreter has waited for non-daemon threads and before it stops
    # the daemon ones, so a writer can still finish its page and clean up here.
    _EXITING.set()
    for writer in list(_WRITERS):
        writer.join(WRITER_EXIT_WAIT_S)


@lru_cache(maxsize=4096)
def _title_stems(title: str) -> frozenset[str]:
    """A document title's stems (titles repeat across a document's chunks and across searches)."""
    return frozenset(stems(title))


def weighted_rrf(
    dense: list[str], lexical: list[str], *, k: int, dense_weight: float
) -> dict[str, float]:
    """Reciprocal rank fusion with a weight per list (ranks start at 1)."""
    fused: dict[str, float] = {}
    for rank, cid in enumerate(dense, start=1):
        fused[cid] = fused.get(cid, 0.0) + dense_weight / (k + rank)
    for rank, cid in enumerate(lexical, start=1):
        fused[cid] = fused.get(cid, 0.0) + (1.0 - dense_weight) / (k + rank)
    return fused


class RetrievalConfig(ComponentConfig):
    """What the retriever reads: how many hits, how they are fused, and the relevance floor."""

    top_k: int
    candidates: int
    rrf_k: int
    dense_weight: float
    title_weight: float
    relevance_floor: float


class Retriever:
    """Searches one collection; holds the chunk texts and the BM25 index in memory, loaded from
    the retrieval snapshot when one is given and matches the index (assistant/core/snapshot.py),
    else read from the store and built (then the snapshot is written for the next start)."""

    REFRESH_EVERY_S = 2.0

    def __init__(
        self, config: RetrievalConfig, store: VectorStore, embedder: Embedder, snapshot: RetrievalSnapshot | None = None
    ) -> None:
        self.config = config
        self.store = store
        self.embedder = embedder
        self.snapshot = snapshot
        self.loaded_from: Literal["snapshot", "store"] | None = None  # how the last (re)load went
        self.snapshot_writer: threading.Thread | None = None  # adds the sentence vectors to a new snapshot
        self._chunks: Mapping[str, Chunk] = {}
        self._lexical: LexicalIndex | None = None
        self._revision: int | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()
        self._query_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._sentences: SentenceTable | None = None  # the snapshot's sentence vectors, when loaded from one
        self._unsearchable: frozenset[str] = frozenset()  # ids of chunks of documents marked `searchable: false`

    def warm_up(self) -> None:
        with self._lock:
            self.store.open(self.embedder.model_id, self.embedder.dim, create=False)
            self._reload()

    def _reload(self) -> None:
        # The revision first, then the chunks: a writer that finishes in between leaves an older
        # revision recorded, and the next check reloads again. The other order could record the
        # new revision with the old chunks, and miss that write until the next one.
        revision = self.store.revision()
        key = None
        loaded = None
        if self.snapshot is not None:
            key = self.snapshot.key(
                index_id=self.store.index_id(), revision=revision, count=self.store.count(), model_id=self.embedder.model_id
            )
            loaded = self.snapshot.load(key)
        chunks: Mapping[str, Chunk]
        sentences = None
        if loaded is not None:
            chunks, lexical = loaded.chunks, loaded.lexical  # a ChunkTable: each Chunk made when first asked for
            sentences = loaded.sentences
            self.loaded_from = "snapshot"
        else:
            read = self.store.all_chunks()
            lexical = LexicalIndex(read)
            chunks = {c.id: c for c in read}
            self.loaded_from = "store"
            if self.snapshot is not None and key is not None:
                # Keyed by the revision read before the chunks (as `_revision`): a writer that
                # finishes in between bumps it, and the next start or check rebuilds.
                if self.snapshot.save(key, read, lexical):
                    # The sentence vectors after: paging through them all takes a while on a
                    # large index, and this process reads them from the store meanwhile.
                    snapshot, saved = self.snapshot, replace(key, count=len(read))
                    self.snapshot_writer = threading.Thread(
                        target=lambda: snapshot.add_sentences(saved, _until_exit(self.store.all_sentence_vectors())),
                        name="snapshot-sentences", daemon=True)
                    _WRITERS.add(self.snapshot_writer)
                    self.snapshot_writer.start()
        self._chunks = chunks
        self._lexical = lexical
        self._sentences = sentences
        self._unsearchable = unsearchable_ids(chunks)
        self._revision = revision
        self._checked_at = time.monotonic()

    def _refresh_if_stale(self) -> None:
        """Pick up what another ingest wrote (revision bump) without a restart: another process
        too, such as another replica's upload into a shared Chroma server, since the revision is
        read from the store each time (at most every REFRESH_EVERY_S)."""
        with self._lock:
            if self._lexical is None:
                self.store.open(self.embedder.model_id, self.embedder.dim, create=False)
                self._reload()
                return
            if time.monotonic() - self._checked_at < self.REFRESH_EVERY_S:
                return
            self._checked_at = time.monotonic()
            if self.store.revision() != self._revision:
                self._reload()

    def invalidate(self) -> None:
        """Check the store's revision at the next search (after this process wrote to it)."""
        self._checked_at = float("-inf")

    @property
    def chunks(self) -> Mapping[str, Chunk]:
        self._refresh_if_stale()
        return self._chunks

    def idf(self, stem: str) -> float:
        self._refresh_if_stale()
        return self._lexical.idf(stem) if self._lexical is not None else 1.0

    def document_frequency(self, stem: str) -> int:
        self._refresh_if_stale()
        return self._lexical.document_frequency(stem) if self._lexical is not None else 0

    def query_stems(self, query: str) -> list[str]:
        """The query's stems as the lexical index matches them (compounds it never saw split)."""
        self._refresh_if_stale()
        return self._lexical.query_stems(query) if self._lexical is not None else stems(query)

    def sentence_vectors(self, sentences_per_chunk: dict[str, int]) -> dict[str, np.ndarray]:
        """Sentence text -> vector, as ingest stored them for these chunks (chunk id -> number of
        sentences, as `assistant.core.selection.units_of` splits it): from the snapshot when the
        chunks came from one (the store's would load every sentence vector of the index into
        memory), else from the store."""
        sentences = self._sentences
        if sentences is not None:
            return sentences.vectors(sentences_per_chunk)
        return self.store.sentence_vectors(sentences_per_chunk)

    def query_vector(self, query: str) -> np.ndarray:
        """The query's embedding, cached: the engine asks for it more than once per question."""
        vector = self._query_cache.get(query)
        if vector is None:
            vector = self.embedder.embed_queries([query])[0]
            self._query_cache[query] = vector
            if len(self._query_cache) > 512:
                self._query_cache.popitem(last=False)
        return vector

    def search(
        self,
        query: str,
        *,
        k: int | None = None,
        kinds: tuple[str, ...] = (),
        mode: Mode = "hybrid",
        apply_floor: bool = True,
        include_unsearchable: bool = False,
    ) -> list[Hit]:
        """The k best chunks (of `kinds`, when given), fused from the dense and BM25 rankings.
        Documents marked `searchable: false` are left out (the rest keep their order) unless
        `include_unsearchable`: the question bank reads them, search and answers do not."""
        self._refresh_if_stale()
        s = self.config
        k = k or s.top_k
        n = max(s.candidates, k)
        # Chunks search leaves out are left out before the fusion, from lists that many longer,
        # so the rest rank as they would without them (an English query's nearest chunks can be
        # all English reflection questions).
        hidden = 0 if include_unsearchable else len(self._unsearchable)
        dense: list[tuple[str, float]] = []
        lexical: list[tuple[str, float]] = []
        if mode in ("hybrid", "dense"):
            vector = self.query_vector(query)
            dense = [(m.id, m.similarity) for m in self.store.query(vector, n + hidden, kinds)]
        if mode in ("hybrid", "lexical") and self._lexical is not None:
            lexical = self._lexical.search(query, n + hidden, kinds)
        if hidden:
            dense, lexical = self._searchable(dense)[:n], self._searchable(lexical)[:n]
        dense_sim = dict(dense)
        lex_score = dict(lexical)
        weight = {"hybrid": s.dense_weight, "dense": 1.0, "lexical": 0.0}[mode]
        fused = weighted_rrf([i for i, _ in dense], [i for i, _ in lexical], k=s.rrf_k, dense_weight=weight)
        if mode == "hybrid" and s.title_weight:
            # A document whose title names everything the question asks about ("Hva var
            # erfaringene fra piloten?" and "Erfaringer og læringspunkter fra piloten …") is about
            # it: its chunks among the candidates count as if a third list ranked them first.
            focus = set(focus_stems(query))
            if len(focus) >= 2:
                for cid in fused:
                    chunk = self._chunks.get(cid)
                    if chunk is not None and all(covered(st, _title_stems(chunk.meta.title)) for st in focus):
                        fused[cid] += s.title_weight / (s.rrf_k + 1)
        ranked = sorted(fused.items(), key=lambda kv: -kv[1])
        hits: list[Hit] = []
        for cid, score in ranked:
            chunk = self._chunks.get(cid)
            if chunk is None:
                continue
            sim = dense_sim.get(cid)
            if apply_floor and mode != "lexical" and not self._above_floor(sim, cid in lex_score):
                continue
            hits.append(Hit(chunk=chunk, score=score, dense=sim, lexical=lex_score.get(cid), rank=len(hits) + 1))
            if len(hits) >= k:
                break
        if asks_what_the_programme_said(query):
            hits = programme_first(hits)
        return hits

    def _searchable(self, ranked: list[tuple[str, float]]) -> list[tuple[str, float]]:
        hidden = self._unsearchable
        return [(cid, v) for cid, v in ranked if cid not in hidden]

    def _above_floor(self, similarity: float | None, lexical_match: bool) -> bool:
        """Dense similarity decides when known; a chunk only BM25 found must at least match lexically."""
        if similarity is None:
            return lexical_match
        return similarity >= self.config.relevance_floor


def unsearchable_ids(chunks: Mapping[str, Chunk]) -> frozenset[str]:
    """The ids of the chunks of documents marked `searchable: false`."""
    if isinstance(chunks, ChunkTable):
        return chunks.unsearchable_ids()
    return frozenset(cid for cid, c in chunks.items() if not c.meta.searchable)


def programme_first(hits: list[Hit]) -> list[Hit]:
    """The same hits with those of `programme` provenance first, each group in its own order
    (ranks renumbered). Only the order among what was found changes: nothing is added or dropped,
    so a question the programme's material does not answer still gets the best of the rest."""
    ordered = sorted(hits, key=lambda h: h.chunk.provenance != "programme")
    return [h if h.rank == i else h.model_copy(update={"rank": i}) for i, h in enumerate(ordered, start=1)]


def per_document(hits: Iterable[Hit], cap: int, *, distinct: Callable[[Hit], str] | None = None) -> Iterator[Hit]:
    """The hits in their order, at most `cap` from one document; with `distinct`, also at most one
    hit per key (a skipped hit does not count against its document). A reflection turn's chunks and
    a gathering's material both take them so, that one long text cannot fill every place."""
    taken: dict[str, int] = {}
    seen: set[str] = set()
    for hit in hits:
        source = hit.chunk.meta.source
        key = distinct(hit) if distinct else None
        if taken.get(source, 0) >= cap or (key is not None and key in seen):
            continue
        taken[source] = taken.get(source, 0) + 1
        if key is not None:
            seen.add(key)
        yield hit
