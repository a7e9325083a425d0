"""Indexes of 1k, 10k and 50k chunks for the latency measurements.

Embedding 50k chunks for real would take hours with e5 on 2 cores, so the large
indexes reuse real vectors. Method:

1. A *pool* of real chunks with their real vectors: everything ingest wrote for the
   bundled corpus and the generated corpus (real e5 vectors, read back from Chroma;
   the baseline's MiniLM vectors for the same passage texts are computed once).
2. Every index holds the pool's real chunks (bundled corpus first), then synthetic
   chunks up to N.
   Synthetic chunk i (seeded): take pool chunk a and pool chunk b; its text is a's
   sentences with a window of about 30 % replaced by b's sentences (so BM25 sees
   realistic, distinct in-domain text); its vector is
   normalise(0.75 v_a + 0.25 v_b + noise), noise ~ N(0, 0.01^2) per dimension
   (cosine to v_a about 0.96: a new point inside the corpus's own cloud, not a
   duplicate). The baseline's index gets the same texts and the same recipe applied
   to its MiniLM vectors, so both sides search the same collection shape.
"""

from __future__ import annotations

import hashlib
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.core.records import Chunk, DocumentMeta
from assistant.core.selection import sentence_texts, units_of
from assistant.core.settings import Settings
from assistant.core.store import ChromaStore, StoreConfig
from assistant.core.text import split_sentences

NOISE_SIGMA = 0.01
MIX = 0.75


@dataclass
class Pool:
    chunks: list[Chunk]
    ours: np.ndarray  # e5 vectors, one row per chunk
    base: np.ndarray | None = None  # MiniLM vectors of the same passage texts
    n_bundled: int = 0  # the first n are the bundled corpus
    sentences: dict[str, np.ndarray] | None = None  # sentence text -> the vector ingest stored for it


def read_vectors(settings: Settings, model_id: str, dim: int) -> tuple[list[Chunk], np.ndarray]:
    """All chunks of an ingested index with their stored vectors, in a stable order."""
    from assistant.core.store import chunk_from_record

    store = ChromaStore(StoreConfig.from_settings(settings))
    store.open(model_id, dim, create=False)
    got: dict[str, list] = {"ids": [], "documents": [], "metadatas": [], "embeddings": []}
    while True:  # in pages: Chroma refuses one get() of more than ~32k records
        page = store.collection.get(include=["documents", "metadatas", "embeddings"], limit=5000, offset=len(got["ids"]))
        for key in got:
            got[key].extend(list(page[key]) if page[key] is not None else [])
        if len(page["ids"]) < 5000:
            break
    order = sorted(range(len(got["ids"])), key=lambda i: (got["metadatas"][i]["source"], got["metadatas"][i].get("position", 0)))
    chunks = [chunk_from_record(got["ids"][i], got["documents"][i], got["metadatas"][i]) for i in order]
    vectors = np.asarray([got["embeddings"][i] for i in order], dtype=np.float32)
    return chunks, vectors


def read_sentence_vectors(settings: Settings, model_id: str, dim: int, chunks: list[Chunk]) -> dict[str, np.ndarray]:
    """Sentence text (without its heading) -> the vector ingest stored for it."""
    store = ChromaStore(StoreConfig.from_settings(settings))
    store.open(model_id, dim, create=False)
    out: dict[str, np.ndarray] = {}
    for start in range(0, len(chunks), 200):
        part = chunks[start : start + 200]
        stored = store.sentence_vectors({c.id: len(sentence_texts(c)) for c in part})
        for c in part:
            for unit, text in zip(units_of(c.text, 0, c.meta.language), sentence_texts(c)):
                if text in stored:
                    out.setdefault(unit.text, stored[text])
    return out


