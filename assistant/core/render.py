"""How an answer is shown: its sections, then the numbered list of its sources, made text-safe.

The one place where an answer's text is put together. The composers (extractive, reflective,
generated, the refusal) hand in their sections and citations; `render_text` joins them, adds the
source list, and passes everything through the sanitiser, so that a document's title in the source
list can no more become a link or an image than a quoted sentence can.
"""

from __future__ import annotations

from collections.abc import Sequence

from assistant.core.i18n import tr
from assistant.core.provenance import provenance_label
from assistant.core.records import Chunk, Citation
from assistant.core.safety import safe_markdown


def citation(number: int, chunk: Chunk, lang: str) -> Citation:
    """Source number `number` of an answer: where the chunk is, and the passage itself."""
    return Citation(
        number=number, source=chunk.meta.source, title=chunk.meta.title, kind=chunk.meta.kind,
        locator=chunk.locator(lang), page=chunk.page, section=chunk.section, passage=chunk.text,
        provenance=chunk.provenance,
    )


def summary_citation(number: int, chunk: Chunk, summary: str, lang: str) -> Citation:
    """Source number `number` as the document's own summary: the passage is the summary, and no
    page or section is given, because the summary speaks for the whole document."""
    return citation(number, chunk, lang).model_copy(update={"passage": summary, "locator": "", "section": "", "page": None})


def source_list(citations: Sequence[Citation], lang: str) -> str:
    """"[2] Title, section (source; skrevet for assistenten)": every source says where it comes
    from, so a question written for the assistant is never read as the programme's."""
    lines = [f"**{tr(lang, 'answer.sources')}:**"]
    for c in citations:
        where = f", {c.locator}" if c.locator else ""
        lines.append(f"[{c.number}] {c.title}{where} ({c.source}; {provenance_label(lang, c.provenance)})")
    return "\n".join(lines[:1]) + "\n" + "  \n".join(lines[1:])


def render_text(
    sections: Sequence[str], citations: Sequence[Citation], lang: str, allowed_urls: frozenset[str] | set[str] = frozenset()
) -> str:
    """The shown text: the non-empty sections as paragraphs, then the sources (when there are any)."""
    text = "\n\n".join(s for s in sections if s)
    if citations:
        text += "\n\n" + source_list(citations, lang)
    return safe_markdown(text, allowed_urls)
