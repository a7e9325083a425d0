"""Lexical retrieval: BM25 (bm25s) over Snowball-stemmed Norwegian tokens.

The index is derived from the chunks in the vector store, so it is always in
sync with what ingest wrote: rebuilding it from scratch takes well under a
second for thousands of chunks.
"""

from __future__ import annotations

import logging
import math
from collections import Counter

import bm25s
import numpy as np

from assistant.core.records import Chunk, passage_text
from assistant.core.text import stems

logging.getLogger("bm25s").setLevel(logging.WARNING)


class LexicalIndex:
    def __init__(self, chunks: list[Chunk]) -> None:
        self.ids = [c.id for c in chunks]
        kinds = np.array([c.meta.kind for c in chunks], dtype=object)
        self._kind_masks = {kind: kinds == kind for kind in set(kinds.tolist())}
        self._bm25 = None
        self._df: Counter[str] = Counter()
        self._n = len(chunks)
        if chunks:
            corpus = [stems(passage_text(c)) or ["\u2205"] for c in chunks]
            for tokens in corpus:
                self._df.update(set(tokens))
            self._bm25 = bm25s.BM25()
            self._bm25.index(corpus, show_progress=False)

    def document_frequency(self, stem: str) -> int:
        return self._df.get(stem, 0)

    def idf(self, stem: str) -> float:
        """Inverse document frequency; a stem the corpus never uses weighs the most."""
        df = self._df.get(stem, 0)
        return math.log(1.0 + (self._n - df + 0.5) / (df + 0.5))

    def search(self, query: str, n: int, kinds: tuple[str, ...] = ()) -> list[tuple[str, float]]:
        if self._bm25 is None:
            return []
        tokens = [t for t in stems(query) if t in self._bm25.vocab_dict]
        if not tokens:
            return []
        scores = np.asarray(self._bm25.get_scores(tokens), dtype=np.float64)
        if kinds:
            allowed = np.zeros(len(scores), dtype=bool)
            for kind in kinds:
                mask = self._kind_masks.get(kind)
                if mask is not None:
                    allowed |= mask
            scores = np.where(allowed, scores, 0.0)
        # The best n without sorting every chunk: partition, then sort only those n.
        if n < len(scores):
            top = np.argpartition(-scores, n)[:n]
            order = top[np.argsort(-scores[top], kind="stable")]
        else:
            order = np.argsort(-scores, kind="stable")
        return [(self.ids[i], float(scores[i])) for i in order if scores[i] > 0]
