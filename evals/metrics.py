"""Metrics as pure functions. Each takes plain values and returns a float."""

from __future__ import annotations

from collections.abc import Sequence


def first_relevant_rank(ranked_sources: Sequence[str], expected: Sequence[str]) -> int | None:
    """1-based rank of the first source in `expected`, or None."""
    wanted = set(expected)
    for rank, source in enumerate(ranked_sources, start=1):
        if source in wanted:
            return rank
    return None


def hit_at_k(ranked_sources: Sequence[str], expected: Sequence[str], k: int) -> float:
    rank = first_relevant_rank(ranked_sources[:k], expected)
    return 1.0 if rank is not None else 0.0


def reciprocal_rank(ranked_sources: Sequence[str], expected: Sequence[str]) -> float:
    rank = first_relevant_rank(ranked_sources, expected)
    return 0.0 if rank is None else 1.0 / rank


def document_recall(ranked_sources: Sequence[str], expected: Sequence[str], k: int) -> float:
    """Share of the expected documents found in the top k (1.0 when none are expected)."""
    if not expected:
        return 1.0
    top = set(ranked_sources[:k])
    return sum(1 for e in set(expected) if e in top) / len(set(expected))


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0
