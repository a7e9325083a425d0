"""Language-aware text helpers: tokens, stems, sentences, language guess.

Bokmål first, English second. The stemmer is Snowball's Norwegian (PyStemmer),
applied to every token so that queries and passages are stemmed the same way.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import Stemmer

_WORD = re.compile(r"[0-9]+|[^\W\d_]+(?:-[^\W\d_]+)*", re.UNICODE)

NB_STOPWORDS = frozenset(
    """
    og i jeg det at en et den til er som på de med han av ikke ikkje der så var meg seg men ett har om vi
    min mitt mine ha hadde hun nå over da ved fra du ut sin dem oss opp man kan hans hvor eller hva skal
    selv sjøl her alle vil bli ble blitt kunne inn når være kom noen noe ville dere som deres kun ja etter
    ned skulle denne for deg si sine sitt mot å meget hvorfor dette disse uten hvordan ingen din ditt
    dine blir samme hvilken hvilke sånn inni mellom vår våre vårt hver hvem vors hvis både bare enn fordi
    før mange også slik vært være begge siden henne hennes da dei deira eit ei me mykje no sia sidan so
    somt somme um upp vore vors hvilket hvordan hvor mye mer mest mindre minst man må mye nok noen ofte
    under gjennom bør kan får få fikk går gjør gjøre gjort hos blant også sammen slik andre annen annet
    """.split()
)
EN_STOPWORDS = frozenset(
    """
    a an and are as at be been but by can could did do does for from had has have how i if in into is it
    its me my of on or our so than that the their them then there these they this those to was we were
    what when where which who whom why will with would you your about after all also any because before
    between both each few more most no nor not only other out over own same should some such through
    under until up very just do does doing here
    """.split()
)
STOPWORDS = NB_STOPWORDS | EN_STOPWORDS

_NB_MARKERS = frozenset(
    "og ikke det er som på jeg vi hva hvordan hvilke hvilken hvem hvor hvorfor kan skal har med til av "
    "en et min mitt mine vår våre kommune kommunen kommunene byen ledelse leder deltok".split()
)
_EN_MARKERS = frozenset(
    "the and is are what which who how why does did of to in for with this that town towns "
    "leadership programme program participants took part".split()
)

_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"»”)]*\s+(?=[\"«“(]?[A-ZÆØÅ0-9])")
_ABBREVIATIONS = ("bl.a.", "f.eks.", "m.fl.", "osv.", "dvs.", "ca.", "nr.", "jf.", "evt.", "e.g.", "i.e.", "hhv.", "mv.", "s.", "v/")


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("norwegian")


def normalize(text: str) -> str:
    """NFC, folded case, control characters removed."""
    text = unicodedata.normalize("NFC", text)
    # Every character of category C (control, format, unassigned, ...) is non-printable, so a
    # text that is printable apart from newlines and tabs has none: skip the per-character
    # check (measured: most of the time of building BM25 for 50k chunks).
    if text.replace("\n", " ").replace("\t", " ").isprintable():
        return text.casefold()
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C").casefold()


def words(text: str) -> list[str]:
    return _WORD.findall(normalize(text))


def content_words(text: str) -> list[str]:
    """Words that carry meaning: no stopwords, no one-letter tokens."""
    return [w for w in words(text) if w not in STOPWORDS and len(w) > 1]


def stem_word(word: str) -> str:
    """One word's Snowball stem."""
    return _stemmer().stemWord(word)


def stems(text: str) -> list[str]:
    """Stemmed content words, for BM25 and lexical overlap."""
    found = content_words(text)
    stemmed = _stemmer().stemWords(found)
    # Compounds are common in Norwegian ("byutvikling"); hyphenated ones are split too.
    out: list[str] = []
    for word, stem in zip(found, stemmed):
        out.append(stem)
        if "-" in word:
            out.extend(_stemmer().stemWords([p for p in word.split("-") if len(p) > 1]))
    return out


def guess_language(text: str, default: str = "nb") -> str:
    """'nb' or 'en' from function words and letters; falls back to `default`."""
    tokens = words(text)
    if not tokens:
        return default
    nb = sum(t in _NB_MARKERS for t in tokens) + 2 * sum(ch in "æøå" for ch in text.lower())
    en = sum(t in _EN_MARKERS for t in tokens)
    if en > nb:
        return "en"
    if nb > en:
        return "nb"
    return default


def split_sentences(text: str) -> list[str]:
    """Split prose into sentences; list items and headings stay whole."""
    out: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        lines = [ln.strip() for ln in block.splitlines() if ln.strip()]
        if not lines:
            continue
        # Bullet lists and tables: one line, one unit.
        if all(re.match(r"^([-*+]|\d+[.)]|\|)\s*", ln) for ln in lines):
            out.extend(lines)
            continue
        # A short first line without end punctuation is a heading (PDF pages have no '#');
        # later short lines are usually just wrapped text, so they are joined.
        if len(lines) > 1 and _is_heading_line(lines[0]):
            out.append(lines.pop(0))
        out.extend(_split_prose(" ".join(lines)))
    return [s for s in out if s]


def _is_heading_line(line: str) -> bool:
    return len(line.split()) <= 12 and line[:1].isupper() and not line.rstrip().endswith((".", "!", "?", ":", ",", ";", "…"))


def strip_emphasis(text: str) -> str:
    """Markdown bold/italic markers off, so a sentence cut from a bold run reads cleanly."""
    return re.sub(r"(\*\*|__)", "", text)


_ABBREVIATION = re.compile(r"(?<![\w.])(" + "|".join(re.escape(a) for a in _ABBREVIATIONS) + ")")


def _split_prose(text: str) -> list[str]:
    # An abbreviation is a word of its own: "s." protects "s. 4", not the end of "tracks." or "hus.".
    protected = _ABBREVIATION.sub(lambda m: f"\x00{_ABBREVIATIONS.index(m.group(1))}\x00", text)
    parts = _SENTENCE_END.split(protected)
    result = []
    for part in parts:
        for i, abbr in enumerate(_ABBREVIATIONS):
            part = part.replace(f"\x00{i}\x00", abbr)
        part = part.strip()
        if part:
            result.append(part)
    return result
