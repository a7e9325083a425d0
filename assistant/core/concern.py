"""What a participant's reflection message is about, and which of its words to mirror.

A participant often opens with who they are ("Jeg er plansjef i Horten.") and then says what
troubles them ("Vi godkjenner små utbygginger i randsonen, én sak av gangen."). The
introduction tells the assistant little about which material would help; the concern does. Pure
text rules over the message (no model, no store): they are about how people write about their
work (introductions, contrast, feelings, decisions, the places and people they name), not about
any particular message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.core.text import split_sentences, words

# "Jeg er kultursjef i Tønsberg", "Eg er plansjef", "I'm a planning manager in Horten", "Jeg leder næringsavdelingen".
_INTRODUCTION = re.compile(
    r"^\W*(jeg er|eg er|jeg jobber|eg jobbar|jeg arbeider|eg arbeider|jeg leder|eg leier|jeg har ansvar|eg har ansvar|"
    r"i am|i'm|i work|i lead|i head|i manage|my name)\b",
    re.I,
)
# What carries a tension: contrast, conflict, feeling, doubt, pressure (bokmål, nynorsk, English).
_TENSION = re.compile(
    r"\b(men|samtidig|samstundes|mens|likevel|selv om|sjølv om|konflikt\w*|kolli\w*|spenning\w*|motstand|uenig\w*|"
    r"sliter|slit|strever|strevar|redd|usikker|tvil\w*|lurer|bekymr\w*|uro\w*|frustr\w*|vanskelig\w*|vanskeleg\w*|"
    r"press\w*|overbooket|overlesset|for mye|for mykje|full av|fulle av|fullt|overfull\w*|ikke tid|ikkje tid|aldri tid|"
    r"rekker ikke|rekker aldri|rekk ikkje|trekker i|trekkjer i|trukket i|dratt i|hver sin retning|kvar si retning|ulike retninger|"
    r"but|while|yet|although|though|conflict\w*|collid\w*|clash\w*|tension\w*|resist\w*|disagree\w*|struggl\w*|"
    r"afraid|unsure|doubt\w*|wonder\w*|worr\w*|frustrat\w*|difficult|pressure\w*|overload\w*|overwhelm\w*|too much|"
    r"no time|never have time|different directions|pull\w* apart)\b",
    re.I,
)
# What carries an intent or a decision: the participant's own "I will", "we have chosen".
_INTENT = re.compile(
    r"\b(jeg|vi|eg|i|we)\s+(vil|ønsker|ønskjer|skal|må|har bestemt|har valt|har valgt|har tenkt|"
    r"will|want|must|have decided|have chosen|am going to|are going to|need to)\b|\b(valgt|valt|bestemt|chosen|decided)\b",
    re.I,
)
# A request to the assistant ("Hjelp meg å se …", "Kan du …") says what is wanted, not what is.
_REQUEST = re.compile(r"^\W*(hjelp meg|hjelp oss|help me|help us|kan du|could you|can you)\b", re.I)
# A named place, person or organisation: a capitalised word or an acronym that does not open the sentence.
_NAME = re.compile(r"(?<=\s)(?:[A-ZÆØÅ][a-zæøåéü'’-]+|[A-ZÆØÅ]{2,})\b")
# Where a long sentence can be cut: after a comma, semicolon or colon, before a dash, or before a
# conjunction that opens a clause ("men", "fordi"); "og" / "and" also join nouns, so only after a comma.
_CLAUSE = re.compile(r"(?<=[,;:])\s+|\s+(?=[–—]\s)|\s+(?=(?:men|mens|fordi|selv om|sjølv om|but|while|because|although)\s)", re.I)
MIN_CONCERN_WORDS = 4
MAX_INTRODUCTION_WORDS = 9
MAX_MIRROR_WORDS = 24  # one mirrored sentence; longer ones are cut at a clause boundary
MAX_MIRRORED = 2  # sentences mirrored: the tension, and what it adds (a named place, a second tension)
_AND = re.compile(r"\b(og|and)\b", re.I)


def _is_introduction(sentence: str) -> bool:
    """A short self-introduction and nothing more: no second clause ("… og har lest om …"), no tension."""
    return (
        bool(_INTRODUCTION.match(sentence))
        and len(words(sentence)) <= MAX_INTRODUCTION_WORDS
        and not _AND.search(sentence)
        and not _TENSION.search(sentence)
    )


def _introduces(sentence: str) -> bool:
    """Who the writer is, of any length ("Jeg er kommunalsjef for samfunnsutvikling i en by på
    rundt 45 000 innbyggere"), with no second clause, tension or intent of its own: never mirrored
    when the message says more."""
    return (
        bool(_INTRODUCTION.match(sentence))
        and not _AND.search(sentence)
        and not _TENSION.search(sentence)
        and not _INTENT.search(sentence[8:])
    )


# "i Porsgrunn", "in Horten", "fra Larvik": a named place after a preposition is where the
# participant works, the setting of the concern rather than what it is about.
_PLACE = re.compile(r"\b(?i:i|in|på|fra|from|at)\s+([A-ZÆØÅ][a-zæøåéü'’-]+)")


def places(message: str) -> frozenset[str]:
    """The places a message names as its setting ("i Porsgrunn", "in Horten"). Matching the
    material on them finds the sentences that list the programme's towns, not what speaks to the
    concern, so reflection scores its sentences without them (`SentenceScorer.candidates`). A name
    without a preposition (an author, a model: "Scharmer", "Theory U") is not a place."""
    return frozenset(_PLACE.findall(message))


def concern(message: str) -> str:
    """The message without its self-introduction: what the material should be matched against.
    A message that is nothing but an introduction is returned whole."""
    sentences = split_sentences(message)
    kept = [s for s in sentences if not _is_introduction(s)]
    text = " ".join(kept)
    return text if len(words(text)) >= MIN_CONCERN_WORDS else message


@dataclass(frozen=True)
class _Candidate:
    position: int
    text: str
    tension: bool
    intent: bool
    named: frozenset[str]
    asks: bool  # a question to the assistant ("Hvordan kan jeg …?")

    @property
    def weight(self) -> int:
        """Tension outweighs intent, which outweighs a named place; a question counts least."""
        return 4 * self.tension + 2 * self.intent + bool(self.named) - 3 * self.asks


def _candidates(message: str) -> list[_Candidate]:
    sentences = [s.strip() for s in split_sentences(message) if s.strip()]
    out = [
        _Candidate(i, s, bool(_TENSION.search(s)), bool(_INTENT.search(s)),
                   frozenset(_NAME.findall(s)), s.rstrip().endswith("?"))
        for i, s in enumerate(sentences)
    ]
    said = [c for c in out if not _REQUEST.match(c.text) and not _introduces(c.text) and not _is_introduction(c.text)]
    return said or [c for c in out if not _is_introduction(c.text)] or out


def mirror_sentences(message: str) -> list[str]:
    """The sentences of the message to mirror, in the message's order: the one that carries its
    tension or intent (contrast, conflict, feeling, a decision), else the first that is neither an
    introduction nor a request; and a second one when it adds a tension of its own or names a
    place or person the first does not."""
    cands = _candidates(message)
    if not cands:
        return [message.strip()] if message.strip() else []
    first = max(cands, key=lambda c: (c.weight, -c.position))
    chosen = [first]
    for c in sorted(cands, key=lambda c: (-c.weight, c.position)):
        if len(chosen) >= MAX_MIRRORED or c is first or c.asks:
            continue
        if (c.tension and first.tension) or (c.named - first.named and (c.tension or c.intent or not first.named)):
            chosen.append(c)
    return [c.text for c in sorted(chosen, key=lambda c: c.position)]


def mirror_sentence(message: str) -> str:
    """The one sentence of the message that carries most of its tension or intent."""
    return (mirror_sentences(message) or [message.strip()])[0] if message.strip() else ""


def shorten(sentence: str, max_words: int = MAX_MIRROR_WORDS) -> str:
    """The sentence in at most `max_words` words, cut at clause boundaries with an ellipsis where
    cut, keeping the clause that carries the tension (it may sit late in a long sentence)."""
    if len(sentence.split()) <= max_words:
        return sentence
    clauses = [c for c in _CLAUSE.split(sentence) if c and c.strip()]
    start = next((i for i, c in enumerate(clauses) if _TENSION.search(c) or _INTENT.search(c)), 0)
    end = start + 1
    size = lambda a, b: sum(len(c.split()) for c in clauses[a:b])  # noqa: E731
    while end < len(clauses) and size(start, end + 1) <= max_words:
        end += 1
    while start > 0 and size(start - 1, end) <= max_words:
        start -= 1
    text = " ".join(c.strip() for c in clauses[start:end])
    if len(text.split()) > max_words:  # one clause longer than the limit: cut at a word
        text = " ".join(text.split()[:max_words])
        end = len(clauses) + 1  # cut inside: the end is not reached
    text = text.rstrip(" ,;:–—-")
    return ("… " if start > 0 else "") + text + (" …" if end < len(clauses) else "")


def mirror_phrase(message: str) -> str:
    """What the reflection quotes back: the participant's own words that carry the message
    (`mirror_sentences`), each long one shortened, without the final full stop."""
    phrase = " ".join(shorten(s) for s in mirror_sentences(message))
    return phrase[:-1] if phrase.endswith(".") and not phrase.endswith("..") else phrase
