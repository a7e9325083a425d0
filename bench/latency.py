"""Query latency: `Retriever.search`, `AnswerEngine.answer` and the baseline's `similarity_search`.

Every timed call starts cold for the query: our retriever's query-vector cache and
the answer engine's sentence-vector cache are cleared first (the baseline has no
cache), so a figure includes embedding the question (and, for answers, the
candidate sentences) as the first asker of that question pays it. Warm answer
figures (the same question again) are reported beside them.
"""

from __future__ import annotations

import time

from bench.util import latency_summary


class _Acc:
    def __init__(self, fn):
        self.fn = fn
        self.ms = 0.0
        self.items = 0

    def __call__(self, texts, *a, **k):
        t0 = time.perf_counter()
        try:
            return self.fn(texts, *a, **k)
        finally:
            self.ms += (time.perf_counter() - t0) * 1000
            self.items += len(texts) if isinstance(texts, list) else 1


def our_search(retriever, queries: list[str], rounds: int, warmup: int = 5) -> dict:
    embedder = retriever.embedder
    store = retriever.store
    for q in queries[:warmup]:
        retriever.search(q)
    total, embed, dense, lexical = [], [], [], []
    for _ in range(rounds):
        for q in queries:
            retriever._query_cache.clear()  # noqa: SLF001 - measure the uncached path
            t0 = time.perf_counter()
            retriever.search(q)
            total.append((time.perf_counter() - t0) * 1000)
    # Where the time goes (separately, same queries once).
    for q in queries:
        t0 = time.perf_counter()
        v = embedder.embed_queries([q])[0]
        t1 = time.perf_counter()
        store.query(v, retriever.config.candidates)
        t2 = time.perf_counter()
        retriever._lexical.search(q, retriever.config.candidates)  # noqa: SLF001
        t3 = time.perf_counter()
        embed.append((t1 - t0) * 1000)
        dense.append((t2 - t1) * 1000)
        lexical.append((t3 - t2) * 1000)
    out = latency_summary(total)
    out["parts_p50_ms"] = {
        "embed_query": latency_summary(embed)["p50_ms"],
        "chroma_query": latency_summary(dense)["p50_ms"],
        "bm25": latency_summary(lexical)["p50_ms"],
    }
    return out


def our_answer(engine, queries: list[str], rounds: int, warmup: int = 3) -> dict:
    """Default (extractive) backend answers; cold and warm, and the share spent embedding sentences."""
    retriever = engine.retriever
    for q in queries[:warmup]:
        engine.answer(q)
    sims = _Acc(engine.scorer.similarities)
    engine.scorer.similarities = sims
    passages = _Acc(engine.embedder.embed_passages)
    cold, warm, sim_ms, sentences, refused = [], [], [], [], 0
    try:
        engine.embedder.embed_passages = passages
        for _ in range(rounds):
            for q in queries:
                retriever._query_cache.clear()  # noqa: SLF001
                engine.scorer.clear_cache()
                sims.ms, passages.items = 0.0, 0
                t0 = time.perf_counter()
                ans = engine.answer(q)
                cold.append((time.perf_counter() - t0) * 1000)
                sim_ms.append(sims.ms)
                sentences.append(passages.items)
                refused += ans.refused
                t0 = time.perf_counter()
                engine.answer(q)
                warm.append((time.perf_counter() - t0) * 1000)
    finally:
        del engine.embedder.embed_passages
        del engine.scorer.similarities
    out = latency_summary(cold)
    out["warm"] = latency_summary(warm)
    out["sentence_embedding"] = {
        "p50_ms": latency_summary(sim_ms)["p50_ms"],
        "share_of_p50": round(latency_summary(sim_ms)["p50_ms"] / max(out["p50_ms"], 1e-9), 3),
        "sentences_per_answer_p50": latency_summary([float(s) for s in sentences])["p50_ms"],
        "ms_per_sentence": round(sum(sim_ms) / max(sum(sentences), 1), 1),
    }
    out["refused_share"] = round(refused / max(len(cold), 1), 3)
    return out


def baseline_search(vs, embeddings, queries: list[str], rounds: int, warmup: int = 5, k: int = 5) -> dict:
    for q in queries[:warmup]:
        vs.similarity_search(q, k=k)
    total, embed, dense = [], [], []
    for _ in range(rounds):
        for q in queries:
            t0 = time.perf_counter()
            vs.similarity_search(q, k=k)
            total.append((time.perf_counter() - t0) * 1000)
    for q in queries:
        t0 = time.perf_counter()
        v = embeddings.embed_query(q)
        t1 = time.perf_counter()
        vs.similarity_search_by_vector(v, k=k)
        t2 = time.perf_counter()
        embed.append((t1 - t0) * 1000)
        dense.append((t2 - t1) * 1000)
    out = latency_summary(total)
    out["parts_p50_ms"] = {"embed_query": latency_summary(embed)["p50_ms"], "chroma_query": latency_summary(dense)["p50_ms"]}
    return out
