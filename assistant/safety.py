"""Output and input safety: answers are text-safe Markdown.

- No raw HTML: tags are escaped so they show as text.
- No images: `![alt](url)` becomes its alt text.
- No clickable links: `[text](url)` keeps its text. A URL that a retrieved
  source contains is kept as inline code (visible, checkable, not clickable);
  any other URL is removed. A hostile document can therefore not make the
  answer show an image or a link.
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
    kept: list[str] = []

    def keep(url: str) -> str:
        if url not in allowed_urls:
            return ""
        kept.append(url)
        return f"\x00{len(kept) - 1}\x00"

    text = _IMAGE.sub(lambda m: m.group(1), text)
    text = _LINK.sub(lambda m: m.group(1) + ((" (" + keep(m.group(2)) + ")") if m.group(2) in allowed_urls else ""), text)
    text = _REF_DEF.sub("", text)
    text = _AUTOLINK.sub(lambda m: keep(m.group(1)), text)
    text = _URL.sub(lambda m: keep(m.group(0)) or "[lenke fjernet]", text)
    text = _TAG.sub(lambda m: "&lt;" + m.group(1) + "&gt;", text)
    return re.sub("\x00(\\d+)\x00", lambda m: f"`{kept[int(m.group(1))]}`", text)


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
