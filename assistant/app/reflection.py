"""Guided reflection: five stages, one question at a time, and the closing summary.

where are we -> where are we going -> how do we get there -> what does it ask
of me as a leader -> my next step. The participant can stay on a stage, skip
ahead or go back. The summary is data (`Summary`), built from the conversation itself
(`build_summary`) and rendered in the interface's language (`render_summary`): the participant's
situation and the tensions they named, in their own words; their commitments (first-person
intentions and decisions only, never worries or problem statements); the material's insights
that were offered; and the documents worth reading next.

The rules read grammar, not example phrases: a commitment is a first-person subject with a
modal or a verb of deciding ("jeg skal", "vi må", "eg vil", "I will", "we have decided"), or
the participant's named next step; a conditional, an embedded question ("hvordan jeg skal ..."),
doubt or worry, or a question mark makes it something else.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Literal

from pydantic import BaseModel

from assistant.app.journal import Conversation
from assistant.core.i18n import tr
from assistant.core.records import REFLECTION_STAGES
from assistant.core.text import split_sentences

Move = Literal["advance", "stay", "skip", "back"]

# -- the grammar of intention ---------------------------------------------------------------
_NO_PRONOUN = r"(?:jeg|vi|eg|me)"  # bokmål and nynorsk first person ("eg", "me" are nynorsk)
_NO_ADVERB = r"(?:(?:nok|også|òg|derfor|da|først|heller|virkelig|faktisk|bare|straks|snart|nå|no|i alle fall|iallfall)\s+)?"
_NO_INTENT = (
    r"(?:skal|vil|må|kommer til å|kjem til å|tar sikte på|har bestemt (?:meg|oss) for|bestemmer (?:meg|oss) for|"
    r"har tenkt å|tenker å|tenkjer å|planlegger å|planlegg å|lover å|lovar å|tar (?:initiativ|ansvar|kontakt)|"
    r"tek (?:initiativ|ansvar|kontakt)|begynner (?:med|å)|byrjar (?:med|å)|setter av|set av|har besluttet|"
    r"har vedtatt|har vedteke|har blitt enige om|har vorte samde om|er enige om|er samde om|forplikter (?:meg|oss))"
)
_EN_PRONOUN = r"(?:I|we|We)"
_EN_INTENT = (
    r"(?:will|shall|must|'ll|(?:am|are|'m|'re) going to|need to|have to|plan to|intend to|promise to|commit to|"
    r"(?:have|'ve) (?:decided|agreed|committed)|decided to|agreed to|am committing|are committing)"
)
_STRAIGHT = re.compile(
    rf"(?<![\w'])(?P<pron>{_NO_PRONOUN})\s+{_NO_ADVERB}(?P<verb>{_NO_INTENT})(?![\w])"
    rf"|(?<![\w'])(?P<pron_en>{_EN_PRONOUN})(?:\s+(?:really|also|then|now|first))?(?:\s+|(?='))(?P<verb_en>{_EN_INTENT})(?![\w])",
    re.I,
)
# Norwegian word order puts the verb second: "Etter sommeren skal jeg ..." (not sentence-initial:
# "Skal jeg ...?" is a question).
_INVERTED = re.compile(rf"(?<=\w)[ ,]+(?P<verb>skal|vil|må|kommer|kjem)\s+(?P<pron>{_NO_PRONOUN})(?![\w])", re.I)
_NEXT_STEP = re.compile(r"\b(?:mitt neste steg|vårt neste steg|neste steg er|første steg er|my next step|our next step|next step is|first step is)\b", re.I)
# A subordinate clause makes it a condition or an embedded question, not an intention.
_CONDITION = re.compile(
    r"^\W*(?:hvis|dersom|viss|selv om|sjølv om|if|unless|even if|(?:om|whether)\s+(?:jeg|vi|eg|me|du|det|I|we|it))\b", re.I
)
_EMBEDDING = re.compile(
    r"(?:hvordan|korleis|hva|kva|hvor|kvar|hvem|kven|hvilke|hvilken|kva for|hvorfor|kvifor|om|at|"
    r"how|what|where|who|which|why|whether|if|that)\s*$",
    re.I,
)
# Doubt, worry or a problem statement, in any of the three languages.
_DOUBT = re.compile(
    r"\b(?:vet ikke|veit ikkje|vet ikkje|veit ikke|usikker|ikke sikker|ikkje sikker|bekymr\w*|uroa|redd|frykter|fryktar|"
    r"tviler|tvilar|engstelig|fear|vanskelig å vite|klarer ikke|klarar ikkje|får ikke til|får ikkje til|"
    r"not sure|unsure|don't know|do not know|worried|afraid|i doubt|struggle|cannot see how|can't see how)\b",
    re.I,
)
# "Vi vil ha ...", "jeg vil at ...": a wish, not a step.
_WISH = re.compile(r"\s+(?:gjerne\s+)?(?:ha|at|that)\b", re.I)
# "Jeg må innrømme ...", "I must admit": discourse, not a step.
_DISCOURSE = re.compile(
    r"^\s*(?:innrømme|innrømma|være ærlig|vere ærleg|admit|be honest|(?:si|seie|say)\s+(?:at|that|det|it)|(?:si|seie|say)\s*$)\b",
    re.I,
)

# -- situation and tension --------------------------------------------------------------------
_ROLE = re.compile(
    r"\b(?:(?:jeg|eg)\s+(?:er|leder|leier|jobber|jobbar|arbeider|arbeider|har ansvar)|I\s+(?:am|lead|work|run|manage)|"
    r"I'm|\w*(?:sjef|leder|leiar|direktør|rådmann|ordfører|planlegger|planleggar)|manager|director|head of|mayor)\b",
    re.I,
)
_PLACE = re.compile(r"\b(?:by|byen|byar|kommune|kommunen|sentrum|bydel\w*|town|city|municipality|centre|center)\b", re.I)
_PROPER = re.compile(r"(?<=\s)[A-ZÆØÅ][a-zæøåé]+")
_TENSION = re.compile(
    r"\b(?:men|mens|samtidig|konflikt\w*|spenning\w*|spenningar|dilemma\w*|motsetning\w*|målkonflikt\w*|press|presset|"
    r"krysspress|uenig\w*|usamd\w*|står mot|på bekostning av|mot hverandre|mot kvarandre|kontra|mellom\s.+\sog|"
    r"but|while|whereas|conflict\w*|tension\w*|trade-offs?|pressure|at odds|versus|between\s.+\sand)\b",
    re.I,
)
MAX_WORDS = 30


class SummaryInsight(BaseModel):
    text: str
    title: str
    source: str


class Reading(BaseModel):
    title: str
    source: str


class Summary(BaseModel):
    """What a reflection leaves behind, as data: stored with the conversation and rendered in
    the interface's language (`render_summary`)."""

    situation: list[str] = []  # the participant's situation, in their own words (shortened)
    tensions: list[str] = []  # contrasts and conflicts they named
    commitments: list[str] = []  # first-person intentions and decisions only
    insights: list[SummaryInsight] = []  # the material's insights offered, each once
    reading: list[Reading] = []  # the texts a turn offered to read next, then the documents cited most


