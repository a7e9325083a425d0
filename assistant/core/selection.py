"""Which sentences of the retrieved chunks answer the question, and whether any does.

Pure logic over plain values (no model, no store): the answer engine hands in the
retrieved chunks' text, the question, the sentence similarities and word weights,
and gets back scored units, the span that answers first, and a verdict on what
the material leaves out. Nothing here knows any particular question, phrase or
document: the rules are about kinds of questions (who, how many, when, which),
about how texts announce and refer (a sentence that announces "three parties"
or ends in a colon brings what follows; one that opens with "This" or "De"
brings what it refers to), and about whether the question's own words occur in
what was retrieved.

docs/answers.md explains the rules with measurements.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from assistant.core.lexical import with_parts
from assistant.core.records import Chunk
from assistant.core.text import STOPWORDS, split_sentences, stems, strip_emphasis, words

# --- question kinds ---------------------------------------------------------------------------------
QuestionKind = str  # "who" | "count" | "when" | "list" | "define" | "why" | "other"

_MONEY_ASKED = r"(?:kost\w*|pris\w*|budsjett\w*|betal\w*|lønn\w*|honorar\w*|cost\w*|price\w*|budget\w*|pay|paid|salar\w*|fees?|spen[dt]\w*)\b"
_KIND_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # Measures: what a budget, a price, a population or a score is. Their answer is a figure of
    # that measure; a number of something else does not answer them.
    ("amount", re.compile(
        r"^\W*(?:hvor (?:mye|stor|stort|store|høy|høyt|høye)|how (?:much|big|large|high))\b[^?.!]*?\b" + _MONEY_ASKED + r"|"
        r"^\W*(?:hva|what)\s+(?:(?:var|er|ble|blir|was|is|were|are|did|does)\s+(?:[\w-]+\s+){0,4}?)?" + _MONEY_ASKED,
        re.I)),
    ("population", re.compile(r"\b(innbyggertall\w*|folketall\w*|hvor mange innbyggere|population|how many (inhabitants|residents|people live))\b", re.I)),
    ("score", re.compile(r"^\W*(hva|hvilken|hvilket|hvor|what|which|how)\b.{0,60}?\b(karakter\w*|poeng\w*|score\w*|rating\w*|skala\w*|scale|out of (ten|10))\b", re.I)),
    ("count", re.compile(r"\b(hvor (mange|mye|stor|store|lang|lenge|høy|ofte)|how (many|much|large|big|long|often)|antall|number of)\b", re.I)),
    ("when", re.compile(r"^\W*(når|when)\b|\b(hvilket år|hvilken dato|hvilken måned|what year|which year|what date)\b", re.I)),
    ("who", re.compile(r"\b(hvem|who|whom|whose)\b", re.I)),  # "office" when it asks for a role's holder
    ("why", re.compile(r"\b(hvorfor|why)\b", re.I)),
    ("list", re.compile(r"^\W*(hvilke|which|what are|hva er de|name the|list)\b", re.I)),
    ("define", re.compile(r"^\W*(hva (er|betyr|menes|kjennetegner|innebærer)|what (is|does|do .* mean)|what's)\b", re.I)),
)

NUMBER_WORDS = frozenset(
    "to tre fire fem seks sju syv åtte ni ti elleve tolv tjue hundre tusen million millioner milliard milliarder "
    "dusin halvparten two three four five six seven eight nine ten eleven twelve twenty hundred thousand "
    "million millions billion dozen half".split()
)
_ONE = frozenset("en ett én one".split())
_MONTHS = frozenset(
    "januar februar mars april mai juni juli august september oktober november desember "
    "january february march may june july october december".split()
)
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")
_DIGITS = re.compile(r"\d")
_CAUSE = re.compile(r"\b(fordi|derfor|grunnen|årsaken|slik at|for å|because|therefore|so that|in order to|reason)\b", re.I)
_DEFINITION = re.compile(
    r"\b(er|betyr|innebærer|handler om|viser til|kalles|beskriver|beskrives|defineres|definerer|"
    r"is|are|means|refers to|describes|is described as|defines|is defined as)\b",
    re.I,
)


_MARKUP = re.compile(r"<!--.*?-->|<(script|style)\b.*?</\1\s*>|<[^>]{0,200}>|\b(?:https?|ftp)://[^\s]*[^\s.,;:!?)]|\bwww\.[^\s]*[^\s.,;:!?)]", re.S | re.I)
# Nynorsk question words, read as their bokmål forms by the rules below ("Kor mange kommunar
# var med?" is a how-many question, "Kven var prosjektleiar?" asks for a post's holder). "kor"
# alone is also a noun (a choir): it counts only at the start or before a measure word.
_NYNORSK_QUESTION_WORDS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.I), bokmaal)
    for pattern, bokmaal in (
        (r"\bkva for (?:nokre|nokon|ein|ei|eit)\b", "hvilke"),
        (r"\bkva tid\b", "når"),
        (r"\bkva\b", "hva"),
        (r"\bkven\b", "hvem"),
        (r"\bkvifor\b", "hvorfor"),
        (r"\bkorleis\b", "hvordan"),
        (r"\bkor(?= (?:mange|mykje|lenge|ofte|stor|store|lang|lange|høg|høge)\b)", "hvor"),
        (r"^(\W*)kor\b", "\\1hvor"),
        (r"\bmykje\b", "mye"),
        (r"\b(?:vart|blei)\b", "ble"),
    )
)


def bokmaal_question(question: str) -> str:
    """The question with its nynorsk question words in bokmål; a bokmål or English one unchanged."""
    for pattern, bokmaal in _NYNORSK_QUESTION_WORDS:
        question = pattern.sub(bokmaal, question)
    return question


_INTERROGATIVE = re.compile(
    r"^\W*(hva|hvem|hvor|hvilke|hvilken|hvilket|hvordan|hvorfor|når|er|var|har|hadde|kan|finnes|fins|"
    r"what|who|whom|whose|where|which|how|why|when|is|are|was|were|do|does|did|can|has|have)\b",
    re.I,
)


def question_part(message: str) -> tuple[str, bool]:
    """What a message asks, and whether it asks at all: its sentences that end in a question mark
    (or open with a question word), without markup, comments or links. A message that wraps its
    question in instructions ("Svar som en pirat … Hvilke kommuner deltok?") is judged by the
    question, not by the instructions around it; a message that asks nothing ("Skriv at …") is
    taken whole, and is no question."""
    text = _MARKUP.sub(" ", message)
    sentences = split_sentences(text)
    asked = [s for s in sentences if s.rstrip().endswith("?") or _INTERROGATIVE.match(bokmaal_question(s))]
    if asked:
        return " ".join(asked), True
    return " ".join(text.split()), False


# Nouns that name a post one person holds: "kommunedirektør", "prosjektleder" (nynorsk "prosjektleiar"), "ordfører", "mayor".
_OFFICE = re.compile(
    r"^(?:[\wæøå]*(?:leder|lederen|leiar|leiaren|ordførar|ordføraren|direktør|direktøren|sjef|sjefen|ordfører|ordføreren|rådmann|rådmannen|koordinator|koordinatoren|rektor|rektoren|formann|formannen)|"
    r"(?:[\w-]*)(?:mayor|director|manager|chair|chairman|chairperson|leader|minister|executive|coordinator|ceo|principal|president))$",
    re.I,
)


_ASKS_HOLDER = re.compile(
    r"^\W*(?:hvem|who)\s+(?:var|er|ble|blir|har vært|is|was|were|are|will be|has been)\s+(?:the\s+|a\s+|an\s+)?(?:([\wæøå-]+)\s+)?([\wæøå-]+)",
    re.I,
)


def office_word(question: str) -> str:
    """The post a "who was/is the X" question asks the holder of ("kommunedirektør" in "Hvem var
    kommunedirektør i Tønsberg?", "leader" in "Who was the project leader?"), or "". A "who"
    question about a group or an action ("Hvem var målgruppen?", "Hvem arrangerte piloten?") or
    one that only mentions a post ("Apart from the project leader, who …") names none."""
    m = _ASKS_HOLDER.search(bokmaal_question(question))
    if not m:
        return ""
    return next((w for w in (m.group(2), m.group(1)) if w and _OFFICE.match(w)), "")


# "Who were the participants (in the pilot)?", "Hvem var deltakerne?": the question asks what the
# group is, and names the group itself; what follows the noun, if anything, is a place or a time.
_ASKS_GROUP = re.compile(
    r"^\W*(?:hvem|who)\s+(?:var|er|ble|har vært|were|are|have been)\s+(?:the\s+)?([\wæøå-]+)"
    r"(?:\s+(?:i|på|fra|for|hos|under|in|on|of|from|at|during)\b[^?]*)?\s*\?",
    re.I,
)


def group_word(question: str) -> str:
    """The group a "who were the X" question asks about ("participants" in "Who were the
    participants in the pilot?", "deltakerne" in "Hvem var deltakerne?"), or "". Such a question is
    answered by what the material says of that group, which need not name anyone; a sentence full of
    other people's names ("The pilot was organised by …") does not answer it. A post ("Who was the
    project leader?") is `office_word`'s."""
    m = _ASKS_GROUP.search(bokmaal_question(question))
    if not m or _OFFICE.match(m.group(1)) or m.group(1).casefold() in STOPWORDS:
        return ""
    return m.group(1)


def question_kind(question: str) -> QuestionKind:
    question = bokmaal_question(question)
    for kind, pattern in _KIND_PATTERNS:
        if pattern.search(question):
            if kind == "who" and office_word(question):
                return "office"
            return kind
    return "other"


def _has_number(text: str) -> bool:
    if _DIGITS.search(text):
        return True
    return any(w in NUMBER_WORDS for w in words(text))


def _has_date(text: str) -> bool:
    return bool(_YEAR.search(text)) or any(w in _MONTHS for w in words(text))


_NAME = re.compile(r"(?<![.!?:]\s)(?<!^)\b([A-ZÆØÅ][\wæøåÆØÅ'’-]+)")


_PERSON = re.compile(r"\b[A-ZÆØÅ][a-zæøåé'’-]+(?:\s+[A-ZÆØÅ]\.)?\s+[A-ZÆØÅ][a-zæøåé'’-]+")


def _has_person(text: str) -> bool:
    """A person's name: two capitalised words in a row ("Grethe Salvesvold", "Hilde Hanson")."""
    return bool(_PERSON.search(text))


# English capitalises adjectives of nationality and region ("the Norwegian pilot", "Danish
# programmes", "Nordic towns"): a capitalised -ian/-ish/-ese/-ic word before a lowercase word names nobody.
_PROPER_ADJECTIVE = re.compile(r"[A-Z][a-z]+(?:ian|ish|ese|ic)\s+[a-z]")


def _has_name(text: str) -> bool:
    """A capitalised word that does not start the sentence: a person, organisation or place."""
    body = text.lstrip("-*+ «\"(").strip()
    return any(m.start() > 0 and not _PROPER_ADJECTIVE.match(body, m.start()) for m in _NAME.finditer(body))


_ENUMERATION = re.compile(
    r"(?:[^\W\d_][\w'’-]*(?:\s+[\w'’-]+){0,3},\s+)+[^\W\d_][\w'’-]*(?:\s+[\w'’-]+){0,3},?\s+(?:og|and|eller|or|samt)\s+[\w«\"]"
)


def _has_enumeration(text: str) -> bool:
    """Three or more short items: "plan, samferdsel, kultur og næring", "Horten, Larvik and Tønsberg"."""
    return bool(_ENUMERATION.search(text))


_NAME_ENUMERATION = re.compile(
    r"[A-ZÆØÅ][\w'’-]*(?:\s+[\w'’-]+){0,2},\s+(?:[A-ZÆØÅ][\w'’-]*(?:\s+[\w'’-]+){0,2},\s+)*[A-ZÆØÅ][\w'’-]*(?:\s+[\w'’-]+){0,2},?\s+(?:og|and|samt)\s+[A-ZÆØÅ]"
)


# The plural noun after "which" (maybe after a first word: "Which county authorities"), not a verb
# that ends in -s ("Which county was …" asks for one).
_NOT_PLURAL = r"(?!(?:was|is|has|does|this|its|his|us|as|plus)\b)"
_SEVERAL = re.compile(
    rf"^\W*(?:hvilke|which\s+(?:{_NOT_PLURAL}[\w-]+\s+)?{_NOT_PLURAL}[\w-]+s|what\s+{_NOT_PLURAL}[\w-]+s\s+(?:were|are|did|do|have|had))\b",
    re.I,
)


def asks_for_several(question: str) -> bool:
    """A "which" question with a plural noun ("Hvilke byer ...", "Which municipalities ..."): its
    answer is a set of instances, not one ("Which county authority ..." asks for one)."""
    return bool(_SEVERAL.search(bokmaal_question(question)))


_WHICH_NOUN = re.compile(r"^\W*(?:hvilke|which|what)\s+([\wæøå-]+)", re.I)


def which_noun(question: str) -> str:
    """The noun a "which" question asks instances of ("politikere" in "Hvilke politikere
    deltok?", "county" in "Which county authorities …"), or ""."""
    m = _WHICH_NOUN.search(bokmaal_question(question))
    if not m or m.group(1).casefold() in STOPWORDS:
        return ""
    # English "-ies" plurals read as their singular, which the stemmer leaves as written
    # ("municipalities" ~ "municipality").
    return re.sub(r"ies$", "y", m.group(1))


def names_enumeration(text: str) -> bool:
    """Three or more named items ("Horten, Larvik, Porsgrunn og Tønsberg"): the instances a "which"
    question asks for, rather than an enumeration of common words."""
    return bool(_NAME_ENUMERATION.search(text))


_COUNTED = re.compile(r"\b(?:hvor mange|how many)\s+([^\W\d_]{4,})", re.I)


def counted_word(question: str) -> str:
    """What a "how many" question counts ("innbyggere" in "Hvor mange innbyggere har ..."), or ""."""
    m = _COUNTED.search(bokmaal_question(question))
    return m.group(1) if m and m.group(1).casefold() not in STOPWORDS else ""


_MONEY = re.compile(r"(\b(kr|kroner|nok|euro|eur|dollar|usd|millioner|million|millions|milliarder|billion|mill)\b|[€$£]|\d\s*kr\b)", re.I)
_POPULATION_WORD = re.compile(r"\b(innbygger\w*|folketall\w*|population|inhabitants|residents)\b", re.I)
_SCORE_WORD = re.compile(r"\b(karakter\w*|poeng\w*|score\w*|rating\w*|skala\w*|scale)\b", re.I)


def _speaks_of(word: str, text: str) -> bool:
    """Does `text` use `word` (by its stem; `covered`)? True when there is no word to look for."""
    stem = (stems(word) or [""])[0]
    return not stem or covered(stem, set(stems(text)))


def kind_satisfied(kind: QuestionKind, text: str, counted: str = "") -> bool:
    """Does `text` carry the kind of answer the question asks for? For "how many X", a number in
    a text that also speaks of X; for a budget or price, an amount of money; for a population or a
    score, a number beside that word."""
    if kind == "amount":
        return bool(_MONEY.search(text))
    if kind == "population":
        return _has_number(text) and bool(_POPULATION_WORD.search(text))
    if kind == "score":
        return _has_number(text) and bool(_SCORE_WORD.search(text))
    if kind == "count":
        if not _has_number(text):
            return False
        return _speaks_of(counted, text)
    if kind == "when":
        return _has_date(text)
    if kind == "who":
        if counted:  # a group the question names (`group_word`): what speaks of it answers
            return _speaks_of(counted, text)
        return _has_name(text)
    if kind == "office":
        # The post's holder: the post and a person's name in the same span.
        return _has_person(text) and _speaks_of(counted, text)
    if kind == "list":
        return _has_enumeration(text)
    if kind == "why":
        return bool(_CAUSE.search(text))
    if kind == "define":
        return bool(_DEFINITION.search(text))
    return True


# Kinds whose answer is a specific item the material either states or does not: when no retrieved
# sentence carries one, the material does not answer the question.
# "who" is not checked: in this domain the answer is often a group ("administrative leaders"), not a
# name; "office" (who held a named post) is: its answer is a person named beside the post.
CHECKED_KINDS = frozenset({"count", "when", "amount", "population", "score", "office"})


# --- units ------------------------------------------------------------------------------------------
@dataclass
class Unit:
    """One sentence or list item of a retrieved chunk, with where it sits."""

    text: str  # clean text (emphasis markers removed, whitespace folded)
    hit_index: int  # rank of its chunk among the retrieved chunks (0 = best)
    order: int  # position within the chunk
    block: int  # paragraph or list it belongs to, within the chunk
    is_item: bool  # a list item
    language: str  # the chunk's document language
    tokens: set[str] = field(default_factory=set)
    lexical: float = 0.0
    # A bold lead-in that opens the unit ("**Sentrum mot ytre deler.** Konsentrasjon av …"): a
    # heading of its own that the Markdown glues to the sentence. `text` keeps it (answers and
    # the stored sentence vectors read the unit as ingest did); an insight leaves it out.
    lead_in: str = ""
    span: int = 1  # units of the chunk it covers, from `order` (2: an insight read with its antecedent)
    similarity: float = 0.0
    score: float = 0.0


_ITEM = re.compile(r"^([-*+]|\d+[.)])\s+")
_LEAD_IN = re.compile(r"^(\*\*|__)([^*_]{2,80}?[.!?])\1\s+(?=\S)")
MAX_LEAD_IN_WORDS = 8
_HEADING = re.compile(r"^#{1,6}\s")
# Sentences about the text itself ("Dette dokumentet beskriver …") are no answer.
_META = re.compile(r"^(dette dokumentet|denne teksten|teksten under|dokumentet|teksten handler|this document|this text|the text below)\b", re.I)


def contents_sentences(text: str) -> list[str]:
    """The sentences of a chunk that say what its document covers ("Dette dokumentet beskriver …
    hvorfor en pilot ble valgt …"): no answer themselves (`units_of` leaves them out), but they
    show that the material speaks of what they name."""
    return [s for s in split_sentences(text) if _META.match(" ".join(strip_emphasis(s).split()))]


def units_of(text: str, hit_index: int, language: str) -> list[Unit]:
    """Sentences and list items of one chunk in reading order; headings and fragments left out."""
    out: list[Unit] = []
    order = 0
    for block_no, block in enumerate(re.split(r"\n\s*\n", text)):
        lines = [ln for ln in block.splitlines() if ln.strip() and not _HEADING.match(ln.strip())]
        if not lines:
            continue
        for piece in split_sentences("\n".join(lines)):
            is_item = bool(_ITEM.match(piece))
            clean = " ".join(strip_emphasis(_ITEM.sub("", piece)).split())
            order += 1
            is_row = clean.startswith("|") or clean.count(" | ") >= 1
            if is_row:
                cells = [cell.strip() for cell in clean.strip("| ").split("|") if cell.strip()]
                clean = f"{cells[0]}: {'; '.join(cells[1:])}" if len(cells) > 1 else "".join(cells)
            if len(words(clean)) < 3 or _META.match(clean) or clean[:1].islower():
                continue
            if not (is_item or is_row) and not clean.endswith((".", "!", "?", ")", "»", '"', ":", "”")):
                continue  # a heading or a fragment cut by layout
            out.append(Unit(clean, hit_index, order, block_no, is_item, language, lead_in=_lead_in(_ITEM.sub("", piece))))
    return out


def _lead_in(piece: str) -> str:
    """The bold lead-in a Markdown piece opens with, when it ends a sentence of its own ("**Kort
    mot lang sikt.** Gevinster …"), folded as in the unit's text; else "". A bold label that runs
    on ("**Arealregnskap:** En oversikt …") is part of its sentence and no lead-in."""
    m = _LEAD_IN.match(piece.strip())
    if not m or len(m.group(2).split()) > MAX_LEAD_IN_WORDS:
        return ""
    return " ".join(m.group(2).split())


def insight_text(unit: Unit) -> str:
    """The unit as read alone, as an insight: without a bold lead-in glued in front of it."""
    if unit.lead_in and unit.text.startswith(unit.lead_in):
        return unit.text[len(unit.lead_in) :].strip() or unit.text
    return unit.text


def sentence_context(heading: str, sentence: str) -> str:
    """What is embedded for a sentence: its section heading and the sentence, so that "Lederne kom
    fra plan, samferdsel og kultur" under "Deltakerne: antall, ledernivå og fagbakgrunn" is found
    for a question about the participants' fields (measured on the dev split, docs/answers.md)."""
    return f"{heading}: {sentence}" if heading else sentence


def chunk_heading(chunk: Chunk) -> str:
    """The nearest heading of a chunk, or its document title."""
    return chunk.heading_path[-1] if chunk.heading_path else chunk.meta.title


def sentence_texts(chunk: Chunk) -> list[str]:
    """What is embedded for each unit of a chunk, in `units_of` order: ingest stores these vectors,
    the answer engine looks them up by the same text."""
    heading = chunk_heading(chunk)
    return [sentence_context(heading, u.text) for u in units_of(chunk.text, 0, chunk.meta.language)]


# --- discourse ----------------------------------------------------------------------------------------
_ANNOUNCE_NUMBER = re.compile(
    r"\b(\d{1,2}|" + "|".join(sorted(NUMBER_WORDS - {"hundre", "tusen", "million", "millioner", "milliard", "milliarder",
                                                      "hundred", "thousand", "million", "millions", "billion", "half", "halvparten"}))
    + r")\s+(\w+\s+)?\w+",
    re.I,
)
_ANNOUNCE_WORD = re.compile(r"\b(følgende|disse|slik|as follows|following|these)\s*:?\s*$|:\s*$", re.I)
_REFERS_BACK = re.compile(
    # A conjunction before the reference still leans on the sentence before ("Men de trekker …").
    r"^(?:(?:men|og|så|but|and|yet|so)\s+)?(dette|disse|denne|den|de|dem|han|hun|slik|dermed|derfor|her|begge|samtidig|"
    r"this|these|that|those|it|they|he|she|such|thus|therefore|both)\b|"
    # "Alle ligger i …", "All are …": "alle" as the subject, right before its verb, is the things
    # just named ("Alle kommunene …", with its noun, is not).
    r"^(?:alle|all)\s+(?:er|var|ble|ligger|lå|har|hadde|kom|deltok|fikk|får|skal|må|kan|vil|"
    r"are|were|have|had|lie|lay|came|took|got|will|must|can)\b",
    re.I,
)
_ORDINAL_OPENERS = re.compile(
    r"^(den|det|de)?\s*(første|andre|tredje|fjerde|femte|sjette|sjuende|syvende|siste)\b|^(the )?(first|second|third|fourth|fifth|last)\b|^(for det )",
    re.I,
)
# Number words as values, bokmål and English (also used to check a model's numbers, assistant/core/verify.py).
NUMBER_VALUE = {w: i for i, w in enumerate("null en to tre fire fem seks sju åtte ni ti elleve tolv".split())}
NUMBER_VALUE.update({w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve".split())})
NUMBER_VALUE["syv"] = 7
MAX_FOLLOWERS = 6


def _followers(head: Unit, after: Sequence[Unit]) -> list[Unit]:
    """The units that can be the items of `head`: the rest of its paragraph, or the list right after it."""
    out: list[Unit] = []
    for u in after:
        if u.block == head.block or (u.is_item and u.block <= head.block + 1):
            out.append(u)
        else:
            break
    return out


def announced_count(text: str) -> int | None:
    """How many items a sentence announces ("tre parter", "five challenges", ending in ':'),
    or None when it announces nothing. 0 means "some" (a colon or "følgende" without a number)."""
    if _has_enumeration(text):
        return None  # it states the items itself
    stripped = text.rstrip()
    if stripped.endswith(":") or _ANNOUNCE_WORD.search(stripped):
        m = _ANNOUNCE_NUMBER.search(stripped)
        return _count_value(m.group(1)) if m else 0
    m = _ANNOUNCE_NUMBER.search(stripped)
    if m and not _YEAR.match(m.group(1)):
        value = _count_value(m.group(1))
        if value is not None and 2 <= value <= 12:
            return value
    return None


_IT_DOES = (r"^(det|dét|it)\s+(gir|gjev|ga|gav|betyr|tyder|innebærer|inneber|utsetter|utset|utfordrer|handler|viser|gjør|gjer|"
            r"skaper|skapar|krever|krev|fører|førte|gjelder|gjeld|bidrar|åpner|opnar|setter|set|sier|seier|ber|"
            r"gives|gave|means|implies|shows|makes|creates|requires|leads|led|helps|opens|challenges|asks)\b")
# "Det gir …", "Det ber …": "det" is what the sentence before spoke of; an answer reads it with that.
IT_DOES = re.compile(_IT_DOES, re.I)
# Openers that lean on the sentence before, beyond `_REFERS_BACK` (which also steers answer spans):
# "Det gir …" (but not "Det er …", "Det finnes …", whose "det" points forward), additions and
# contrasts ("Også …", "I tillegg …", "However …"), nynorsk pronouns ("Dei …", "Desse …") and
# "Den ene …".
_DANGLING = re.compile(
    _IT_DOES + "|"
    r"^(også|òg|dessuten|i tillegg|videre|derimot|dei|desse|difor|sistnevnte|førstnevnte|"
    r"however|moreover|furthermore|also|in addition|instead|likewise|similarly|the latter|the former|the other)\b|"
    r"^(den|det|dei|de)\s+ene\b|^one of (them|these)\b|"
    r"^det\s+(?!(?:er|var|ble|blir|vert|vart|finnes|fins|finst|har|hadde|kan|må|skal|vil|bør|tar|går|trengs|mangler|"
    r"handler om å|gjelder å|heter|kom|kommer)\b)\w+(?:te|de|ede|et|dde)\b|"
    r"^\S+(?:\s+\S+){0,2}\s+(derfor|dermed|difor|likevel|therefore|thus|hence)\b",
    re.I,
)


# A sentence about the text it stands in ("Dette dokumentet beskriver …", "Teksten her forklarer …",
# "Spørsmålene nedenfor …", "This overview summarises …"): a table of contents, not a statement
# about the world, and never offered as an insight in a reflection.
_TEXT_NOUNS = (r"(?:tekst|dokument|notat|kapittel|kapitl|avsnitt|oversikt|sammendrag|punkt|note|text|document|"
               r"chapter|section|overview|summary)\w*")
_SOURCE_NOUNS = r"presentasjonen|materialet|teksten|dokumentet|kilden|lysbildet|lysbildene|notatet"
_SOURCE_VERBS = r"sier|nevner|omtaler|beskriver|oppgir|forteller"
_ABOUT_THE_TEXT = re.compile(
    rf"\b(?:(?:denne|dette|disse|this|these)\s+{_TEXT_NOUNS}|{_TEXT_NOUNS}\s+(?:her|nedenfor|here|below)\b|"
    r"her\s+utdypet|nedanfor|nedenfor|(?:described|explained|set out|listed)\s+below|"
    # A pointer to other reading ("For further reading, the presentation points to …") is no
    # insight either: it says where the matter is, not what it is.
    r"(?:for\s+)?further\s+reading|(?:for\s+)?videre\s+lesning|(?:for\s+å\s+)?lese\s+mer\b|read\s+more\b|"
    # Nor is what a source leaves out ("Hvordan programmet bør se ut, sier presentasjonen ikke.",
    # "Beyond the title it does not say who …"): it is about the source's silence.
    rf"\b(?:{_SOURCE_VERBS})\s+(?:{_SOURCE_NOUNS})\b[^.]*?\b(?:ikke|ingenting)\b|"
    rf"\b(?:{_SOURCE_NOUNS})\s+(?:{_SOURCE_VERBS}|gir)\s+(?:ikke|ingen|ingenting)\b|"
    r"\b(?:it|the\s+(?:presentation|material|text|document|slides?|source))\s+(?:does\s+not|doesn't)\s+"
    r"(?:say|mention|describe|state|name|present|give|explain)\b|"
    # … or what a text's introduction asks ("Its introduction asks whether …", "Ingressen tar opp …").
    r"^(?:its|their|the)\s+introduction\b|^(?:ingressen|innledningen)\b)",
    re.I,
)


def about_the_text(text: str) -> bool:
    """True for a sentence that describes the document it stands in rather than the matter."""
    return bool(_ABOUT_THE_TEXT.search(text))


def stands_alone(text: str) -> bool:
    """A sentence that can be read without its neighbours: it neither announces what follows
    (ends in a colon) nor opens by referring back ("Dette …", "De …", "Den andre …", "Det gir …",
    "Også …")."""
    return (
        not text.rstrip().endswith(":")
        and not _REFERS_BACK.match(text)
        and not _ORDINAL_OPENERS.match(text)
        and not _DANGLING.match(text)
    )


def _count_value(token: str) -> int | None:
    token = token.casefold()
    if token.isdigit():
        return int(token)
    return NUMBER_VALUE.get(token)


# A sentence that opens with "han/hun/he/she": the person is named in a sentence before it.
_PERSONAL = re.compile(r"^(?:(?:men|og|så|but|and|yet|so)\s+)?(han|hun|he|she)\b", re.I)
# The same person again, without a name: the walk back to the name goes on through such sentences.
_SAME_PERSON = re.compile(r"\b(han|hun|hans|hennes|ham|henne|he|she|his|her|him|hers)\b", re.I)
REFERENT_REACH = 6  # sentences back, within the chunk, where the person may be named


def named_referent(lead: Unit, before: Sequence[Unit]) -> str | None:
    """The person a sentence opening with "han/hun/he/she" speaks of: walking back past the
    sentences of its chunk that speak of him or her ("Arbeidet hennes …", "Hun samarbeider med
    Dansk Arkitektur Center": the names in those are others), the first other sentence, when it
    names one person (a full name, or the surname of a full name the chunk gives earlier:
    "Salvesvold's work"); None when it names several ("Rittel og Webber") or none."""
    if not _PERSONAL.match(lead.text):
        return None
    full = {m.group(0) for u in before for m in _PERSON.finditer(u.text) if not _sentence_start(u.text, m.start())}
    for prev in reversed(before[-REFERENT_REACH:]):
        if _SAME_PERSON.search(prev.text):
            continue  # about the same person: named further back
        names = {m.group(0) for m in _PERSON.finditer(prev.text) if not _sentence_start(prev.text, m.start())}
        names |= {f for f in full if re.search(rf"\b{re.escape(f.split()[-1])}(?:'s|s|’s)?\b", prev.text)}
        return names.pop() if len(names) == 1 else None
    return None


def _sentence_start(text: str, at: int) -> bool:
    """A pair that opens the sentence with a common word ("Ifølge Dansk …", "Since Salvesvold …")
    is no name: the first word is capitalised only because the sentence starts there."""
    return at == 0 and text.split(maxsplit=1)[0].casefold() in STOPWORDS


def with_referent(text: str, name: str) -> str:
    """"Hun presenterte …" -> "Hun [Grethe Salvesvold] presenterte …": the sentence as written,
    with the person it refers to in brackets, so that it can lead an answer on its own."""
    m = _PERSONAL.match(text)
    return f"{text[: m.end()]} [{name}]{text[m.end():]}" if m else text


def span_for(lead: Unit, units: Sequence[Unit]) -> list[Unit]:
    """The lead unit with what it needs to be read alone: the sentence it refers back to, and the
    items it announces (following sentences of its paragraph, or the list after it). A sentence
    about "him" or "her" named just before leads alone, with the name in brackets."""
    same_chunk = [u for u in units if u.hit_index == lead.hit_index]
    same_chunk.sort(key=lambda u: u.order)
    i = next((k for k, u in enumerate(same_chunk) if u is lead), None)
    if i is None:
        return [lead]
    name = named_referent(lead, same_chunk[:i]) if i > 0 else None
    if name is not None:
        named = replace(lead, text=with_referent(lead.text, name))
        return [named if u is lead else u for u in _span_in_chunk(lead, same_chunk, i, refers_back=False)]
    return _span_in_chunk(lead, same_chunk, i)


def heading_items(units: Sequence[Unit], hit_index: int, heading: str) -> list[Unit]:
    """The items of a section whose heading announces them ("Tre typiske spenninger i en
    mellomstor by", "Fire læringspunkter"): paragraphs that open with a bold lead-in ("**Sentrum
    mot ytre deler.** …"; the first unit of each), else the items of a list, as list items, in
    order. Empty when the heading announces nothing or the chunk has fewer of them than it
    announces (at least two)."""
    count = announced_count(heading)
    if count is None:
        return []
    same_chunk = sorted((u for u in units if u.hit_index == hit_index), key=lambda u: u.order)
    wanted = max(2, count)
    for firsts in ([u for u in same_chunk if u.lead_in and not u.is_item], [u for u in same_chunk if u.is_item]):
        if len(firsts) >= wanted:
            return [replace(u, is_item=True) for u in firsts[: count or MAX_FOLLOWERS]]
    return []


def _span_in_chunk(lead: Unit, same_chunk: list[Unit], i: int, *, refers_back: bool = True) -> list[Unit]:
    if _ORDINAL_OPENERS.match(lead.text) or lead.is_item:
        # One item of an enumeration: read it with the sentence that announced the items.
        for prev in reversed(same_chunk[max(0, i - MAX_FOLLOWERS) : i]):
            if prev.block not in (lead.block, lead.block - 1):
                break
            if announced_count(prev.text) is not None:
                whole = span_for(prev, same_chunk)
                return whole if lead in whole else [*whole, lead]
    span = [lead]
    if refers_back and (_REFERS_BACK.match(lead.text) or _ORDINAL_OPENERS.match(lead.text) or IT_DOES.match(lead.text)) and i > 0:
        prev = same_chunk[i - 1]
        if prev.block == lead.block or lead.is_item:
            span.insert(0, prev)
            # A list item or ordinal sentence belongs to the enumeration its announcer opened.
            lead_for_followers = prev if announced_count(prev.text) is not None else lead
        else:
            lead_for_followers = lead
    else:
        lead_for_followers = lead
    count = announced_count(lead_for_followers.text)
    if count is None:
        return span
    wanted = count if count else MAX_FOLLOWERS
    start = same_chunk.index(lead_for_followers) + 1
    if count and len(_followers(lead_for_followers, same_chunk[start:])) < count:
        return span  # "fem samlinger, hver på én dag …" names a number but its items do not follow
    for u in same_chunk[start:]:
        if len([x for x in span if same_chunk.index(x) > same_chunk.index(lead_for_followers)]) >= min(wanted, MAX_FOLLOWERS):
            break
        # Followers: the rest of its paragraph, or the list that comes right after it.
        if u.block == lead_for_followers.block or (u.is_item and u.block <= lead_for_followers.block + 1):
            if u not in span:
                span.append(u)
        else:
            break
    span.sort(key=lambda u: u.order)
    return span


# --- what the question asks about that the material lacks -------------------------------------------------------
# Words that frame a question rather than name what it is about: never the missing focus. The second
# word of "hvor lenge / how long" asks the question, it is not its subject; a light verb ("Hva
# skjedde på seminaret?") says nothing of what is asked about (the seminar).
_FRAME = frozenset(
    """
    materialet material programmet programme program sier say says said står nevnt mentioned beskriver
    describe describes forteller tell tells handler about ifølge according bak forskjell forskjellen
    forskjellene difference differences likhet likheten betydning meaning eksempel eksempler example
    examples lenge ofte langt tidlig sent long often much many early late
    skjer skjedde skjedd gjør gjorde gjort fikk fått gikk gått kom kommet finnes fantes happen happens
    happened did done got went came
    """.split()
)
# Word forms that are rarely the thing asked about: passive verbs ("foreslås", "nevnes"),
# adjectives ("typiske", "viktige", "regionale") and present participles ("ledende").
_NOT_A_THING = re.compile(r"(?:[aeiouyæøå]s|es|isk|iske|ig|ige|lig|lige|ende|ske)$")


def covered(stem: str, text_stems: set[str], *, split: bool = True) -> bool:
    """The stem occurs in the text: as it is, inflected ("arealnøytral" ~ "arealnøytralit"), as the
    head of a compound ("kommun" in "bykommun"), or, for a compound question word, part by part
    ("naturinngrep" in "inngrep i norsk natur"); but not as only the first part of a longer
    compound ("budsjett" is not in "budsjettprosess")."""
    if stem in text_stems:
        return True
    for t in text_stems:
        if t.startswith(stem) and len(t) - len(stem) <= 3:
            return True
        if len(stem) >= 4 and t.endswith(stem):
            return True
        if stem.startswith(t) and len(t) >= 5 and len(stem) - len(t) <= 3:
            return True
    if split and len(stem) >= 8:
        for i in range(4, len(stem) - 3):
            left, right = stem[:i], stem[i:]
            lefts = {left, left[:-1]} if left.endswith(("s", "e")) and len(left) > 4 else {left}
            if any(covered(x, text_stems, split=False) for x in lefts) and covered(right, text_stems, split=False):
                return True
    return False


@dataclass(frozen=True)
class Focus:
    """The question's focus words that no retrieved text uses, and their IDF-weighted share of the
    question's content."""

    missing: tuple[str, ...]  # as written in the question, heaviest first
    share: float


def focus_stems(question: str, leave_out: frozenset[str] = frozenset()) -> list[str]:
    """The stem of each of the question's focus words (`focus_words`), but those in `leave_out`."""
    return [st for w in focus_words(question) if w.casefold() not in leave_out and (st := (stems(w) or [""])[0])]


def focus_words(question: str) -> list[str]:
    """Content words of the question that can name what it asks about: no stopwords, frame words,
    numbers, infinitives ("å kjøre") or word forms that are rarely things."""
    tokens = words(question)
    out: list[str] = []
    for i, w in enumerate(tokens):
        if w in STOPWORDS or w in _FRAME or w.isdigit() or len(w) < 4:
            continue
        if i > 0 and tokens[i - 1] == "å":
            continue
        if i > 0 and tokens[i - 1] in ("hvor", "kor", "how"):  # "hvor stort", "how big": the question word's second half
            continue
        if _NOT_A_THING.search(w) or _participle_after_subject(tokens, i):
            continue
        out.append(w)
    return out


# A participle after an auxiliary and its subject ("Hvorfor ble piloten startet?", "Hvordan er
# arbeidet organisert?", "Why was the pilot started?") is what happened, not the thing asked about.
_AUXILIARIES = frozenset("ble blir vart blitt er var har hadde was were is are has have had been".split())
_PARTICIPLE = re.compile(r"(?:et|ert|ed)$")
_SUBJECT_END = re.compile(r"(?:en|et|ene|ne|a)$")
_DETERMINERS = frozenset("the its their this that these".split())
_PRONOUNS = frozenset("han hun de det den vi dere jeg du he she they it we you".split())


def _participle_after_subject(tokens: Sequence[str], i: int) -> bool:
    """`tokens[i]` is a participle that follows an auxiliary and then a definite noun or pronoun
    ("ble piloten startet"), not a noun right after the verb ("ble resultatet") or an adjective
    ("er det viktigste resultatet")."""
    if i < 2 or not _PARTICIPLE.search(tokens[i]):
        return False
    before = tokens[i - 1]
    english_noun = tokens[i - 2] in _DETERMINERS and before not in STOPWORDS  # "the pilot"
    if before not in _PRONOUNS and not _SUBJECT_END.search(before) and not english_noun:
        return False
    return any(tokens[j] in _AUXILIARIES for j in range(max(0, i - 4), i - 1))


# A bokmål question opens with the question word and then the verb ("Hva lærte deltakerne?"), or
# with "hvilke", its noun and then the verb ("Hvilke kommuner søkte …?").
_QUESTION_WORDS = frozenset("hva hvem når hvorfor hvordan".split())
_WHICH = frozenset("hvilke hvilken hvilket".split())
_PAST_TENSE = re.compile(r"(?:te|de|dde|et)$")  # "søkte", "skjedde", "ledet"
_PAST = re.compile(r"(?:dde|de|te|et|dd|t)$")  # … and participles ("skjedd", "lært"): stripped for the root


def finite_verb(question: str) -> str:
    """The verb after a bokmål question's opening question word ("lærte" in "Hva lærte
    deltakerne?"), or after "hvilke" and its noun ("søkte" in "Hvilke kommuner søkte om å
    delta?"); "" when the question does not open that way."""
    tokens = words(question)
    if len(tokens) > 2 and tokens[0] in _QUESTION_WORDS:
        return tokens[1]
    if len(tokens) > 3 and tokens[0] in _WHICH:
        # After "hvilke" and its noun (maybe with an adjective) a past tense is the verb; a
        # present tense cannot be told from a plural noun ("-er"), so only the past is read.
        return next((t for t in tokens[2:4] if _PAST_TENSE.search(t)), "")
    return ""


_ADVERBIAL = frozenset("hvor når hvordan hvorfor".split())
_AUXILIARY = frozenset("ble blir var er har hadde skal skulle kan kunne vil ville må måtte vart vert".split())


_ADVERBIAL_QUESTION = re.compile(
    r"^\W*(" + "|".join(_ADVERBIAL) + r")\s+(" + "|".join(_AUXILIARY) + r")\s+(\S.*?)\s+([\wæøå-]+)\W*$", re.I
)


def main_verb(question: str) -> str:
    """The participle or infinitive that ends a bokmål question opened by an adverb and an
    auxiliary ("holdt" in "Hvor ble samlingene holdt?", "avsluttet" in "Når ble piloten
    avsluttet?"), or "": after "hvor ble" comes the subject, so the last word is the verb."""
    m = _ADVERBIAL_QUESTION.match(question.strip())
    return m.group(4).casefold() if m else ""


def indirect_question(question: str) -> str:
    """The question as a clause ("hvor samlingene ble holdt" for "Hvor ble samlingene holdt?"),
    so that an answer can say "Materialet sier ikke hvor samlingene ble holdt."; "" unless the
    question opens with an adverb and an auxiliary (`main_verb`)."""
    m = _ADVERBIAL_QUESTION.match(question.strip())
    if not m:
        return ""
    return f"{m.group(1).casefold()} {m.group(3)} {m.group(2).casefold()} {m.group(4)}"


def verb_root(word: str) -> str:
    """A past tense without its ending ("lærte" -> "lær", "finansierte" -> "finansier")."""
    root = _PAST.sub("", word)
    return root if len(root) >= 3 else word


def missing_focus(question: str, texts: Sequence[str], *, weight: Callable[[str], float]) -> Focus:
    """Which of the question's focus words none of the retrieved texts (sentences, headings) uses,
    and how much of the question (IDF-weighted over all its content stems) they carry."""
    # Per text: a compound question word counts as covered only when its parts stand in one
    # sentence ("naturinngrep" ~ "inngrep i norsk natur"), not in two unrelated ones
    # ("kommunedirektør" is not "kommune" here and "direktører" there).
    all_stems = set(stems(question))
    # A compound made of two of the question's words uses both ("prosjektleder" for "ledet prosjektet").
    text_stems = [with_parts(set(stems(t)), all_stems) for t in texts]
    total = sum(weight(s) for s in all_stems) or 1.0
    missing: dict[str, float] = {}
    verb = finite_verb(question)
    for word in focus_words(question):
        stem = (stems(word) or [""])[0]
        # The verb of "Hva lærte deltakerne?" is covered by its root ("lær" in "læring").
        root = (stems(verb_root(word)) or [""])[0] if word == verb else ""
        if stem and not any(covered(stem, ts) or (root and covered(root, ts)) for ts in text_stems):
            missing.setdefault(word, weight(stem))
    ranked = sorted(missing, key=lambda w: -missing[w])
    return Focus(tuple(ranked), min(1.0, sum(missing.values()) / total))


_DEFINITE = re.compile(r"(?:en|et|ene|er|ere|a)$")  # a noun as written (also "politikere"): no adjective before a noun


def focus_phrase(question: str, word: str) -> str:
    """The missing word as the answer names it: with the noun it qualifies when it reads as an
    adjective before one ("prosedural rettferdighet", not "prosedural"); else the word alone."""
    tokens = words(question)
    if word not in tokens or _DEFINITE.search(word):
        return word
    i = tokens.index(word)
    after = tokens[i + 1] if i + 1 < len(tokens) else ""
    if len(after) >= 4 and after not in STOPWORDS and not _NOT_A_THING.search(after):
        return f"{word} {after}"
    return word


@dataclass(frozen=True)
class Gap:
    """What the material leaves out: a focus word of the question that no retrieved text uses, or
    the kind of answer (a number, a date) that no sentence carries."""

    word: str = ""  # the question's word as written, when focus words are missing
    clause: str = ""  # the question as a clause ("hvor samlingene ble holdt"), when its verb is what is missing
    kind: QuestionKind = ""  # the kind of answer that is missing
