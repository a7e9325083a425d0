"""Find and read corpus files into (DocumentMeta, sections).

Markdown (with YAML front matter), plain text, PDF (one section per page,
so citations carry page numbers), PowerPoint (one section per slide, cited as
"lysbilde N") and Word (one section per heading). Each problem raises
`LoadError` whose text is a one-line reason a person can act on.

Every section carries its provenance (assistant/core/provenance.py). A Markdown document declares
it in front matter (`provenance: programme|literature|assistant`), and a section that differs says
so on its own line right under its heading (`<!-- provenance: assistant -->`, removed from the
text; it holds for the subsections too, until one says otherwise). Other files cannot say it
themselves: they are `programme`, unless a sidecar file `<name>.provenance` beside them holds
another value (a facilitator's upload keeps its choice that way, so a re-ingest keeps it too).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from assistant.core.errors import InputError
from assistant.core.provenance import DEFAULT_PROVENANCE, PROVENANCES, fallback_provenance, is_provenance
from assistant.core.records import REFLECTION_STAGES, DocumentMeta, Section
from assistant.core.settings import Settings
from assistant.core.text import guess_language
from ingest.office import OfficeError, extract_office
from ingest.pdf import PdfError, extract_pdf

MARKDOWN_SUFFIXES = {".md", ".markdown"}
TEXT_SUFFIXES = {".txt"}
PDF_SUFFIXES = {".pdf"}
OFFICE_SUFFIXES = {".pptx": "pptx", ".docx": "docx"}
SUPPORTED_SUFFIXES = MARKDOWN_SUFFIXES | TEXT_SUFFIXES | PDF_SUFFIXES | set(OFFICE_SUFFIXES)

# Facilitators' uploads are indexed under this prefix, beside the bundled corpus.
UPLOAD_PREFIX = "opplastet/"

FOLDER_KINDS = {"programme": "programme", "leadership": "leadership", "questions": "question", "question": "question"}

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.S)
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^(```|~~~)")
# A provenance marker, well formed or not: a line that is one HTML comment naming provenance.
_MARKER = re.compile(r"^\s*<!--\s*provenance\b\s*:?\s*(.*?)\s*-->\s*$", re.I)
# Beside a file that cannot declare its own provenance (PDF, Office, text, an upload): `<name>.provenance`.
SIDECAR_SUFFIX = ".provenance"


class LoadError(InputError, ValueError):
    """The file cannot be indexed; str() is the reason."""


@dataclass(frozen=True)
class FoundFile:
    path: Path
    source: str  # relative to the corpus folder, forward slashes
    provenance: str | None = None  # what its sidecar file says, when it has one (checked by `load`)


def sidecar_path(path: Path) -> Path:
    """Where a file's provenance is kept when the file cannot say it itself."""
    return path.with_name(path.name + SIDECAR_SUFFIX)


def write_sidecar(path: Path, provenance: str) -> Path:
    """Keep `provenance` with the file at `path` (a facilitator's upload), for this and every later ingest."""
    if not is_provenance(provenance):
        raise LoadError(_invalid(provenance, "valget"))
    side = sidecar_path(path)
    side.write_text(provenance + "\n", encoding="utf-8")
    return side


def _invalid(value: object, where: str) -> str:
    return f"ugyldig provenance «{value}» i {where}; gyldige verdier er {', '.join(PROVENANCES)}"


@dataclass(frozen=True)
class Skipped:
    source: str
    reason: str