class ReflectionState(BaseModel):
    stage_index: int = 0
    asked: list[str] = []

    @property
    def stage(self) -> str:
        return REFLECTION_STAGES[self.stage_index]

    @property
    def finished(self) -> bool:
        return self.stage_index >= len(REFLECTION_STAGES) - 1

    def moved(self, move: Move) -> "ReflectionState":
        """The stage the *next* question comes from."""
        last = len(REFLECTION_STAGES) - 1
        index = {
            "advance": min(self.stage_index + 1, last),
            "skip": min(self.stage_index + 1, last),
            "stay": self.stage_index,
            "back": max(self.stage_index - 1, 0),
        }[move]
        return ReflectionState(stage_index=index, asked=list(self.asked))


# -- commitments --------------------------------------------------------------------------------
def is_commitment(sentence: str) -> bool:
    """A first-person intention or decision ("Jeg skal ...", "Vi må få til ...", "I will ...",
    "Mitt neste steg er ..."), not a worry, a condition, an embedded question or a question."""
    text = " ".join(sentence.split())
    if not text or text.endswith("?") or _DOUBT.search(text) or _CONDITION.search(text):
        return False
    if _NEXT_STEP.search(text):
        return True
    for match in (*_STRAIGHT.finditer(text), *_INVERTED.finditer(text)):
        before = text[: match.start()].rstrip(" ,")
        after = text[match.end():]
        if _EMBEDDING.search(before) or _DISCOURSE.match(after) or _WISH.match(after):
            continue  # "hvordan jeg skal ...", "jeg må innrømme ...", "vi vil ha ...", "jeg vil at ..."
        return True
    return False


def commitments(sentences: list[str]) -> list[str]:
    return _unique(s for s in sentences if is_commitment(s))


