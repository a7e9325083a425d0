"""Sentence scoring: every sentence of the retrieved chunks against the question.

`SentenceScorer.candidates` gives each sentence and list item of the retrieved chunks an e5
similarity (from the vectors ingest stored, a thread-safe in-memory cache, or embedded now), an
IDF-weighted word overlap and its chunk's rank, and reports how well the material supports an
answer at all (`Support`, which the refusal rule reads). docs/answers.md has the measurements.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from assistant.core.embeddings import Embedder
from assistant.core.lexical import with_parts
from assistant.core.records import Hit
from assistant.core.retrieval import Retriever
from assistant.core.selection import Unit, chunk_heading, sentence_context, units_of
from assistant.core.settings import ComponentConfig
from assistant.core.text import stems

_ASKS_FOR_QUESTIONS = re.compile(r"\b(spørsmål\w*|question\w*|drøft\w*|discuss\w*|spør\w*|ask\w*)\b", re.I)
CACHE_SIZE = 20_000  # sentence vectors kept in memory (about 30 MB at 384 dimensions)


class RefusalConfig(ComponentConfig):
    """The thresholds of the refusal rule (`Support.answerable`), measured in docs/answers.md."""

    answer_min_similarity: float
    answer_confident_similarity: float
    answer_max_unknown_share: float
    answer_confident_similarity_en: float
    answer_max_unknown_share_en: float


@dataclass(frozen=True)
class Support:
    """How well the material supports an answer: the signals the refusal rule combines."""

    best_similarity: float  # best sentence vs the question (e5 cosine)
    unknown_share: float  # IDF-weighted share of the question's content words the corpus never uses
    language: str

    def answerable(self, config: RefusalConfig) -> bool:
        if self.best_similarity < config.answer_min_similarity:
            return False
        if self.language == "en":
            confident, max_unknown = config.answer_confident_similarity_en, config.answer_max_unknown_share_en
        else:
            confident, max_unknown = config.answer_confident_similarity, config.answer_max_unknown_share
        return not (self.unknown_share >= max_unknown and self.best_similarity < confident)


class SentenceScorer:
    """Scores sentences against a question. Thread-safe: the chat app answers on several threads,
    and the vector cache is shared between them under a lock."""

    def __init__(self, retriever: Retriever, embedder: Embedder) -> None:
        self.retriever = retriever
        self.embedder = embedder
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def clear_cache(self) -> None:
        """Forget the cached sentence vectors (the benchmarks measure cold answers)."""
        with self._lock:
            self._cache.clear()

    def candidates(
        self, query: str, hits: list[Hit], lang: str = "nb", setting: frozenset[str] = frozenset()
    ) -> tuple[list[Unit], Support]:
        """Every sentence and list item of every retrieved chunk, scored against the query:
        e5 similarity, IDF-weighted word overlap and the chunk's rank. Words of `setting` (the
        places a reflection names as where it happens, `concern.places`) take no part in the word
        overlap: they say where, not what."""
        written = {s: self.retriever.idf(s) for s in set(stems(query))}
        # IDF-weighted: one rare word the corpus never uses ("fårikål") outweighs common known ones.
        # Read on the words as written: a compound the corpus never uses counts as unknown even
        # where its parts are known ("kommunedirektør"), as the refusal thresholds were chosen.
        unknown_share = sum(w for s, w in written.items() if self.retriever.document_frequency(s) == 0) / (sum(written.values()) or 1.0)
        # Sentences are matched on the words as the lexical index reads them: such a compound by its parts.
        query_sequence = self.retriever.query_stems(query)
        if setting:
            left_out = {st for w in setting for st in self.retriever.query_stems(w)}
            query_sequence = [st for st in query_sequence if st not in left_out]
        weights = {s: self.retriever.idf(s) for s in set(query_sequence)}
        total = sum(weights.values()) or 1.0
        query_pairs = set(zip(query_sequence, query_sequence[1:]))
        query_set = frozenset(weights)
        units: list[Unit] = []
        contexts: list[str] = []
        for hi, hit in enumerate(hits):
            heading = chunk_heading(hit.chunk)
            head_stems = set(stems(heading))
            prev_stems: set[str] = set()
            for u in units_of(hit.chunk.text, hi, hit.chunk.meta.language):
                sequence = stems(u.text)
                u.tokens = set(sequence)
                # A compound made of two of the question's words counts as both ("prosjektleder"
                # for "Hvem ledet prosjektet?").
                matched = with_parts(u.tokens, query_set)
                own = sum(w for s, w in weights.items() if s in matched) / total
                if query_pairs:  # the question's words side by side ("took part", "formell myndighet")
                    own += 0.3 * len(query_pairs & set(zip(sequence, sequence[1:]))) / len(query_pairs)
                ctx = sum(w for s, w in weights.items() if s in (head_stems | prev_stems) and s not in u.tokens) / total
                u.lexical = own + 0.5 * ctx  # a word in the heading or the sentence before counts half
                prev_stems = u.tokens
                units.append(u)
                contexts.append(sentence_context(heading, u.text))
        if not units:
            return [], Support(0.0, unknown_share, lang)
        per_chunk: dict[str, int] = {}
        for u in units:
            per_chunk[hits[u.hit_index].chunk.id] = per_chunk.get(hits[u.hit_index].chunk.id, 0) + 1
        sims = self.similarities(query, contexts, sentences_per_chunk=per_chunk)
        # e5 cosines are compressed and shift with the question: rank sentences relative to the
        # best and worst of this retrieval, not on a fixed scale.
        lo, top = float(min(sims)), float(max(sims))
        # A question from the question bank restates what was asked rather than answering it,
        # unless the user asks what questions the material poses.
        asks_for_questions = bool(_ASKS_FOR_QUESTIONS.search(query))
        for u, sim in zip(units, sims):
            u.similarity = float(sim)
            prior = 1.0 / (1 + u.hit_index)
            sim_norm = (u.similarity - lo) / (top - lo) if top > lo else 1.0
            u.score = 0.55 * sim_norm + 0.35 * u.lexical + 0.10 * prior
            if u.text.endswith("?") and not asks_for_questions:
                u.score *= 0.6
        return units, Support(max(u.similarity for u in units), unknown_share, lang)

    def similarities(self, query: str, texts: list[str], sentences_per_chunk: dict[str, int] | None = None) -> np.ndarray:
        """Cosine of the query with each text. Sentence vectors come from the in-memory cache,
        then from the index (stored by ingest for the chunks in `sentences_per_chunk`), and only
        what neither has is embedded now."""
        if not texts:
            return np.zeros(0, dtype=np.float32)
        q = self.retriever.query_vector(query)
        vectors = self.passage_vectors(texts, sentences_per_chunk)
        return np.stack([vectors[t] for t in texts]) @ q

    def passage_vectors(self, texts: list[str], sentences_per_chunk: dict[str, int] | None = None) -> dict[str, np.ndarray]:
        """Passage vectors of `texts`: from the in-memory cache, then from the index (stored by
        ingest for the chunks in `sentences_per_chunk`), and only what neither has is embedded now
        (and kept in the cache)."""
        wanted = list(dict.fromkeys(texts))
        with self._lock:
            vectors = {t: self._cache[t] for t in wanted if t in self._cache}
        missing = [t for t in wanted if t not in vectors]
        if missing and sentences_per_chunk:
            stored = self.retriever.sentence_vectors(sentences_per_chunk)
            vectors.update((t, stored[t]) for t in missing if t in stored)
            missing = [t for t in missing if t not in vectors]
        if missing:
            vectors.update(zip(missing, self.embedder.embed_passages(missing)))
        with self._lock:
            for t in wanted:
                if t not in self._cache:
                    self._cache[t] = vectors[t]
                    if len(self._cache) > CACHE_SIZE:
                        self._cache.popitem(last=False)
        return vectors

    def select(self, cands: list[Unit], limit: int) -> list[Unit]:
        ranked = sorted(cands, key=lambda c: -c.score)
        if not ranked:
            return []
        floor = ranked[0].score * 0.6
        chosen: list[Unit] = []
        for c in ranked:
            if c.score < floor or len(chosen) >= limit:
                break
            if any(jaccard(c.tokens, o.tokens) > 0.5 for o in chosen):
                continue
            chosen.append(c)
        return chosen

    def support_similarity(self, sentence: str, passages: list[str]) -> float:
        """Best e5 cosine of a model sentence with a sentence of the cited passages (the passages'
        sentence vectors are cached: every sentence of an answer is compared with the same ones)."""
        units = [u.text for p in passages for u in units_of(p, 0, "nb")] or list(passages)
        vectors = self.passage_vectors(units)
        own = self.embedder.embed_passages([sentence])[0]
        return float(np.max(np.stack([vectors[u] for u in units]) @ own))


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0