def discover(corpus_dir: Path) -> tuple[list[FoundFile], list[Skipped], list[Skipped]]:
    """Walk the corpus. Returns (files to read, problems, ignored).

    Hidden entries and names starting with "_" are ignored (sources for
    generated files live in `_pdf_src/`), as is the corpus's own README.md.
    Links that lead outside the corpus are refused.
    """
    root = corpus_dir.resolve()
    found: list[FoundFile] = []
    problems: list[Skipped] = []
    ignored: list[Skipped] = []
    if not root.is_dir():
        raise LoadError(f"fant ikke korpusmappen {corpus_dir}")
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        kept_dirs = []
        for d in sorted(dirnames):
            if d.startswith((".", "_")):
                continue
            full = here / d
            if full.is_symlink():
                rel = full.relative_to(root).as_posix()
                if not _inside(full.resolve(), root):
                    problems.append(Skipped(rel, "lenke som peker ut av korpusmappen; hoppet over"))
                    continue
                ignored.append(Skipped(rel, "mappelenke; følges ikke"))
                continue
            kept_dirs.append(d)
        dirnames[:] = kept_dirs
        for name in sorted(filenames):
            if name.startswith((".", "_")):
                continue
            full = here / name
            rel = full.relative_to(root).as_posix()
            if rel.lower() == "readme.md":
                continue
            if name.endswith(SIDECAR_SUFFIX):
                if not (here / name[: -len(SIDECAR_SUFFIX)]).is_file():
                    ignored.append(Skipped(rel, "provenance-fil uten dokumentet den hører til"))
                continue
            if full.is_symlink() and not _inside(full.resolve(), root):
                problems.append(Skipped(rel, "lenke som peker ut av korpusmappen; hoppet over"))
                continue
            if full.suffix.lower() not in SUPPORTED_SUFFIXES:
                ignored.append(Skipped(rel, f"filtypen {full.suffix or '(ingen)'} støttes ikke (bruk .md, .txt, .pdf, .docx eller .pptx)"))
                continue
            side = sidecar_path(full)
            declared = side.read_text(encoding="utf-8", errors="replace").strip() if side.is_file() else None
            found.append(FoundFile(full, rel, declared))
    return found, problems, ignored


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def check_size(path: Path, settings: Settings) -> int:
    size = path.stat().st_size
    if size == 0:
        raise LoadError("tom fil (0 byte)")
    limit = settings.max_file_mb * 1024 * 1024
    if size > limit:
        raise LoadError(f"filen er {size / 1024 / 1024:.1f} MB, over grensen på {settings.max_file_mb:g} MB")
    return size


def load(found: FoundFile, data: bytes, settings: Settings) -> tuple[DocumentMeta, list[Section], list[str]]:
    """Parse one file's bytes. Returns meta, sections (each with its provenance) and warnings."""
    suffix = found.path.suffix.lower()
    warnings: list[str] = []
    if found.provenance is not None and not is_provenance(found.provenance):
        raise LoadError(_invalid(found.provenance, sidecar_path(found.path).name))
    if suffix in PDF_SUFFIXES:
        if not data.startswith(b"%PDF"):
            raise LoadError("ikke en PDF (mangler %PDF-signatur)")
        try:
            pdf = extract_pdf(found.path, settings.pdf_timeout_s)
        except PdfError as exc:
            raise LoadError(str(exc)) from exc
        provenance = found.provenance or DEFAULT_PROVENANCE
        sections = [Section(text=_clean(t), page=i, provenance=provenance) for i, t in enumerate(pdf.pages, start=1) if _clean(t)]
        if not sections:
            raise LoadError("PDF-en har ingen uttrekkbar tekst (skannet bilde?)")
        meta = _meta({}, found, default_title=pdf.title or _title_from_name(found.path))
        return meta, sections, warnings
    if suffix in OFFICE_SUFFIXES:
        meta, sections = _load_office(found, data, OFFICE_SUFFIXES[suffix])
        return meta, sections, warnings

    text = _decode(data, warnings)
    if suffix in MARKDOWN_SUFFIXES:
        front, body, body_line = _split_front_matter(text)
        title = front.get("title") or _first_h1(body) or _title_from_name(found.path)
        meta = _meta(front, found, default_title=str(title))
        sections = markdown_sections(body, provenance=_document_provenance(front, found, meta.kind), first_line=body_line)
        # The document title heading is not part of section paths.
        sections = [
            s.model_copy(update={"heading_path": s.heading_path[1:]}) if s.heading_path[:1] == (meta.title,) else s
            for s in sections
        ]
    else:
        sections = [Section(text=p, provenance=found.provenance or DEFAULT_PROVENANCE) for p in [_clean(text)] if p]
        meta = _meta({}, found, default_title=_title_from_name(found.path))
    if not any(s.text.strip() for s in sections):
        raise LoadError("filen har ingen tekst å indeksere")
    return meta, sections, warnings