def _mixed_text(rng: random.Random, a: str, b: str) -> str:
    sa = split_sentences(a) or [a]
    sb = split_sentences(b) or [b]
    width = max(1, round(len(sa) * 0.3))
    start = rng.randrange(0, max(1, len(sa) - width + 1))
    take = sb[: width] if len(sb) <= width else sb[rng.randrange(0, len(sb) - width + 1):][:width]
    return " ".join(sa[:start] + take + sa[start + width:])


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def synthesize(pool: Pool, n: int, seed: int = 8) -> tuple[list[Chunk], np.ndarray, np.ndarray | None]:
    """The bundled chunks plus synthetic chunks up to n (see the module docstring)."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    chunks = list(pool.chunks[:n])
    ours = [pool.ours[:n]]
    base = [pool.base[:n]] if pool.base is not None else None
    m = n - len(chunks)
    if m > 0:
        ia = np.array([rng.randrange(len(pool.chunks)) for _ in range(m)])
        ib = np.array([rng.randrange(len(pool.chunks)) for _ in range(m)])
        for i, (a, b) in enumerate(zip(ia, ib)):
            ca, cb = pool.chunks[a], pool.chunks[b]
            text = _mixed_text(rng, ca.text, cb.text)
            meta = DocumentMeta(
                source=f"syntetisk/{i // 8:05d}-{ca.meta.source.rsplit('/', 1)[-1]}",
                title=f"{ca.meta.title} ({i // 8})",
                kind=ca.meta.kind,
                language=ca.meta.language,
                tags=ca.meta.tags,
                stage=ca.meta.stage,
            )
            digest = hashlib.sha256(f"{seed}:{i}:{text}".encode()).hexdigest()
            chunks.append(Chunk(id=digest[:32], text=text, meta=meta, heading_path=ca.heading_path, page=ca.page,
                                position=i % 8, content_hash=digest, file_hash=digest[:32]))
        noise = nrng.normal(0.0, NOISE_SIGMA, size=(m, pool.ours.shape[1])).astype(np.float32)
        ours.append(_unit(MIX * pool.ours[ia] + (1 - MIX) * pool.ours[ib] + noise))
        if base is not None:
            noise_b = nrng.normal(0.0, NOISE_SIGMA, size=(m, pool.base.shape[1])).astype(np.float32)
            base.append(_unit(MIX * pool.base[ia] + (1 - MIX) * pool.base[ib] + noise_b))
    return chunks[:n], np.concatenate(ours)[:n], (np.concatenate(base)[:n] if base is not None else None)


def build_ours(settings: Settings, model_id: str, dim: int, chunks: list[Chunk], vectors: np.ndarray,
               sentences: dict[str, np.ndarray] | None = None, embed=None) -> float:
    """Write chunks with their vectors into our store (as ingest would), and the sentence vectors
    ingest would store: a synthetic chunk's sentences are mostly real ones, so each takes the vector
    stored for that sentence in the real corpus (under its own heading there). About one in eight is
    not (two chunks' sentences joined differently); those are embedded here with `embed`, as ingest
    would, or left out without it (then an answer embeds them, which is not what an ingested index
    costs). Returns seconds."""
    t0 = time.perf_counter()
    store = ChromaStore(StoreConfig.from_settings(settings))
    store.drop()
    store.open(model_id, dim, create=True)
    by_file: dict[str, list[int]] = {}
    for i, c in enumerate(chunks):
        by_file.setdefault(c.meta.source, []).append(i)
    batch: list[int] = []
    for source, idx in by_file.items():
        batch.extend(idx)
        if len(batch) >= 2000:
            _flush(store, chunks, vectors, batch)
            batch = []
    _flush(store, chunks, vectors, batch)
    if sentences is not None:
        for start in range(0, len(chunks), 500):
            ids, texts, vecs = [], [], []
            for c in chunks[start : start + 500]:
                pairs = list(zip(units_of(c.text, 0, c.meta.language), sentence_texts(c)))
                missing = [t for u, t in pairs if u.text not in sentences]
                fresh = dict(zip(missing, embed(missing))) if (embed and missing) else {}
                kept = [(t, sentences[u.text] if u.text in sentences else fresh[t]) for u, t in pairs
                        if u.text in sentences or t in fresh]
                ids.append(c.id)
                texts.append([t for t, _ in kept])
                vecs.extend(v for _, v in kept)
            store.upsert_sentences(ids, texts, np.asarray(vecs, dtype=np.float32).reshape(-1, dim))
    store.bump_revision()
    return time.perf_counter() - t0


def _flush(store: ChromaStore, chunks: list[Chunk], vectors: np.ndarray, idx: list[int]) -> None:
    if idx:
        # One file key per batch is enough here: nothing syncs these indexes afterwards.
        store.upsert([chunks[i] for i in idx], vectors[idx], file_key="bench")


class Precomputed:
    """A LangChain Embeddings that hands out vectors computed earlier, in call order."""

    def __init__(self) -> None:
        self.next: np.ndarray | None = None

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        assert self.next is not None and len(self.next) == len(texts)
        out, self.next = self.next.tolist(), None
        return out

    def embed_query(self, text: str) -> list[float]:  # pragma: no cover - not used for loading
        raise NotImplementedError


def build_baseline(path: Path, chunks: list[Chunk], vectors: np.ndarray) -> float:
    """The baseline's Chroma collection through langchain_chroma's own add_texts."""
    from langchain_chroma import Chroma

    t0 = time.perf_counter()
    emb = Precomputed()
    vs = Chroma(collection_name="baseline", embedding_function=emb, persist_directory=str(path))
    for start in range(0, len(chunks), 2000):
        part = chunks[start:start + 2000]
        emb.next = vectors[start:start + 2000]
        vs.add_texts([c.text for c in part], metadatas=[{"source": c.meta.source} for c in part],
                     ids=[c.id for c in part])
    return time.perf_counter() - t0

