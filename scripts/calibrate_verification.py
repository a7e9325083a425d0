"""How the verification thresholds were chosen (docs/answers.md, "Verified model answers").

    ASSISTANT_DATA_DIR=data python scripts/calibrate_verification.py

The dev split's fact cases: each sentence of the reference answer (written in other words than
the material) against the two best retrieved chunks of its expected documents (supported) and
against the two best retrieved chunks of other documents; for a grid of thresholds, the share of
each accepted. Needs an ingested index.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from assistant.core.runtime import Runtime
from assistant.core.selection import units_of
from assistant.core.settings import Settings
from assistant.core.text import stems
from assistant.core.verify import check_sentence, sentences_of

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    settings = Settings()
    rt = Runtime.from_settings(settings)
    cache: dict[str, np.ndarray] = {}

    def similarity(sentence: str, passages: list[str]) -> float:
        units = [u.text for p in passages for u in units_of(p, 0, "nb")] or passages
        texts = [sentence, *units]
        missing = [t for t in dict.fromkeys(texts) if t not in cache]
        if missing:
            cache.update(zip(missing, rt.embedder.embed_passages(missing)))
        vectors = np.stack([cache[t] for t in texts])
        return float(np.max(vectors[1:] @ vectors[0]))

    def known(word: str) -> bool:
        return any(rt.retriever.document_frequency(s) > 0 for s in stems(word))

    supported, others = [], []
    for path in sorted((ROOT / "evals" / "cases").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            case = json.loads(line)
            if case["split"] != "dev" or case["type"] != "fact" or not case.get("documents") or case.get("mode") == "reflect":
                continue
            hits = rt.retriever.search(case["question"], k=8)
            good = [h.chunk.text for h in hits if h.chunk.meta.source in case["documents"]][:2]
            bad = [h.chunk.text for h in hits if h.chunk.meta.source not in case["documents"]][:2]
            for sentence in sentences_of(case["reference"]):
                for chunks, out in ((good, supported), (bad, others)):
                    if chunks:
                        c = check_sentence(f"{sentence} [1]", {1: "\n".join(chunks)}, similarity=similarity,
                                           min_lexical=2, min_similarity=2, known=known)
                        out.append((c.reason, c.lexical, c.similarity, case["language"]))

    def accepted(items, lexical, sim):
        ok = [x for x in items if x[0] == "not in the source" and (x[1] >= lexical or x[2] >= sim)]
        return len(ok) / max(1, len(items))

    print(f"supported: {len(supported)} sentences, rules: {dict(Counter(r for r, *_ in supported))}")
    print(f"other documents: {len(others)} sentences, rules: {dict(Counter(r for r, *_ in others))}")
    print("min lexical / min similarity | supported accepted | others accepted | English supported accepted")
    for lexical in (0.5, 0.6, 0.7):
        for sim in (0.86, 0.87, 0.88, 0.90):
            en = [x for x in supported if x[3] == "en"]
            print(f"{lexical} / {sim} | {accepted(supported, lexical, sim):.2f} | {accepted(others, lexical, sim):.2f} | {accepted(en, lexical, sim):.2f}")


if __name__ == "__main__":
    main()