def _document_provenance(front: dict, found: FoundFile, kind: str) -> str:
    """A Markdown document's own provenance: its front matter's, else its sidecar's (an upload),
    else its kind's (as for an index built before provenance: `fallback_provenance`)."""
    if "provenance" in front:
        value = front["provenance"]
        if not is_provenance(value):
            raise LoadError(_invalid(value, "front matter"))
        return str(value)
    return found.provenance or fallback_provenance(kind)


def _load_office(found: FoundFile, data: bytes, kind: str) -> tuple[DocumentMeta, list[Section]]:
    """PowerPoint: a section per slide, the slide title as its path. Word: a section per heading."""
    try:
        office = extract_office(data, kind)
    except OfficeError as exc:
        raise LoadError(str(exc)) from exc
    provenance = found.provenance or DEFAULT_PROVENANCE
    sections = [
        Section(text=_clean(s.text), heading_path=s.heading_path, slide=s.slide, provenance=provenance)
        for s in office.sections
        if _clean(s.text)
    ]
    if not sections:
        raise LoadError("presentasjonen har ingen tekst å indeksere" if kind == "pptx" else "dokumentet har ingen tekst å indeksere")
    sample = "\n".join(s.text for s in sections)[:20000]
    front = {
        "title": office.title or office.first_heading or _title_from_name(found.path),
        "language": _office_language(office.language) or guess_language(sample),
        "tags": list(office.keywords),
        "summary": office.subject,
    }
    meta = _meta(front, found, default_title=front["title"])
    if kind == "docx":
        # As in Markdown: the document title (Title style or first H1) is not part of section paths.
        sections = [
            s.model_copy(update={"heading_path": s.heading_path[1:]}) if s.heading_path[:1] == (meta.title,) else s
            for s in sections
        ]
    return meta, sections


def _office_language(tag: str) -> str:
    """Core-properties language ("nb-NO", "en-US", ...) to "nb"/"en"; "" when unknown."""
    tag = tag.strip().lower()
    if tag.startswith(("nb", "no", "nn")):
        return "nb"
    if tag.startswith("en"):
        return "en"
    return ""


