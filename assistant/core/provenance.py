"""Where a passage comes from: the programme's own material, a summary of published work, or text
written for this assistant (issue #20).

"Grounded" means every statement points to a source, but a source can be any of three things, and a
facilitator preparing a gathering, or a participant asking "what did KS ask?", must be able to tell
them apart. So every chunk carries one of these values, set by its document (front matter
`provenance:`, or the facilitator's choice for an upload) or by the section it sits in (a
`<!-- provenance: … -->` line under a heading; `ingest/loaders.py`):

- `programme`: the programme's own material (the presentation's facts and questions);
- `literature`: summaries in our own words of published work (the leadership texts);
- `assistant`: written for this assistant (follow-up questions, reflection prompts, suggestions).

This module holds the values, the rule for an index written before chunks carried them, how a
value is named in the interface, and the rule that tells when a question asks what the programme
itself asked or found (then its own material comes first; `Retriever.search`).
"""

from __future__ import annotations

import re
from typing import Literal

from assistant.core.i18n import tr

Provenance = Literal["programme", "literature", "assistant"]
PROVENANCES: tuple[str, ...] = ("programme", "literature", "assistant")
DEFAULT_PROVENANCE: Provenance = "programme"


def fallback_provenance(kind: str) -> str:
    """The provenance of a chunk that does not say: an index built before chunks carried one, or a
    Markdown document without the front-matter key. Read from its kind, the nearest thing the old
    records have: the programme's documents are its material, the leadership texts summaries of
    published work, and anything else (the question documents, a kind of its own) is treated as
    written for the assistant, so that nothing is passed off as the programme's by default."""
    return {"programme": "programme", "leadership": "literature"}.get(kind, "assistant")


def is_provenance(value: object) -> bool:
    return isinstance(value, str) and value in PROVENANCES


def provenance_label(lang: str, provenance: str) -> str:
    """The value as the interface says it ("skrevet for assistenten", "programme material")."""
    return tr(lang, f"provenance.{provenance if provenance in PROVENANCES else DEFAULT_PROVENANCE}")


# A question about what the programme itself asked or found: the programme, the pilot or KS is the
# one that asks, finds, recommends, concludes, learns or says (its subject), or owns the findings.
_NAME_NB = r"(?:programmet|piloten|pilotprosjektet|ks)"
_NAME_EN = r"(?:the\s+)?(?:programme|program|pilot|ks)"
_VERB_NB = (r"(?:spør|spurte|stiller|stilte|fant|finner|anbefaler|anbefalte|konkluderer|konkluderte|lærte|lærer|"
            r"erfarte|mente|mener|sier|sa|viste|viser|foreslår|foreslo|ønsker|ønsket|oppsummerer|oppsummerte)")
_VERB_EN = (r"(?:ask|asks|asked|find|finds|found|recommend|recommends|recommended|conclude|concludes|concluded|"
            r"learn|learns|learned|learnt|say|says|said|suggest|suggests|suggested|show|shows|showed|propose|proposes|proposed)")
_FINDINGS_NB = r"(?:erfaring\w*|funn\w*|anbefaling\w*|spørsmål\w*|konklusjon\w*|læringspunkt\w*|lærdom\w*)"
_FINDINGS_EN = r"(?:findings|recommendations|questions|conclusions|lessons|experiences|results)"
_ASKS_PROGRAMME = re.compile(
    "|".join([
        # bokmål: "Hva spurte KS?", "Hva fant piloten?", "Piloten fant …", "KS har spurt …"
        rf"\b{_VERB_NB}\s+(?:egentlig\s+)?{_NAME_NB}\b",
        rf"\b{_NAME_NB}\s+(?:har\s+|hadde\s+)?(?:{_VERB_NB}|spurt|funnet|anbefalt|konkludert|lært|sagt|vist|foreslått)\b",
        # bokmål: "pilotens erfaringer", "programmets anbefalinger", "erfaringene fra piloten"
        rf"\b(?:programmets|pilotens|ks'|kss)\s+(?:\w+\s+){{0,2}}{_FINDINGS_NB}",
        rf"\b{_FINDINGS_NB}\s+(?:fra|i)\s+{_NAME_NB}\b",
        # English: "What did KS ask?", "What did the pilot find?", "The programme recommended …"
        rf"\b(?:did|does|do|has|have|had)\s+{_NAME_EN}\s+{_VERB_EN}\b",
        rf"\b{_NAME_EN}\s+(?:has\s+|had\s+)?{_VERB_EN}\b",
        # English: "the programme's findings", "the lessons from the pilot"
        rf"\b{_NAME_EN}(?:'s|’s)\s+(?:\w+\s+){{0,2}}{_FINDINGS_EN}\b",
        rf"\b{_FINDINGS_EN}\s+(?:of|from)\s+{_NAME_EN}\b",
    ]),
    re.I,
)


def asks_what_the_programme_said(question: str) -> bool:
    """True for "Hva spurte KS om?", "Hva fant piloten?", "What did the programme recommend?",
    "Hva var erfaringene fra piloten?": the programme, the pilot or KS is the one that asked, found,
    recommended, concluded, learned or said something, or owns the findings. Its answer is the
    programme's own material, not a suggestion written for the assistant or a summary of someone
    else's book. A question that only mentions KS ("what do the questions ask KS?") is not one."""
    return bool(_ASKS_PROGRAMME.search(question))
