"""Build the corpus PDFs from their Markdown sources.

Each `corpus/_pdf_src/<name>.md` becomes `corpus/<folder of its kind>/<name>.pdf`:
the title and introduction on page 1, then one page per `##` section, so the
PDF path with page numbers is exercised on real content. Output is
byte-for-byte reproducible (fixed creation date), so re-running it does not
make ingest see a changed file.

    python scripts/build_corpus_pdf.py            # rebuild all
    python scripts/build_corpus_pdf.py --check    # exit 1 if a PDF is stale
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from pathlib import Path

import yaml
from fpdf import FPDF

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a file, or loaded by the tests
from corpus_build import ROOT, build_main, output_path  # noqa: E402

SRC = ROOT / "corpus" / "_pdf_src"
FIXED_DATE = dt.datetime(2025, 6, 4, tzinfo=dt.timezone.utc)
# The PDF core fonts cover Latin-1 (æ, ø, å, «, » included); map the rest.
REPLACEMENTS = {"–": "-", "—": "-", "’": "'", "‘": "'", "“": '"', "”": '"', "…": "...", "\u00a0": " ", "≈": "~"}


def latin1(text: str) -> str:
    for a, b in REPLACEMENTS.items():
        text = text.replace(a, b)
    return text.encode("latin-1", "replace").decode("latin-1")


def plain(text: str) -> str:
    """Markdown emphasis and links to plain text."""
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)
    return re.sub(r"(\*\*|__|\*|_|`)", "", text)


def split(md: str) -> tuple[dict, str, list[tuple[str, str]]]:
    match = re.match(r"\A---\n(.*?)\n---\n", md, re.S)
    front = yaml.safe_load(match.group(1)) if match else {}
    body = md[match.end():] if match else md
    parts = re.split(r"^## +(.+)$", body, flags=re.M)
    intro = re.sub(r"^# .+$", "", parts[0], flags=re.M).strip()
    sections = [(parts[i].strip(), parts[i + 1].strip()) for i in range(1, len(parts), 2)]
    return front, intro, sections


def render(src: Path) -> tuple[Path, bytes]:
    front, intro, sections = split(src.read_text(encoding="utf-8"))
    title = front.get("title", src.stem)
    pdf = FPDF(format="A4")
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_title(latin1(title))
    pdf.set_subject(latin1(front.get("summary", "")))
    pdf.set_keywords(latin1(", ".join(front.get("tags", []))))
    pdf.set_author("Korpus for Bærekraftig strategisk byledelse")
    pdf.set_margins(22, 22, 22)

    def paragraphs(text: str) -> None:
        pdf.set_font("Helvetica", size=11)
        for para in re.split(r"\n\s*\n", text):
            para = " ".join(para.split())
            if para:
                pdf.multi_cell(0, 6, latin1(plain(para)), new_x="LMARGIN", new_y="NEXT")
                pdf.ln(3)

    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=16)
    pdf.multi_cell(0, 8, latin1(title), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    paragraphs(intro)
    for heading, text in sections:
        pdf.add_page()
        pdf.set_font("Helvetica", style="B", size=13)
        pdf.multi_cell(0, 7, latin1(plain(heading)), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
        paragraphs(text)
    return output_path(front, src.stem, ".pdf"), bytes(pdf.output())


def main(argv: list[str] | None = None) -> int:
    return build_main(argv, src=SRC, render=render, what="PDFs", script="build_corpus_pdf.py")


if __name__ == "__main__":
    sys.exit(main())
