"""Lexical retrieval: BM25 (bm25s) over Snowball-stemmed Norwegian tokens.

The index is derived from the chunks in the vector store, so it is always in
sync with what ingest wrote: rebuilding it from scratch takes well under a
second for thousands of chunks.
"""

from __future__ import annotations

import logging

import bm25s
import numpy as np

from assistant.records import Chunk
from assistant.text import stems

logging.getLogger("bm25s").setLevel(logging.WARNING)


def passage_text(chunk: Chunk) -> str:
    """What is embedded and indexed for a chunk: its title and section give it context."""
    head = " — ".join(p for p in (chunk.meta.title, chunk.section) if p)
    return f"{head}\n\n{chunk.text}" if head else chunk.text


class LexicalIndex:
    def __init__(self, chunks: list[Chunk]) -> None:
        self.ids = [c.id for c in chunks]
        self._kinds = np.array([c.meta.kind for c in chunks], dtype=object)
        self._bm25 = None
        if chunks:
            corpus = [stems(passage_text(c)) or ["\u2205"] for c in chunks]
            self._bm25 = bm25s.BM25()
            self._bm25.index(corpus, show_progress=False)

    def search(self, query: str, n: int, kinds: tuple[str, ...] = ()) -> list[tuple[str, float]]:
        if self._bm25 is None:
            return []
        tokens = [t for t in stems(query) if t in self._bm25.vocab_dict]
        if not tokens:
            return []
        scores = np.asarray(self._bm25.get_scores(tokens), dtype=np.float64)
        if kinds:
            scores = np.where(np.isin(self._kinds, list(kinds)), scores, 0.0)
        order = np.argsort(-scores)[:n]
        return [(self.ids[i], float(scores[i])) for i in order if scores[i] > 0]
