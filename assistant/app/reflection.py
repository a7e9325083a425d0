"""Guided reflection: five stages, one question at a time, and the closing summary.

where are we -> where are we going -> how do we get there -> what does it ask
of me as a leader -> my next step. The participant can stay on a stage, skip
ahead or go back. The summary is built from the conversation itself: the
material's insights that were cited, the participant's own commitments, and
the documents worth reading next.
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

_COMMITMENT = re.compile(
    r"\b(jeg skal|jeg vil|jeg kommer til å|jeg tar|vi skal|vi vil|mitt neste steg|neste steg|"
    r"eg skal|eg vil|eg kjem til å|eg tek|"  # nynorsk ("eg" is never bokmål)
    r"i will|i'll|i am going to|my next step|we will)\b",
    re.I,
)


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


def summarize(conversation: Conversation, lang: str = "nb") -> str:
    insights: list[str] = []
    seen: set[str] = set()  # insight sentences already taken (`insights` holds them with their title)
    reading: Counter[tuple[str, str]] = Counter()
    commitments: list[str] = []
    for i, message in enumerate(conversation.messages):
        if message.role == "assistant":
            by_number = {c.number: c for c in message.citations}
            for insight in message.insights:  # stored with the turn (assistant.app.journal)
                cite = by_number.get(insight.number)
                if cite is None or cite.kind == "question" or insight.text in seen:
                    continue
                seen.add(insight.text)
                insights.append(f"{insight.text} ({cite.title})")
            for c in message.citations:
                if c.kind != "question":
                    reading[(c.title, c.source)] += 1
        elif message.role == "user":
            last_stage = _stage_of_reply(conversation, i) == "next_step"
            for sentence in split_sentences(message.content):
                if (_COMMITMENT.search(sentence) or last_stage) and sentence not in commitments:
                    commitments.append(sentence)
    out = [f"## {tr(lang, 'summary.title')}", "", f"### {tr(lang, 'summary.insights')}", ""]
    out += [f"- {s}" for s in insights[:5]] or ["-"]
    out += ["", f"### {tr(lang, 'summary.commitments')}", ""]
    out += [f"- {s}" for s in commitments[:6]] or [tr(lang, "summary.none")]
    out += ["", f"### {tr(lang, 'summary.reading')}", ""]
    out += [f"- {title} ({source})" for (title, source), _ in reading.most_common(4)] or ["-"]
    return "\n".join(out)


def _stage_of_reply(conversation: Conversation, index: int) -> str | None:
    """The stage of the question a participant's message answers (recorded on the assistant message)."""
    for message in reversed(conversation.messages[:index]):
        if message.role == "assistant":
            return message.stage
    return None
