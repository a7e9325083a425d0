"""Output and input safety: answers are text-safe Markdown.

- No raw HTML: tags are escaped so they show as text.
- No images: `![alt](url)` becomes its alt text.
- No links the sources did not contain: `[text](url)` keeps its text, and bare
  URLs are removed unless a retrieved source contains that exact URL.
"""

from __future__ import annotations

import re
import unicodedata

_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)[^)]*\)")
_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto|javascript|data):[^>]*)>", re.I)
_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>()\[\]]+|\b(?:javascript|data|vbscript):[^\s<>()\[\]]+", re.I)
_REF_DEF = re.compile(r"^\s*\[[^\]]+\]:\s*\S+.*$", re.M)
_TAG = re.compile(r"<(/?[a-zA-Z!][^>]*)>")

MAX_MESSAGE_CHARS = 4000


def safe_markdown(text: str, allowed_urls: set[str] | frozenset[str] = frozenset()) -> str:
    text = _IMAGE.sub(lambda m: m.group(1), text)

    def link(m: re.Match) -> str:
        return m.group(0) if m.group(2) in allowed_urls else m.group(1)

    text = _LINK.sub(link, text)
    text = _REF_DEF.sub("", text)
    text = _AUTOLINK.sub(lambda m: m.group(1) if m.group(1) in allowed_urls else "", text)
    text = _URL.sub(lambda m: m.group(0) if m.group(0) in allowed_urls else "[lenke fjernet]", text)
    text = _TAG.sub(lambda m: "&lt;" + m.group(1) + "&gt;", text)
    return text


def urls_in(texts: list[str]) -> set[str]:
    return {m.group(0) for t in texts for m in _URL.finditer(t)}


class InputRejected(ValueError):
    """The user's message cannot be processed; str() says why, in bokmål."""


def clean_user_text(text: str, max_chars: int = MAX_MESSAGE_CHARS) -> str:
    """Control characters removed, whitespace tidied; too long is refused, not cut."""
    if len(text) > max_chars:
        raise InputRejected(
            f"Meldingen er {len(text):,} tegn; grensen er {max_chars:,}. Del den opp eller kort den ned.".replace(",", " ")
        )
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    text = text.strip()
    if not text:
        raise InputRejected("Meldingen er tom. Skriv et spørsmål eller en refleksjon.")
    return text
