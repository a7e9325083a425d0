"""What a participant's reflection message is about, and which of its sentences to mirror.

A participant often opens with who they are ("Jeg er plansjef i Horten.") and then says what
troubles them ("Vi godkjenner små utbygginger i randsonen, én sak av gangen."). The
introduction tells the assistant little about which material would help; the concern does. Pure
text rules over the message (no model, no store): they are about how people write about their
work (introductions, contrast, feelings, decisions), not about any particular message.
"""

from __future__ import annotations

import re

from assistant.core.text import split_sentences, words

# "Jeg er kultursjef i Tønsberg", "I'm a planning manager in Horten", "Jeg leder næringsavdelingen".
_INTRODUCTION = re.compile(
    r"^\W*(jeg er|jeg jobber|jeg arbeider|jeg leder|jeg har ansvar|i am|i'm|i work|i lead|i head|i manage|my name)\b",
    re.I,
)
# What carries a tension or an intent: contrast, conflict, feeling, doubt, a decision.
_TENSION = re.compile(
    r"\b(men|samtidig|mens|likevel|selv om|konflikt\w*|spenning\w*|sliter|strever|redd|usikker|"
    r"bekymr\w*|frustr\w*|vanskelig\w*|press\w*|valgt|bestemt|ønsker|"
    r"but|while|yet|although|though|conflict\w*|tension\w*|struggl\w*|afraid|unsure|"
    r"worr\w*|frustrat\w*|difficult|pressure|chosen|decided)\b",
    re.I,
)
# A request to the assistant ("Hjelp meg å se …", "Hvordan kan jeg …?") says what is wanted, not what is.
_REQUEST = re.compile(r"^\W*(hjelp meg|help me|kan du|could you|can you)\b", re.I)
MIN_CONCERN_WORDS = 4


MAX_INTRODUCTION_WORDS = 9
_AND = re.compile(r"\b(og|and)\b", re.I)


def _is_introduction(sentence: str) -> bool:
    """A short self-introduction and nothing more: no second clause ("… og har lest om …"), no tension."""
    return (
        bool(_INTRODUCTION.match(sentence))
        and len(words(sentence)) <= MAX_INTRODUCTION_WORDS
        and not _AND.search(sentence)
        and not _TENSION.search(sentence)
    )


def concern(message: str) -> str:
    """The message without its self-introduction: what the material should be matched against.
    A message that is nothing but an introduction is returned whole."""
    sentences = split_sentences(message)
    kept = [s for s in sentences if not _is_introduction(s)]
    text = " ".join(kept)
    return text if len(words(text)) >= MIN_CONCERN_WORDS else message


def mirror_sentence(message: str) -> str:
    """The sentence of the message that carries its tension or intent (contrast, conflict,
    feeling, a decision), else the first one that is neither an introduction nor a request."""
    sentences = [s.strip() for s in split_sentences(message) if s.strip()]
    if not sentences:
        return message.strip()
    candidates = [s for s in sentences if not _is_introduction(s) and not _REQUEST.match(s)] or sentences
    tense = [s for s in candidates if _TENSION.search(s)]
    return (tense or candidates)[0]
