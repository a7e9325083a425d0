"""Output and input safety: everything shown is text-safe Markdown.

`safe_markdown` is the one sanitiser for text that comes from documents or users, wherever it is
shown (answers, reflections, summaries, titles, the journal preview, the facilitator's view). It
parses the text with a real Markdown parser (markdown-it-py, CommonMark with tables) and writes it
back keeping only what the product renders itself: paragraphs, headings, lists, block quotes,
bold, italics, code and tables. Everything else becomes plain text:

- raw HTML (tags, comments) is escaped ("<" as "&lt;"), so it shows as text;
- an image becomes its alt text;
- a link keeps its text; its address is dropped, unless the retrieved sources contain it, in
  which case it is shown as inline code (visible, checkable, not clickable);
- a bare address (`https://…`, `www.…`, an e-mail address) that the browser's Markdown renderer
  would turn into a link is shown as inline code when the sources contain it, else removed;
- every other character that Markdown would read as markup is escaped.

A hostile document can therefore not make the interface show an image, load anything or offer
a link (tests/test_sanitiser.py feeds it a corpus of hostile inputs).
"""

from __future__ import annotations

import re
import unicodedata

from markdown_it import MarkdownIt

from assistant.core.errors import InputError
from assistant.core.i18n import tr

_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>()\[\]]+|\b(?:javascript|data|vbscript):[^\s<>()\[\]]+", re.I)
# What a GFM renderer turns into a link by itself: addresses with a scheme, "www." names, e-mail.
_LINKABLE = re.compile(
    r"(?:\b(?:https?|ftp|mailto|javascript|data|vbscript|file):/*[^\s<>()\[\]`]*"
    r"|\bwww\.[^\s<>()\[\]`]+"
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+)",
    re.I,
)
# Characters Markdown may read as markup, escaped in text. Not escaped, to keep the text readable
# outside a browser too (the CLI, the API, the journal): a citation marker "[3]" (never a link:
# no address follows, and reference definitions are dropped by the parser), "!" not before "[",
# "#" not at the start of a line.
_MARKUP = re.compile(r"(\[\d{1,3}\](?![(\[:]))|([\\`*_<>|~]|\[|\]|!(?=\[))")
_ENTITY = {"<": "&lt;", ">": "&gt;"}
_LINE_START = re.compile(r"^(\s*)([-+=#]|\d+[.)])")
_PARSER = MarkdownIt("commonmark", {"html": True, "linkify": False}).enable(["table", "strikethrough"])

MAX_MESSAGE_CHARS = 4000
REMOVED = "\\[lenke fjernet\\]"


def safe_markdown(text: str, allowed_urls: set[str] | frozenset[str] = frozenset()) -> str:
    """`text` as Markdown that renders no link, image or HTML (see the module docstring)."""
    if not text:
        return ""
    return _Writer(allowed_urls).write(_PARSER.parse(text)).strip("\n")


def plain_text(text: str) -> str:
    """`text` with all Markdown structure flattened to one line of escaped text (for titles)."""
    flat = " ".join(safe_markdown(text).split())
    return re.sub(r"^(\\?#+\s*|[-*>]\s+)", "", flat)


def inline_code(value: str) -> str:
    """`value` as an inline code span: shown as typed, never a link (a user name like a@b.no)."""
    return _code(value)


def urls_in(texts: list[str]) -> set[str]:
    """Addresses the texts contain, as `safe_markdown` looks them up (without trailing punctuation)."""
    found = {m.group(0) for t in texts for m in _URL.finditer(t)} | {m.group(0) for t in texts for m in _LINKABLE.finditer(t)}
    return found | {_trim_url(u) for u in found}


def _trim_url(url: str) -> str:
    """An address without the sentence's punctuation after it ("…/p." -> "…/p")."""
    return url.rstrip(".,;:!?")


