"""A generated corpus of many pages, made by recombining the bundled corpus's paragraphs.

Deterministic for a given seed: the same files, bytes and page count every run
(PDFs carry a fixed creation date). A "page" is about 300 words: one `##` section
in a Markdown file, one physical page in a PDF. About a fifth of the pages are PDF,
so ingest's sandboxed PDF parser is part of what is measured.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from assistant.core.settings import REPO_ROOT

BUNDLED = REPO_ROOT / "corpus"
FOLDERS = ("programme", "leadership", "questions")
FIXED_DATE = dt.datetime(2025, 6, 4, tzinfo=dt.timezone.utc)
WORDS_PER_PAGE = 300
_LATIN1 = {"–": "-", "—": "-", "’": "'", "‘": "'", "“": '"', "”": '"', "…": "...", "\u00a0": " ", "≈": "~"}


@dataclass
class CorpusInfo:
    path: str
    files: int
    markdown_files: int
    pdf_files: int
    pages: int
    pdf_pages: int
    words: int
    seed: int

    def as_dict(self) -> dict:
        return asdict(self)


def paragraph_pool(corpus_dir: Path = BUNDLED) -> tuple[list[str], list[str]]:
    """(headings, paragraphs) of every Markdown file in the bundled corpus (incl. `_pdf_src`)."""
    headings: list[str] = []
    paragraphs: list[str] = []
    for path in sorted(corpus_dir.rglob("*.md")):
        if path.name.lower() == "readme.md":
            continue
        text = path.read_text(encoding="utf-8")
        text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)
        for block in re.split(r"\n\s*\n", text):
            block = block.strip()
            if not block:
                continue
            if block.startswith("#"):
                heading = block.lstrip("#").strip().splitlines()[0]
                if 2 <= len(heading.split()) <= 12:
                    headings.append(heading)
                continue
            if len(block.split()) >= 12:
                paragraphs.append(block)
    return headings, paragraphs


def _page(rng: random.Random, paragraphs: list[str]) -> tuple[list[str], int]:
    chosen: list[str] = []
    words = 0
    while words < WORDS_PER_PAGE - 40:
        para = rng.choice(paragraphs)
        if para in chosen:
            continue
        chosen.append(para)
        words += len(para.split())
    return chosen, words


def _latin1(text: str) -> str:
    for a, b in _LATIN1.items():
        text = text.replace(a, b)
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"(\*\*|__|\*|_|`)", "", text)
    return text.encode("latin-1", "replace").decode("latin-1")


def _write_pdf(path: Path, title: str, pages: list[tuple[str, list[str]]]) -> None:
    from fpdf import FPDF  # dev dependency; only the bench and the corpus script need it

    pdf = FPDF(format="A4")
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_title(_latin1(title))
    pdf.set_author("bench: generated corpus")
    pdf.set_margins(22, 22, 22)
    pdf.set_auto_page_break(False)
    for heading, paras in pages:
        pdf.add_page()
        pdf.set_font("Helvetica", style="B", size=12)
        pdf.multi_cell(0, 6, _latin1(heading), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
        # ~300 words must fit one A4 page: small type, tight lines.
        pdf.set_font("Helvetica", size=8)
        for para in paras:
            pdf.multi_cell(0, 3.6, _latin1(" ".join(para.split())), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1.2)
    path.write_bytes(bytes(pdf.output()))


def generate_corpus(dest: Path, *, pages: int = 500, seed: int = 8, pdf_share: float = 0.2,
                    pages_per_doc: int = 5) -> CorpusInfo:
    """Write `pages` pages (Markdown and PDF) under `dest`, in the bundled corpus's folder layout."""
    rng = random.Random(seed)
    headings, paragraphs = paragraph_pool()
    dest.mkdir(parents=True, exist_ok=True)
    n_docs = max(1, -(-pages // pages_per_doc))
    n_pdf = round(n_docs * pdf_share)
    pdf_docs = set(rng.sample(range(n_docs), n_pdf)) if n_pdf else set()
    info = CorpusInfo(str(dest), 0, 0, 0, 0, 0, 0, seed)
    left = pages
    for d in range(n_docs):
        count = min(pages_per_doc, left)
        left -= count
        folder = FOLDERS[d % len(FOLDERS)]
        title = f"Samling {d + 1}: {rng.choice(headings)}"
        doc_pages: list[tuple[str, list[str]]] = []
        for _ in range(count):
            paras, words = _page(rng, paragraphs)
            doc_pages.append((rng.choice(headings), paras))
            info.words += words
        (dest / folder).mkdir(exist_ok=True)
        if d in pdf_docs:
            _write_pdf(dest / folder / f"generert-{d + 1:04d}.pdf", title, doc_pages)
            info.pdf_files += 1
            info.pdf_pages += count
        else:
            lines = ["---", f'title: "{title}"', f"tags: [generert, side-{d % 7}]", "---", f"# {title}", ""]
            for p, (heading, paras) in enumerate(doc_pages, start=1):
                lines += [f"## {p}. {heading}", ""]
                for para in paras:
                    lines += [para, ""]
            (dest / folder / f"generert-{d + 1:04d}.md").write_text("\n".join(lines), encoding="utf-8")
            info.markdown_files += 1
        info.files += 1
        info.pages += count
    return info


def corpus_words(corpus_dir: Path) -> int:
    """Words of text in a corpus folder as ingest sees it (Markdown/text bodies and PDF pages)."""
    from assistant.core.settings import Settings
    from ingest.loaders import discover, load

    settings = Settings(_env_file=None)
    found, _, _ = discover(corpus_dir)
    total = 0
    for item in found:
        try:
            _, sections, _ = load(item, item.path.read_bytes(), settings)
        except Exception:  # noqa: BLE001 - a broken file counts nothing
            continue
        total += sum(len(s.text.split()) for s in sections)
    return total
