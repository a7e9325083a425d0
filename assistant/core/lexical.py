"""Lexical retrieval: BM25 (bm25s) over Snowball-stemmed Norwegian tokens.

The index is derived from the chunks in the vector store, so it is always in
sync with what ingest wrote: rebuilding it from scratch takes well under a
second for thousands of chunks.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass

import bm25s
import numpy as np

from assistant.core.records import Chunk, passage_text
from assistant.core.text import stem_word, stems

logging.getLogger("bm25s").setLevel(logging.WARNING)

# Bump when what an index holds for the same chunks changes (tokens, stems, BM25 parameters):
# a saved index (`state()`, kept by assistant/core/snapshot.py) of another version is rebuilt.
LEXICAL_VERSION = f"1/bm25s-{bm25s.__version__}"


@dataclass(frozen=True)
class LexicalState:
    """A built index as plain arrays, to save and load without stemming again: the vocabulary
    (token i is `vocab[i]`), each token's document frequency, and bm25s's score matrix (CSC:
    column i holds token i's score in each document that has it)."""

    vocab: list[str]  # may end with a token that has no column in the matrix (bm25s's "")
    df: np.ndarray
    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray


MIN_PART = 4  # letters of each part of a compound split (shorter ones match too much by chance)


def split_compound(stem: str, document_frequency) -> tuple[str, str] | None:
    """A Norwegian compound's two stems, both used by the corpus: the split with the longest
    last part (the compound's head), a linking "s" or "e" allowed after the first part
    ("arbeid|s|liv", "kommun|e|direktør"). None when no split has both parts in the corpus."""
    if len(stem) < 2 * MIN_PART:
        return None
    for i in range(MIN_PART, len(stem) - MIN_PART + 1):
        left, right = stem[:i], stem[i:]
        if not document_frequency(right):
            continue
        for first in dict.fromkeys((left, stem_word(left), left[:-1] if left.endswith(("s", "e")) else left)):
            if len(first) >= MIN_PART - 1 and document_frequency(first):
                return first, right
    return None


def parts_among(stem: str, known: set[str] | frozenset[str]) -> tuple[str, str] | None:
    """A compound whose two parts are both in `known` (a linking "s" or "e" allowed between):
    "prosjektled" is "prosjekt" + "led" for a question that says "ledet prosjektet". Parts may be
    shorter than `MIN_PART` here, because both must be words the question itself used."""
    if stem in known or len(stem) < 6:
        return None
    for i in range(3, len(stem) - 2):
        left, right = stem[:i], stem[i:]
        head = right if right in known else stem_word(right)  # "prosjektleder": "leder" -> "led"
        if head not in known:
            continue
        for first in (left, left[:-1] if left[-1] in "se" else ""):
            if first in known:
                return first, head
    return None


def with_parts(text_stems: set[str], known: set[str] | frozenset[str]) -> set[str]:
    """`text_stems` and the parts of those of its compounds that are made of two `known` stems
    (`parts_among`): a sentence's "prosjektleder" also counts as "prosjekt" and "led"."""
    return text_stems | {p for t in text_stems if (pair := parts_among(t, known)) for p in pair}


class LexicalIndex:
    def __init__(self, chunks: list[Chunk]) -> None:
        self._setup([c.id for c in chunks], [c.meta.kind for c in chunks])
        if chunks:
            corpus = [stems(passage_text(c)) or ["\u2205"] for c in chunks]
            for tokens in corpus:
                self._df.update(set(tokens))
            self._bm25 = bm25s.BM25()
            self._bm25.index(corpus, show_progress=False)

    @classmethod
    def restored(cls, ids: list[str], kinds: list[str], state: LexicalState | None) -> "LexicalIndex":
        """The index `state()` gave for chunks with these ids and kinds (in the same order),
        without stemming and scoring them again. ValueError when the state does not fit."""
        index = cls.__new__(cls)
        index._setup(ids, kinds)
        if ids:
            if state is None:
                raise ValueError("no lexical state for a non-empty index")
            index._restore(state)
        return index

    def _setup(self, ids: list[str], kinds: list[str]) -> None:
        self.ids = ids
        kind_of = np.array(kinds, dtype=object)
        self._kind_masks = {kind: kind_of == kind for kind in set(kinds)}
        self._bm25 = None
        self._df: Counter[str] = Counter()
        self._n = len(ids)

    def state(self) -> LexicalState | None:
        """The built index as arrays (None for an empty one)."""
        if self._bm25 is None:
            return None
        vocab = [""] * len(self._bm25.vocab_dict)
        for token, i in self._bm25.vocab_dict.items():
            vocab[i] = token
        scores = self._bm25.scores
        return LexicalState(
            vocab=vocab,
            df=np.asarray([self._df.get(t, 0) for t in vocab], dtype=np.int32),
            data=np.asarray(scores["data"]),
            indices=np.asarray(scores["indices"]),
            indptr=np.asarray(scores["indptr"]),
        )

    def _restore(self, state: LexicalState) -> None:
        n_tokens = len(state.vocab)
        if (
            state.df.shape != (n_tokens,)
            # bm25s adds the empty token to the vocabulary after scoring: it may have no column
            or state.indptr.ndim != 1
            or not n_tokens - 1 <= len(state.indptr) - 1 <= n_tokens
            or state.data.shape != state.indices.shape
            or state.indices.dtype.kind not in "iu" or state.indptr.dtype.kind not in "iu"
            or state.data.dtype.kind != "f" or state.df.dtype.kind not in "iu"
            or int(state.indptr[-1]) != len(state.data)
            or (len(state.indices) and (int(state.indices.min()) < 0 or int(state.indices.max()) >= self._n))
            or len(set(state.vocab)) != n_tokens
        ):
            raise ValueError("lexical state does not fit these chunks")
        bm25 = bm25s.BM25()
        bm25.scores = {"data": state.data, "indices": state.indices, "indptr": state.indptr, "num_docs": self._n}
        bm25.vocab_dict = {token: i for i, token in enumerate(state.vocab)}
        bm25.unique_token_ids_set = set(range(n_tokens))
        bm25.nonoccurrence_array = None  # the default method (lucene) has none
        self._bm25 = bm25
        self._df = Counter({t: int(d) for t, d in zip(state.vocab, state.df.tolist()) if d})

    def document_frequency(self, stem: str) -> int:
        return self._df.get(stem, 0)

    def idf(self, stem: str) -> float:
        """Inverse document frequency; a stem the corpus never uses weighs the most."""
        df = self._df.get(stem, 0)
        return math.log(1.0 + (self._n - df + 0.5) / (df + 0.5))

    def query_stems(self, query: str) -> list[str]:
        """The query's stems, with a compound the corpus never uses replaced by its parts where
        the corpus uses both ("ledernivå" -> "led", "nivå"; "ledere på nivå to og tre")."""
        out: list[str] = []
        for stem in stems(query):
            parts = split_compound(stem, self.document_frequency) if self.document_frequency(stem) == 0 else None
            out.extend(parts or (stem,))
        return out

    def search(self, query: str, n: int, kinds: tuple[str, ...] = ()) -> list[tuple[str, float]]:
        if self._bm25 is None:
            return []
        tokens = [t for t in self.query_stems(query) if t in self._bm25.vocab_dict]
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
