"""Structure-aware chunking sized for the embedder's window.

A section (Markdown heading or PDF page) is the natural unit, and the only one: a chunk never
spans two sections, so it never mixes two provenances (a section has one). Paragraphs of a
section are packed up to `chunk_target_tokens`; a paragraph longer than
`chunk_max_tokens` is split at sentences, a sentence longer than that at words, and a word
longer than that at characters, so no chunk exceeds the cap whatever the text.
Chunk ids are content hashes, so re-chunking unchanged text gives the same ids.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable

from assistant.core.records import Chunk, DocumentMeta, Section
from assistant.core.text import split_sentences

TokenCounter = Callable[[str], int]


def sha256(data: str | bytes) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def _pieces(text: str, count: TokenCounter, max_tokens: int) -> list[str]:
    """Paragraphs, each guaranteed to fit in max_tokens."""
    out: list[str] = []
    for para in re.split(r"\n\s*\n", text):
        para = para.strip()
        if not para:
            continue
        if count(para) <= max_tokens:
            out.append(para)
            continue
        for sentence in split_sentences(para):
            if count(sentence) <= max_tokens:
                out.append(sentence)
                continue
            words = sentence.split()
            step = max(8, len(words) * max_tokens // max(count(sentence), 1) - 4)
            for start in range(0, len(words), step):
                out.extend(_fit(" ".join(words[start : start + step]), count, max_tokens))
    return out


def _fit(text: str, count: TokenCounter, max_tokens: int) -> list[str]:
    """`text` as it is if it fits in max_tokens, else halved until every piece does: at words,
    and a single word (a URL, a hash, a run of rare characters) at characters. The step above
    assumes every word costs the same number of tokens; this holds the cap when they do not."""
    if count(text) <= max_tokens:
        return [text]
    words = text.split()
    if len(words) > 1:
        half = len(words) // 2
        parts = (" ".join(words[:half]), " ".join(words[half:]))
    else:
        half = len(text) // 2
        parts = (text[:half], text[half:])
    return [piece for part in parts for piece in _fit(part, count, max_tokens)]


def chunk_sections(
    meta: DocumentMeta,
    sections: list[Section],
    *,
    file_hash: str,
    fingerprint: str,
    count: TokenCounter,
    target_tokens: int,
    max_tokens: int,
) -> list[Chunk]:
    meta_blob = json.dumps(meta.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    header_budget = count(f"{meta.title} — ") + 8
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    for section in sections:
        section_head = count(" > ".join(section.heading_path)) if section.heading_path else 0
        budget_max = max(32, max_tokens - header_budget - section_head)
        budget_target = max(24, min(target_tokens, budget_max))
        groups: list[list[str]] = []
        size = 0
        for piece in _pieces(section.text, count, budget_max):
            n = count(piece)
            if groups and size + n <= budget_target:
                groups[-1].append(piece)
                size += n
            else:
                groups.append([piece])
                size = n
        for group in groups:
            text = "\n\n".join(group)
            content_hash = sha256(text)
            locator = json.dumps([list(section.heading_path), section.page] + ([section.slide] if section.slide is not None else []), ensure_ascii=False)
            # Provenance is part of the id: a marker moved from one section to another changes the
            # chunks it covers, though not their text, so they are written again with the new value.
            base = sha256("\x1f".join([fingerprint, meta_blob, locator, content_hash, section.provenance]))[:32]
            dup = seen.get(base, 0)
            seen[base] = dup + 1
            chunk_id = base if dup == 0 else sha256(f"{base}:{dup}")[:32]
            chunks.append(
                Chunk(
                    id=chunk_id,
                    text=text,
                    meta=meta,
                    heading_path=section.heading_path,
                    page=section.page,
                    slide=section.slide,
                    position=len(chunks),
                    content_hash=content_hash,
                    file_hash=file_hash,
                    provenance=section.provenance,
                )
            )
    return chunks