def _decode(data: bytes, warnings: list[str]) -> str:
    head = data[:8192]
    if b"\x00" in head:
        raise LoadError("binærfil (inneholder NUL-byte), ikke tekst")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
        warnings.append("ikke UTF-8; lest som Windows-1252 (lagre filen som UTF-8 for sikkerhets skyld)")
    controls = sum(1 for ch in text[:8192] if ord(ch) < 32 and ch not in "\n\r\t\f")
    if controls > max(8, len(text[:8192]) // 100):
        raise LoadError("binærfil (mange kontrolltegn), ikke tekst")
    return text


def _split_front_matter(text: str) -> tuple[dict, str, int]:
    """(front matter, body, the body's first line number in the file)."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text, 1
    try:
        front = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" (linje {line + 2})" if line is not None else ""
        raise LoadError(f"ugyldig YAML i front matter{where}") from exc
    if not isinstance(front, dict):
        raise LoadError("front matter må være en YAML-ordbok (nøkkel: verdi)")
    return front, text[match.end() :], text[: match.end()].count("\n") + 1


def markdown_sections(body: str, *, provenance: str = DEFAULT_PROVENANCE, first_line: int = 1) -> list[Section]:
    """Split Markdown at headings; each section keeps its heading path and its provenance.

    `provenance` is the document's. A line `<!-- provenance: VALUE -->` right under a heading (blank
    lines between are fine) sets that heading's section and its subsections, until a subsection
    says otherwise or a heading of the same or a higher level ends it. The marker is not part of
    the text. A marker anywhere else, or with a value that is not a provenance, is a LoadError with
    its line number (`first_line`: the body's first line in the file), so that a misplaced marker
    never silently leaves a section with the wrong provenance."""
    sections: list[Section] = []
    path: list[tuple[int, str, str]] = []  # (level, heading, provenance) of the open headings
    buf: list[str] = []
    in_fence = False
    may_mark = False  # right under a heading: only blank lines since

    def current() -> str:
        return path[-1][2] if path else provenance

    def flush() -> None:
        text = _clean("\n".join(buf))
        if text:
            sections.append(Section(text=text, heading_path=tuple(h for _, h, _ in path), provenance=current()))
        buf.clear()

    for number, line in enumerate(body.splitlines(), start=first_line):
        if _FENCE.match(line.strip()):
            in_fence = not in_fence
        marker = None if in_fence else _MARKER.match(line)
        if marker:
            value = marker.group(1)
            if not is_provenance(value):
                raise LoadError(_invalid(value, f"markøren på linje {number}"))
            if not may_mark:
                raise LoadError(
                    f"provenance-markøren på linje {number} står ikke rett under en overskrift; "
                    "flytt den dit, eller sett dokumentets provenance i front matter"
                )
            level, heading, _ = path[-1]
            path[-1] = (level, heading, value)
            may_mark = False
            continue
        match = None if in_fence else _HEADING.match(line)
        if match:
            flush()
            level = len(match.group(1))
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, _strip_inline(match.group(2)), current()))
            may_mark = True
        else:
            buf.append(line)
            may_mark = may_mark and not line.strip()
    flush()
    return sections


def _meta(front: dict, found: FoundFile, default_title: str) -> DocumentMeta:
    rel = found.source.removeprefix(UPLOAD_PREFIX)
    folder = rel.split("/", 1)[0] if "/" in rel else ""
    kind = str(front.get("kind") or FOLDER_KINDS.get(folder, folder or "other")).strip().lower()
    language = str(front.get("language") or "nb").strip().lower()
    if language in ("no", "nob", "norsk", "bokmål", "bokmal"):
        language = "nb"
    stages = tuple(str(s) for s in _as_list(front.get("stage")) if str(s) in REFLECTION_STAGES)
    gathering: list[int] = []
    for g in _as_list(front.get("gathering")):
        try:
            gathering.append(int(g))
        except (TypeError, ValueError):
            continue
    return DocumentMeta(
        source=found.source,
        title=str(front.get("title") or default_title).strip(),
        kind=kind,
        language=language,
        tags=tuple(str(t).strip().lower() for t in _as_list(front.get("tags")) if str(t).strip()),
        gathering=tuple(gathering),
        stage=stages,
        summary=str(front.get("summary") or "").strip(),
        searchable=_yes(front.get("searchable", True)),
    )


def _yes(value: object) -> bool:
    """A front-matter flag: YAML's false/no parse to False; a quoted "false"/"no"/"0" counts too."""
    if isinstance(value, str):
        return value.strip().lower() not in ("false", "no", "nei", "0", "off")
    return bool(value)


def _as_list(value: object) -> list:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [value]


def _first_h1(body: str) -> str | None:
    for line in body.splitlines():
        match = _HEADING.match(line)
        if match and len(match.group(1)) == 1:
            return _strip_inline(match.group(2))
    return None


def _title_from_name(path: Path) -> str:
    return path.stem.replace("-", " ").replace("_", " ").strip().capitalize()


def _strip_inline(text: str) -> str:
    return re.sub(r"[*_`]", "", text).strip()


def _clean(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(ch for ch in text if ch in "\n\t" or ord(ch) >= 32)
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()
