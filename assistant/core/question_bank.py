"""The question bank: the reflection and discussion questions of the question documents, and
which of them fit what a participant wrote, in the participant's language where the bank has
questions in it (the bundled reflection questions are in bokmål only, so far)."""

from __future__ import annotations

from collections.abc import Sequence

from assistant.core.records import Chunk, Hit
from assistant.core.retrieval import Retriever
from assistant.core.scoring import SentenceScorer
from assistant.core.text import stems


class QuestionBank:
    def __init__(self, retriever: Retriever, scorer: SentenceScorer) -> None:
        self.retriever = retriever
        self.scorer = scorer

    def questions(
        self,
        text: str,
        *,
        stage: str | None = None,
        n: int = 2,
        asked: Sequence[str] = (),
        discussion: bool = False,
        language: str | None = None,
    ) -> list[tuple[str, Chunk]]:
        """Bullet questions from the question documents that fit `text`.

        With `stage`, only that reflection stage's questions; with `discussion`, only the
        discussion questions (question documents that belong to no reflection stage). With
        `language`, only questions in that language when the bank has any for the stage (a
        participant who writes English is asked in English), else those of any language.
        """
        # The bank reads the documents search leaves out (`searchable: false`, such as the English
        # versions of the reflection questions).
        hits = self.retriever.search(text, k=12, kinds=("question",), apply_floor=False, include_unsearchable=True)
        if discussion:
            hits = [h for h in hits if not h.chunk.meta.stage]
        elif stage:
            staged = [h for h in hits if stage in h.chunk.meta.stage]
            own = [h for h in staged if h.chunk.meta.language == language] if language else staged
            # Every chunk of the stage is read only when the retrieved ones do not do.
            if not own:
                every = [Hit(chunk=c, score=0.0, rank=0) for c in self.retriever.chunks.values() if stage in c.meta.stage]
                own = [h for h in every if h.chunk.meta.language == language] or staged or every
            hits = own
        seen = {a.strip().casefold() for a in asked}
        pool: list[tuple[str, Chunk]] = []
        for h in hits:
            for line in h.chunk.text.splitlines():
                q = line.strip().lstrip("-*+ ").strip()
                if q.endswith("?") and len(q.split()) >= 4 and q.casefold() not in seen:
                    pool.append((q, h.chunk))
        if not pool:
            return []
        sims = self.scorer.similarities(text, [q for q, _ in pool])
        query_stems = set(stems(text))
        scored = sorted(
            range(len(pool)),
            key=lambda i: -(sims[i] + 0.05 * len(query_stems & set(stems(pool[i][0])))),
        )
        out: list[tuple[str, Chunk]] = []
        for i in scored:
            if all(pool[i][0] != q for q, _ in out):
                out.append(pool[i])
            if len(out) >= n:
                break
        return out
