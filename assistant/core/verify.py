"""Verification of a model's answer, sentence by sentence, against the passages it cites.

A language model's text reaches the user only where the retrieved sources support it. Each
sentence of the model's answer (list items count as sentences) is checked:

1. **Markup and leaks out.** Source-block markup from the prompt (`<kilde …>`, `<source …>`) is
   removed; a line that repeats a line of the prompt (word overlap, so an altered copy is caught
   too) is dropped.
2. **Cited.** The sentence must carry a citation `[n]` of a retrieved source.
3. **Supported by what it cites.** Against the cited passages together:
   - every number in the sentence (digits, and number words like "fire") occurs in them;
   - every name (a capitalised word not at the start of the sentence) occurs in them;
   - its content words are there (`lexical`, the IDF-free share of its content stems found,
     compound-aware), or it means what one of their sentences says (`similarity`, e5 cosine with
     the closest passage sentence). Thresholds: `Settings.verify_min_lexical`,
     `verify_min_similarity`; measured in docs/answers.md ("Verified model answers").

What fails is removed (or, with `verify_mode = "mark"`, kept and marked as unverified). The engine
falls back to the extractive answer when too little survives (`verify_min_share`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from assistant.core.selection import NUMBER_VALUE, covered
from assistant.core.text import STOPWORDS, split_sentences, stems, words

_CITE = re.compile(r"\[(\d{1,3})\]")
_SOURCE_MARKUP = re.compile(r"</?\s*(kilde|kilder|source|sources)\b[^>]*>|&lt;/?\s*(kilde|source)\b.*?&gt;", re.I)
_DIGITS = re.compile(r"\d+(?:[.,]\d+)?")
_NAME = re.compile(r"(?<![.!?:]\s)(?<!^)\b([A-ZÆØÅ][\wæøåÆØÅ-]{2,})")
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


@dataclass(frozen=True)
class SentenceCheck:
    text: str  # as shown, with its citation marks
    cited: tuple[int, ...]
    supported: bool
    reason: str  # "ok", or why not: "no citation", "number", "name", "not in the source", "prompt"
    lexical: float = 0.0
    similarity: float = 0.0


@dataclass(frozen=True)
class Verification:
    checks: tuple[SentenceCheck, ...] = field(default_factory=tuple)

    @property
    def supported(self) -> list[SentenceCheck]:
        return [c for c in self.checks if c.supported]

    @property
    def removed(self) -> list[SentenceCheck]:
        return [c for c in self.checks if not c.supported]

    @property
    def share(self) -> float:
        """Share of the model's sentences that are supported (0 when it wrote none)."""
        return len(self.supported) / len(self.checks) if self.checks else 0.0


def strip_markup_and_leaks(text: str, prompt_lines: Sequence[str]) -> str:
    """Source-block markup removed; lines that copy (or nearly copy) a prompt line dropped."""
    text = _SOURCE_MARKUP.sub(" ", text)
    prompt_sets = [set(words(line)) - STOPWORDS for line in prompt_lines]
    prompt_sets = [s for s in prompt_sets if len(s) >= 3]
    kept = []
    for line in text.splitlines():
        own = set(words(_CITE.sub("", line))) - STOPWORDS
        if len(own) >= 3 and any(len(own & p) / len(own | p) >= 0.5 or len(own & p) >= 0.8 * len(own) for p in prompt_sets):
            continue
        kept.append(line)
    return "\n".join(kept)


def sentences_of(text: str) -> list[str]:
    """The model's sentences, list items as their own sentences; a citation that follows the full
    stop stays with its sentence."""
    out: list[str] = []
    # "… i 2022. [1] Neste …": the mark goes before the full stop, where it belongs to its sentence.
    text = re.sub(r"([.!?])[ \t]*((?:\[\d{1,3}\][ \t]*)+)", lambda m: " " + m.group(2).strip() + m.group(1) + " ", text)
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        for piece in split_sentences(line):
            piece = piece.strip()
            if out and re.fullmatch(r"(\[\d{1,3}\]\s*)+[.,;]?", piece):
                out[-1] += " " + piece  # "… i 2022. [1]": the mark belongs to the sentence before
            elif piece:
                out.append(piece)
    return out


