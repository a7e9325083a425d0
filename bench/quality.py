"""Retrieval quality next to speed: hit@5 and MRR on the repository's retrieval set.

Ours through `evals.retrieval.score_retrieval` (documents ranked by their best chunk
among the top 30). The baseline is scored the same way: `similarity_search(q, k=30)`,
sources de-duplicated in rank order.
"""

from __future__ import annotations

from evals.metrics import document_recall, hit_at_k, mean, reciprocal_rank
from evals.retrieval import load_retrieval_set, score_retrieval


def ours(retriever) -> dict:
    cases = load_retrieval_set()
    out = {}
    for mode in ("hybrid", "dense"):
        s = score_retrieval(retriever, cases, mode=mode)
        out[mode] = {"hit_at_1": s.hit_at_1, "hit_at_5": s.hit_at_5, "mrr": s.mrr, "recall_at_5": s.recall_at_5, "cases": s.cases}
    return out


def baseline(vs, k: int = 30) -> dict:
    cases = load_retrieval_set()
    h1, h5, rr, rec = [], [], [], []
    for case in cases:
        docs = vs.similarity_search(case.query, k=k)
        seen: set[str] = set()
        sources = [d.metadata["source"] for d in docs if not (d.metadata["source"] in seen or seen.add(d.metadata["source"]))]
        h1.append(hit_at_k(sources, case.expected, 1))
        h5.append(hit_at_k(sources, case.expected, 5))
        rr.append(reciprocal_rank(sources, case.expected))
        rec.append(document_recall(sources, case.expected, 5))
    return {"hit_at_1": round(mean(h1), 4), "hit_at_5": round(mean(h5), 4), "mrr": round(mean(rr), 4),
            "recall_at_5": round(mean(rec), 4), "cases": len(cases)}


def queries() -> list[str]:
    return [c.query for c in load_retrieval_set()]
