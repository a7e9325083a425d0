"""Build the corpus slide decks from their Markdown sources.

Each `corpus/_pptx_src/<name>.md` becomes `corpus/<folder of its kind>/<name>.pptx`,
so the PowerPoint path (one section per slide, cited as "lysbilde N") is exercised
on real content. The source format:

    ---                          front matter: title, kind, tags, summary
    # Deck title                 slide 1 (title slide); its first paragraph is the subtitle
    ## Slide title               one slide per `##`
    - bullet / "  - " nested     body text, one paragraph per bullet
    | a | b |                    table rows (a `|---|` line is ignored; the first row is the header)
    Notater: ...                 speaker notes for the slide

Output is byte-for-byte reproducible: core properties are fixed and the zip is
rewritten with a fixed timestamp, so re-running it does not make ingest see a
changed file.

    python scripts/build_corpus_pptx.py            # rebuild all
    python scripts/build_corpus_pptx.py --check    # exit 1 if a deck is stale
"""

from __future__ import annotations

import datetime as dt
import io
import re
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pptx import Presentation
from pptx.util import Inches, Pt

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a file, or loaded by the tests
from corpus_build import ROOT, build_main, output_path  # noqa: E402

SRC = ROOT / "corpus" / "_pptx_src"
FIXED_DATE = dt.datetime(2025, 6, 4, 9, 0, 0)
NOTES = "Notater:"


@dataclass
class Slide:
    title: str
    bullets: list[tuple[int, str]] = field(default_factory=list)
    table: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    subtitle: str = ""


def parse(md: str) -> tuple[dict, list[Slide]]:
    match = re.match(r"\A---\n(.*?)\n---\n", md, re.S)
    front = yaml.safe_load(match.group(1)) if match else {}
    body = md[match.end():] if match else md
    slides: list[Slide] = []
    for line in body.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if line.startswith("# "):
            slides.append(Slide(title=line[2:].strip()))
        elif line.startswith("## "):
            slides.append(Slide(title=line[3:].strip()))
        elif not slides:
            raise ValueError(f"text before the first heading: {line!r}")
        elif stripped.startswith(NOTES):
            slides[-1].notes.append(stripped[len(NOTES):].strip())
        elif stripped.startswith("|"):
            if not re.fullmatch(r"\|[\s:|-]+\|?", stripped):
                slides[-1].table.append([c.strip() for c in stripped.strip("|").split("|")])
        elif stripped.startswith("- "):
            level = (len(line) - len(line.lstrip(" "))) // 2
            slides[-1].bullets.append((level, stripped[2:].strip()))
        elif len(slides) == 1 and not slides[0].subtitle:
            slides[0].subtitle = stripped
        else:
            raise ValueError(f"unexpected line on slide {slides[-1].title!r}: {line!r}")
    return front, slides


def render(src: Path) -> tuple[Path, bytes]:
    front, slides = parse(src.read_text(encoding="utf-8"))
    prs = Presentation()
    prs.slide_width, prs.slide_height = Inches(13.333), Inches(7.5)
    core = prs.core_properties
    core.title = front.get("title", src.stem)
    core.subject = front.get("summary", "")
    core.keywords = ", ".join(front.get("tags", []))
    core.language = "nb-NO" if front.get("language", "nb") == "nb" else str(front["language"])
    core.author = core.last_modified_by = "Korpus for Bærekraftig strategisk byledelse"
    core.comments = f"Bygget fra corpus/_pptx_src/{src.name} med scripts/build_corpus_pptx.py"
    core.created = core.modified = FIXED_DATE
    core.revision = 1

    for number, spec in enumerate(slides):
        if number == 0:
            slide = prs.slides.add_slide(prs.slide_layouts[0])  # title slide
            slide.shapes.title.text = spec.title
            slide.placeholders[1].text = spec.subtitle
        elif spec.table:
            slide = prs.slides.add_slide(prs.slide_layouts[5])  # title only
            slide.shapes.title.text = spec.title
            rows, cols = len(spec.table), max(len(r) for r in spec.table)
            shape = slide.shapes.add_table(rows, cols, Inches(0.6), Inches(1.7), Inches(12.1), Inches(0.5) * rows)
            for r, row in enumerate(spec.table):
                for c in range(cols):
                    cell = shape.table.cell(r, c)
                    cell.text = row[c] if c < len(row) else ""
                    for para in cell.text_frame.paragraphs:
                        for run in para.runs:
                            run.font.size = Pt(16)
        else:
            slide = prs.slides.add_slide(prs.slide_layouts[1])  # title and content
            slide.shapes.title.text = spec.title
            frame = slide.placeholders[1].text_frame
            for i, (level, text) in enumerate(spec.bullets):
                para = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
                para.text = text
                para.level = level
        if spec.notes:
            slide.notes_slide.notes_text_frame.text = "\n".join(spec.notes)

    raw = io.BytesIO()
    prs.save(raw)
    return output_path(front, src.stem, ".pptx"), _fixed_zip(raw.getvalue())


def _fixed_zip(data: bytes) -> bytes:
    """The same archive with every member stamped FIXED_DATE (python-pptx stamps the current time)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_DATE.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info), compresslevel=9)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    return build_main(argv, src=SRC, render=render, what="slide decks", script="build_corpus_pptx.py")


if __name__ == "__main__":
    sys.exit(main())
