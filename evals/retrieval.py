"""The retrieval set: queries with the document that should be found.

`evals/retrieval/*.jsonl`, one object a line:
{"id": "prog-01", "query": "...", "language": "nb", "expected": ["programme/organisering.md"]}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from assistant.core.retrieval import Mode, Retriever
from evals.cases import CaseFileError  # one class for both kinds of case file
from evals.metrics import document_recall, hit_at_k, mean, reciprocal_rank

RETRIEVAL_DIR = Path(__file__).resolve().parent / "retrieval"


class RetrievalCase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    split: Literal["dev", "test"]  # as for eval cases: tune on dev, report test (docs/evals.md)
    query: str
    language: str
    expected: list[str]


def load_retrieval_set(folder: Path = RETRIEVAL_DIR) -> list[RetrievalCase]:
    cases: list[RetrievalCase] = []
    for path in sorted(folder.glob("*.jsonl")):
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                cases.append(RetrievalCase.model_validate(json.loads(line)))
            except (ValueError, ValidationError) as exc:
                raise CaseFileError(f"{path.name}:{lineno}: {exc}") from exc
    return cases


class RetrievalScores(BaseModel):
    mode: str
    cases: int
    hit_at_1: float
    hit_at_5: float
    mrr: float
    recall_at_5: float
    misses: list[str]


def score_retrieval(retriever: Retriever, cases: list[RetrievalCase], mode: Mode = "hybrid", k: int = 30) -> RetrievalScores:
    """Documents ranked by their best chunk among the top `k` chunks."""
    h1, h5, rr, rec, misses = [], [], [], [], []
    for case in cases:
        hits = retriever.search(case.query, k=k, mode=mode, apply_floor=False)
        sources = _dedupe([h.chunk.meta.source for h in hits])
        h1.append(hit_at_k(sources, case.expected, 1))
        h5.append(hit_at_k(sources, case.expected, 5))
        rr.append(reciprocal_rank(sources, case.expected))
        rec.append(document_recall(sources, case.expected, 5))
        if not h5[-1]:
            misses.append(case.id)
    return RetrievalScores(
        mode=mode,
        cases=len(cases),
        hit_at_1=round(mean(h1), 4),
        hit_at_5=round(mean(h5), 4),
        mrr=round(mean(rr), 4),
        recall_at_5=round(mean(rec), 4),
        misses=misses,
    )


def _dedupe(sources: list[str]) -> list[str]:
    seen: set[str] = set()
    return [s for s in sources if not (s in seen or seen.add(s))]