# -- the summary ----------------------------------------------------------------------------------
def build_summary(conversation: Conversation) -> Summary:
    """The summary of a conversation as it stands, from its stored data: the participant's own
    sentences, the insights the turns offered and the sources they cited."""
    said = _participant_sentences(conversation)
    plain = [s for s, _ in said if not s.rstrip().endswith("?")]
    promised = commitments(plain)
    rest = [(s, stage) for s, stage in said if s not in promised and not s.rstrip().endswith("?")]
    tensions = _unique(s for s, _ in rest if _TENSION.search(s))[:3]
    situation = _situation([(s, stage) for s, stage in rest if s not in tensions])
    if not situation and not tensions and rest:
        situation = [rest[0][0]]
    insights, reading = _material(conversation)
    return Summary(
        situation=[shorten(s) for s in situation],
        tensions=[shorten(s) for s in tensions],
        commitments=[shorten(s) for s in promised[:6]],
        insights=insights[:5],
        reading=reading[:4],
    )


def render_summary(summary: Summary, lang: str = "nb") -> str:
    """Markdown with short sections under the catalogue's headings; a section with nothing in it
    is left out, except the commitments, which then ask for the smallest next step."""
    out = [f"## {tr(lang, 'summary.title')}"]

    def section(key: str, lines: list[str]) -> None:
        if lines:
            out.extend(["", f"### {tr(lang, key)}", "", *lines])

    section("summary.situation", [f"- {s}" for s in summary.situation])
    section("summary.tensions", [f"- {s}" for s in summary.tensions])
    section("summary.commitments", [f"- {s}" for s in summary.commitments] or [tr(lang, "summary.none")])
    section("summary.insights", [f"- {i.text} ({i.title})" for i in summary.insights])
    section("summary.reading", [f"- {r.title} ({r.source})" for r in summary.reading])
    return "\n".join(out)


def summarize(conversation: Conversation, lang: str = "nb") -> str:
    """The summary as shown: `render_summary(build_summary(conversation), lang)`."""
    return render_summary(build_summary(conversation), lang)


def shorten(sentence: str, max_words: int = MAX_WORDS) -> str:
    """A long sentence cut at its last clause boundary within `max_words`, else at the limit."""
    words = sentence.split()
    if len(words) <= max_words:
        return " ".join(words)
    head = " ".join(words[:max_words])
    cut = max(head.rfind(","), head.rfind(";"), head.rfind(":"), head.rfind(" – "))
    if cut > 0 and len(head[:cut].split()) >= 8:
        head = head[:cut]
    return head.rstrip(" ,;:–") + " …"


def _participant_sentences(conversation: Conversation) -> list[tuple[str, str | None]]:
    """Every sentence the participant wrote before the summary, with the stage it answered."""
    out: list[tuple[str, str | None]] = []
    stage: str | None = None
    for message in conversation.messages:
        if message.kind == "summary":
            break
        if message.role == "assistant":
            stage = message.stage
        elif message.role == "user":
            out += [(" ".join(s.split()), stage) for s in split_sentences(message.content)]
    return out


def _situation(sentences: list[tuple[str, str | None]]) -> list[str]:
    """The sentences that name the participant's place, role, people or numbers: their situation."""
    picked = []
    for sentence, stage in sentences:
        score = (2 * bool(_ROLE.search(sentence)) + 2 * bool(_PROPER.search(sentence)) + bool(_PLACE.search(sentence))
                 + bool(re.search(r"\d", sentence)) + (stage == REFLECTION_STAGES[0]))
        if score >= 2 and len(sentence.split()) >= 4:
            picked.append(sentence)
    return _unique(picked)[:3]


def _material(conversation: Conversation) -> tuple[list[SummaryInsight], list[Reading]]:
    insights: list[SummaryInsight] = []
    seen: set[str] = set()
    reading: Counter[tuple[str, str]] = Counter()
    pointed: list[tuple[str, str]] = []  # the texts a turn offered to read next, in the order offered
    for message in conversation.messages:
        if message.role != "assistant":
            continue
        by_number = {c.number: c for c in message.citations}
        for insight in message.insights:  # stored with the turn (assistant.app.journal)
            cite = by_number.get(insight.number)
            if cite is not None and insight.kind == "reading":
                pointed.append((cite.title, cite.source))
                continue
            key = " ".join(insight.text.lower().split())
            if cite is None or cite.kind == "question" or key in seen:
                continue
            seen.add(key)
            insights.append(SummaryInsight(text=insight.text, title=cite.title, source=cite.source))
        for c in message.citations:
            if c.kind != "question":
                reading[(c.title, c.source)] += 1
    ordered = list(dict.fromkeys([*pointed, *(doc for doc, _ in reading.most_common())]))
    return insights, [Reading(title=t, source=s) for t, s in ordered]


def _unique(items) -> list[str]:
    return list(dict.fromkeys(items))