_WORD_VALUE = {**NUMBER_VALUE, "tjue": 20, "twenty": 20, "hundre": 100, "hundred": 100}
_NOT_COUNTS = {"en", "et", "ei", "one", "to"}  # articles and a preposition more often than numbers


def _numbers(text: str) -> set[str]:
    """Numbers as values: "44,000" and "44 000" are "44000"; "four" and "fire" are "4"."""
    plain = _CITE.sub("", text)
    plain = re.sub(r"(?<=\d)[ \u00a0.,](?=\d{3}\b)", "", plain)  # thousands separators
    found = {m.group(0).replace(",", ".") for m in _DIGITS.finditer(plain)}
    found |= {str(_WORD_VALUE[w]) for w in words(plain) if w in _WORD_VALUE and w not in _NOT_COUNTS}
    return found


def _names(text: str) -> set[str]:
    body = _LIST_MARK.sub("", _CITE.sub("", text)).strip()
    return {m.group(1).casefold() for m in _NAME.finditer(body)}


def check_sentence(
    sentence: str,
    passages: dict[int, str],
    *,
    similarity: Callable[[str, list[str]], float],
    min_lexical: float,
    min_similarity: float,
    known: Callable[[str], bool] = lambda word: True,
    questions_need_no_source: bool = False,
) -> SentenceCheck:
    cited = tuple(dict.fromkeys(int(n) for n in _CITE.findall(sentence)))
    valid = tuple(n for n in cited if n in passages)
    plain = _LIST_MARK.sub("", _CITE.sub("", sentence)).strip()
    if not valid and questions_need_no_source and plain.endswith("?"):
        return SentenceCheck(sentence, cited, True, "question")  # a question to the participant states nothing
    if not valid:
        return SentenceCheck(sentence, cited, False, "no citation")
    source = "\n".join(passages[n] for n in valid)
    source_stems = set(stems(source))
    source_text = source.casefold()
    missing_numbers = _numbers(plain) - _numbers(source)
    if missing_numbers:
        return SentenceCheck(sentence, valid, False, "number")
    # A name the material uses must be in the passage cited (the right name in the wrong place is
    # the typical error); a word unknown to the material (a translation, "Norwegian") is left to
    # the word and meaning checks below.
    missing_names = [n for n in _names(plain) if n not in source_text and known(n)]
    if missing_names:
        return SentenceCheck(sentence, valid, False, "name")
    content = list(dict.fromkeys(stems(plain)))
    lexical = sum(1 for s in content if covered(s, source_stems)) / len(content) if content else 0.0
    sim = similarity(plain, [passages[n] for n in valid]) if plain else 0.0
    ok = lexical >= min_lexical or sim >= min_similarity
    return SentenceCheck(sentence, valid, ok, "ok" if ok else "not in the source", round(lexical, 3), round(sim, 4))


def verify(
    text: str,
    passages: dict[int, str],
    *,
    prompt_lines: Sequence[str],
    similarity: Callable[[str, list[str]], float],
    min_lexical: float,
    min_similarity: float,
    known: Callable[[str], bool] = lambda word: True,
    questions_need_no_source: bool = False,
) -> Verification:
    cleaned = strip_markup_and_leaks(text, prompt_lines)
    checks = [
        check_sentence(s, passages, similarity=similarity, min_lexical=min_lexical, min_similarity=min_similarity, known=known,
                       questions_need_no_source=questions_need_no_source)
        for s in sentences_of(cleaned)
        if len(words(_CITE.sub("", s))) >= 2
    ]
    leaked = len([ln for ln in text.splitlines() if ln.strip()]) - len([ln for ln in cleaned.splitlines() if ln.strip()])
    checks += [SentenceCheck("", (), False, "prompt")] * max(0, leaked)
    return Verification(tuple(checks))