class _Writer:
    def __init__(self, allowed: set[str] | frozenset[str]) -> None:
        self.allowed = allowed

    # -- inline ------------------------------------------------------------------------------
    def text(self, value: str) -> str:
        out, last = [], 0
        for m in _LINKABLE.finditer(value):
            out.append(self.escape(value[last : m.start()]))
            out.append(self.url(m.group(0)))
            last = m.end()
        out.append(self.escape(value[last:]))
        return "".join(out)

    @staticmethod
    def escape(value: str) -> str:
        # "<" and ">" as entities: inert as Markdown and as HTML alike.
        return _MARKUP.sub(lambda m: m.group(1) or _ENTITY.get(m.group(2)) or "\\" + m.group(2), value)

    def url(self, url: str) -> str:
        trimmed = _trim_url(url)
        tail = url[len(trimmed) :]
        if trimmed in self.allowed:
            return _code(trimmed) + self.escape(tail)
        return REMOVED + self.escape(tail)

    def inline(self, children) -> str:
        out: list[str] = []
        link_href: list[str | None] = []
        for t in children or []:
            kind = t.type
            if kind == "text":
                out.append(self.text(t.content))
            elif kind in ("softbreak", "hardbreak"):
                out.append("\n")
            elif kind == "code_inline":
                out.append(_code(t.content))
            elif kind in ("strong_open", "strong_close"):
                out.append("**")
            elif kind in ("em_open", "em_close"):
                out.append("*")
            elif kind in ("s_open", "s_close"):
                out.append("~~")
            elif kind == "link_open":
                href = str(t.attrs.get("href", ""))
                link_href.append(href)
                if t.markup == "autolink":
                    out.append("\x00")  # the text is the address: shown (or removed) by `url`
            elif kind == "link_close":
                href = link_href.pop() if link_href else ""
                if t.markup == "autolink":
                    start = len(out) - 1 - out[::-1].index("\x00")
                    out[start:] = [self.url(href)]
                elif href in self.allowed:
                    out.append(" (" + _code(href) + ")")
            elif kind == "image":
                out.append(self.text(t.content or "".join(c.content for c in t.children or [])))
            elif kind == "html_inline":
                out.append(self.text(t.content))
            else:  # anything new a parser version may add: its text only
                out.append(self.text(t.content))
        return _LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), "".join(out), count=1)

    # -- blocks ------------------------------------------------------------------------------
    def write(self, tokens) -> str:
        lines: list[str] = []
        prefix: list[str] = []  # quote and list indentation
        lists: list[list] = []  # [ordered, number]
        item_first = False
        row: list[str] | None = None  # cells of the table row being read
        header_done = False
        pending = ""
        paragraph_end = None

        def emit(text: str) -> None:
            nonlocal item_first
            lead = "".join(prefix)
            for n, line in enumerate(text.split("\n")):
                if item_first and n == 0:  # the item's marker takes the place of its indentation
                    marker = f"{lists[-1][1]}. " if lists[-1][0] else "- "
                    lines.append("".join(prefix[:-1]) + marker + line)
                else:
                    lines.append(lead + line)
            item_first = False

        for t in tokens:
            kind = t.type
            if kind == "heading_open":
                pending = "#" * int(t.tag[1]) + " "
            elif kind == "inline":
                if row is not None:
                    row.append(self.inline(t.children).replace("|", "\\|").replace("\n", " "))
                    continue
                emit(pending + self.inline(t.children))
                pending = ""
            elif kind in ("paragraph_close", "heading_close"):
                if not lists:
                    lines.append("")
            elif kind == "paragraph_open":
                paragraph_end = t.map[1] if t.map else None
            elif kind == "bullet_list_open" or kind == "ordered_list_open":
                if not lists and lines and lines[-1] == "" and t.map and t.map[0] == paragraph_end:
                    lines.pop()  # the list followed its lead-in line directly: keep them together
                lists.append([kind == "ordered_list_open", int(t.attrs.get("start", 1) or 1) - 1])
                prefix.append("   " if kind == "ordered_list_open" else "  ")
            elif kind in ("bullet_list_close", "ordered_list_close"):
                lists.pop()
                prefix.pop()
                if not lists:
                    lines.append("")
            elif kind == "list_item_open":
                lists[-1][1] += 1
                item_first = True
            elif kind == "list_item_close" and item_first:
                emit("")  # an empty item ("-"): its marker alone, not carried to the next block
            elif kind == "blockquote_open":
                prefix.append("> ")
            elif kind == "blockquote_close":
                prefix.pop()
            elif kind in ("fence", "code_block"):
                body = t.content.rstrip("\n")
                fence = "`" * max(3, _longest_run(body, "`") + 1)
                for line in [fence, *body.split("\n"), fence]:
                    lines.append("".join(prefix) + line)
                lines.append("")
            elif kind == "hr":
                lines.append("".join(prefix) + "---")
                lines.append("")
            elif kind == "html_block":
                emit(self.text(t.content.rstrip("\n")))
                lines.append("")
            elif kind == "tr_open":
                row = []
            elif kind == "tr_close":
                lines.append("".join(prefix) + "| " + " | ".join(row or []) + " |")
                if not header_done:
                    lines.append("".join(prefix) + "|" + "---|" * len(row or []))
                    header_done = True
                row = None
            elif kind == "table_open":
                header_done = False
            elif kind == "table_close":
                lines.append("")
        return "\n".join(lines)


def _code(value: str) -> str:
    value = value.replace("\n", " ")
    ticks = "`" * (_longest_run(value, "`") + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{ticks}{pad}{value}{pad}{ticks}"


def _longest_run(text: str, ch: str) -> int:
    best = run = 0
    for c in text:
        run = run + 1 if c == ch else 0
        best = max(best, run)
    return best


class InputRejected(InputError, ValueError):
    """The user's message cannot be processed; str() says why, in the user's language."""


def clean_user_text(text: str, max_chars: int = MAX_MESSAGE_CHARS, lang: str = "nb") -> str:
    """Control characters removed, whitespace tidied; too long is refused, not cut. The refusal is in
    `lang` (the interface's language)."""
    if len(text) > max_chars:
        raise InputRejected(tr(lang, "input.too_long", n=f"{len(text):,}".replace(",", " "), limit=f"{max_chars:,}".replace(",", " ")))
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    text = text.strip()
    if not text:
        raise InputRejected(tr(lang, "input.empty"))
    return text
