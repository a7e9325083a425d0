"""The search query for a message in a conversation.

A follow-up that refers back ("Og hvor mange deltakere?", "Hva med henne?") is searched with the
question it refers to: a configured model rewrites it into a standalone question, and without a
model it borrows the previous question's words. A message that does not refer back is searched
as it is, however short.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from assistant.core.llm import ChatMessage, ChatModel, LLMError
from assistant.core.prompts import render
from assistant.core.text import guess_language

# A follow-up refers back: it opens with a connective ("og", "hva med", "and", "what about") or
# uses a pronoun or determiner that points to something said before. Being short is not enough.
_FOLLOW_UP_OPENER = re.compile(r"^\W*(og|men|hva med|enn|and|but|what about|how about)\b", re.I)
_REFERS_BACK = re.compile(
    r"\b(den|det|de|dem|denne|dette|disse|deres|hun|han|hennes|hans|der|da|"
    r"it|its|they|them|their|this|that|these|those|she|he|her|his|there|then)\b",
    re.I,
)
# "Det"/"it" as a dummy subject ("Hva er det ...", "Hvem var det som ...") does not refer back.
_DUMMY = re.compile(r"\b(hva|hvem|hvor|hvordan|hvorfor|når|what|who|where|how|why|when)\s+(er|var|blir|is|was|are|were)\s+(det|it|there)\b", re.I)


class QueryRewriter:
    def __init__(self, chat_model: ChatModel | None, *, prompts_dir: Path) -> None:
        self.chat_model = chat_model
        self.prompts_dir = prompts_dir  # the condense prompt, used with a model

    def rewrite(self, question: str, history: Sequence[ChatMessage], lang: str) -> str:
        previous = [m.content for m in history if m.role == "user"]
        if not previous:
            return question
        if self.chat_model is not None:
            convo = "\n".join(f"{m.role}: {m.content[:500]}" for m in list(history)[-6:])
            prompt = render(self.prompts_dir, "condense", lang, history=convo, question=question)
            try:
                rewritten = "".join(self.chat_model.stream([ChatMessage("user", prompt)])).strip()
                if 3 <= len(rewritten) <= 400:
                    return rewritten.splitlines()[0]
            except LLMError:
                pass
        # Without a model: a question that refers back borrows the previous question's words.
        if refers_back(question):
            return f"{previous[-1]} {question}"
        return question


def refers_back(question: str) -> bool:
    """Does a follow-up question lean on what was said before ("og hvor mange?", "hva med henne?")?"""
    q = question.strip()
    if _FOLLOW_UP_OPENER.match(q):
        return True
    return bool(_REFERS_BACK.search(_DUMMY.sub(" ", q)))


def history_language(history: Sequence[ChatMessage]) -> str:
    for m in reversed(list(history)):
        if m.role == "user":
            return guess_language(m.content)
    return "nb"
