"""PowerPoint (.pptx) and Word (.docx) text extraction.

Office files are zip archives of XML, parsed in-process with python-pptx and
python-docx. Before either library sees the bytes they are checked here:

- an OLE/CFB container (magic D0 CF 11 E0 A1 B1 1A E1) is a password-protected
  Office file (it holds an `EncryptedPackage` stream) or an old binary .doc/.ppt
  with the wrong extension: refused with the reason;
- anything that is not a readable zip is refused as corrupt;
- the members' declared uncompressed sizes are added up and compared with
  MAX_UNCOMPRESSED_BYTES (a zip bomb is refused before anything is inflated;
  Python's zipfile never inflates a member past its declared size).

Both libraries parse XML with entity resolution off. Every error becomes an
`OfficeError` whose text is a one-line reason in bokmål.

PowerPoint: one `OfficeSection` per slide (title, text, tables as rows
"a | b | c.", speaker notes as "Notater: ..."). Word: one per heading, with the
heading path; paragraphs, list items ("- ...") and tables in document order.
Bullets, list items and table rows get a full stop when they end without
punctuation: the answer engine quotes only units that end like sentences.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field

from assistant.core.errors import InputError

CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024
MAX_MEMBERS = 10_000
NOTES_LABEL = "Notater:"

_KIND_NAMES = {"pptx": "PowerPoint-fil", "docx": "Word-fil"}
_MAIN_PART = {"pptx": "ppt/presentation.xml", "docx": "word/document.xml"}
_HEADING_STYLE = re.compile(r"^(?:heading|overskrift)\s*(\d)$", re.I)
_TITLE_STYLES = {"title", "tittel"}
# Placeholder titles that tools write into core properties; not a real document title.
_GENERIC_TITLES = {"powerpoint presentation", "powerpoint-presentasjon", "presentation", "presentasjon", "document", "dokument"}


class OfficeError(InputError, ValueError):
    """The Office file cannot be read; str() is a one-line reason in bokmål."""


@dataclass(frozen=True)
class OfficeSection:
    text: str
    heading_path: tuple[str, ...] = ()
    slide: int | None = None


@dataclass(frozen=True)
class OfficeText:
    title: str = ""  # from the core properties; empty when unset
    subject: str = ""
    keywords: tuple[str, ...] = ()
    language: str = ""
    first_heading: str = ""  # first slide title, or Word's Title / first heading
    sections: list[OfficeSection] = field(default_factory=list)


def check_container(data: bytes, kind: str) -> None:
    """Refuse encrypted, legacy, non-zip, truncated and oversized archives."""
    name = _KIND_NAMES[kind]
    if data.startswith(CFB_MAGIC):
        if "EncryptedPackage".encode("utf-16-le") in data or "EncryptionInfo".encode("utf-16-le") in data:
            raise OfficeError(f"passordbeskyttet (kryptert) {name}; lagre en kopi uten passord og prøv igjen")
        raise OfficeError(f"gammelt binært Office-format (.doc/.ppt) eller kryptert fil, ikke en {name}; lagre som .{kind}")
    if not data.startswith(b"PK"):
        raise OfficeError(f"ikke en {name} (mangler ZIP-signatur)")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_MEMBERS:
                raise OfficeError(f"{name} med {len(infos)} deler i arkivet er over grensen på {MAX_MEMBERS}")
            total = sum(i.file_size for i in infos)
            if total > MAX_UNCOMPRESSED_BYTES:
                raise OfficeError(
                    f"{name} pakker ut til {total / 1024 / 1024:.0f} MB, over grensen på "
                    f"{MAX_UNCOMPRESSED_BYTES // 1024 // 1024} MB (mulig komprimeringsbombe)"
                )
            names = {i.filename for i in infos}
    except OfficeError:
        raise
    except Exception as exc:  # noqa: BLE001 - zipfile raises BadZipFile, NotImplementedError, OSError, struct.error...
        raise OfficeError(f"skadet {name} (ødelagt eller avkortet ZIP-arkiv: {_one_line(str(exc))[:120]})") from exc
    if "[Content_Types].xml" not in names or _MAIN_PART[kind] not in names:
        raise OfficeError(f"ikke en {name} (arkivet mangler {_MAIN_PART[kind]})")


def extract_office(data: bytes, kind: str) -> OfficeText:
    """Text of a .pptx (kind "pptx") or .docx (kind "docx"), or OfficeError."""
    check_container(data, kind)
    try:
        return _pptx(data) if kind == "pptx" else _docx(data)
    except OfficeError:
        raise
    except ImportError as exc:  # a broken install, not a broken file
        raise OfficeError(f"kan ikke lese {_KIND_NAMES[kind]}: {exc} (installer prosjektet på nytt)") from exc
    except MemoryError as exc:
        raise OfficeError(f"{_KIND_NAMES[kind]} krever for mye minne å lese") from exc
    except Exception as exc:  # noqa: BLE001 - hostile input: every parser failure is a refusal
        raise OfficeError(f"skadet {_KIND_NAMES[kind]} ({type(exc).__name__}: {_one_line(str(exc))[:160]})") from exc


# -- helpers -------------------------------------------------------------------
def _one_line(text: str) -> str:
    return " ".join(text.split())


def _core(props) -> dict:
    def get(name: str) -> str:
        try:
            return _one_line(str(getattr(props, name) or ""))
        except Exception:  # noqa: BLE001 - malformed core.xml values are common
            return ""

    keywords = tuple(k.strip() for k in re.split(r"[,;]", get("keywords")) if k.strip())
    title = get("title")
    if title.lower() in _GENERIC_TITLES:
        title = ""
    return {"title": title, "subject": get("subject"), "keywords": keywords, "language": get("language")}


_ENDS_UNIT = (".", "!", "?", ":", ";", "…", ")", "»", '"', "”")


def _unit(line: str) -> str:
    """A bullet or table row ends like a sentence, so it splits and can be quoted as one unit."""
    return line if line.endswith(_ENDS_UNIT) else line + "."


def _table_rows(rows: list[list[str]]) -> str:
    """Rows as "a | b | c." (callers leave out the covered parts of merged cells); empty rows dropped."""
    lines = []
    for cells in rows:
        kept = [_one_line(c) for c in cells]
        if any(kept):
            lines.append(_unit(" | ".join(kept)))
    return "\n".join(lines)


# -- PowerPoint ----------------------------------------------------------------
def _pptx(data: bytes) -> OfficeText:
    from pptx import Presentation
    from pptx.enum.shapes import MSO_SHAPE_TYPE, PP_PLACEHOLDER

    prs = Presentation(io.BytesIO(data))
    title_types = {PP_PLACEHOLDER.TITLE, PP_PLACEHOLDER.CENTER_TITLE, PP_PLACEHOLDER.VERTICAL_TITLE}
    bullet_types = {PP_PLACEHOLDER.BODY, PP_PLACEHOLDER.OBJECT, PP_PLACEHOLDER.VERTICAL_BODY, PP_PLACEHOLDER.VERTICAL_OBJECT}
    skip_types = {PP_PLACEHOLDER.DATE, PP_PLACEHOLDER.FOOTER, PP_PLACEHOLDER.SLIDE_NUMBER, PP_PLACEHOLDER.HEADER}

    def placeholder_type(shape):
        if not shape.is_placeholder:
            return None
        try:
            return shape.placeholder_format.type
        except Exception:  # noqa: BLE001
            return None

    def shape_blocks(shapes, depth: int = 0) -> list[str]:
        blocks: list[str] = []
        for shape in shapes:
            ph = placeholder_type(shape)
            if ph in title_types or ph in skip_types:
                continue
            if shape.shape_type == MSO_SHAPE_TYPE.GROUP and depth < 20:
                blocks.extend(shape_blocks(shape.shapes, depth + 1))
                continue
            if getattr(shape, "has_table", False) and shape.has_table:
                rows = [[cell.text for cell in row.cells if not cell.is_spanned] for row in shape.table.rows]
                text = _table_rows(rows)
                if text:
                    blocks.append(text)
                continue
            if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
                lines = []
                for para in shape.text_frame.paragraphs:
                    line = _one_line(para.text)
                    if not line:
                        continue
                    if ph in bullet_types:
                        line = "  " * min(para.level, 8) + "- " + line
                    lines.append(_unit(line))
                if lines:
                    blocks.append("\n".join(lines))
        return blocks

    sections: list[OfficeSection] = []
    first_title = ""
    for number, slide in enumerate(prs.slides, start=1):
        title = ""
        for shape in slide.shapes:
            if placeholder_type(shape) in title_types and shape.has_text_frame:
                title = _one_line(shape.text_frame.text)
                break
        blocks = ([title] if title else []) + shape_blocks(slide.shapes)
        if slide.has_notes_slide:
            frame = slide.notes_slide.notes_text_frame
            notes = _one_line(frame.text) if frame is not None else ""
            if notes:
                blocks.append(f"{NOTES_LABEL} {notes}")
        text = "\n\n".join(blocks).strip()
        if title and not first_title:
            first_title = title
        if text:
            sections.append(OfficeSection(text=text, heading_path=(title,) if title else (), slide=number))
    return OfficeText(first_heading=first_title, sections=sections, **_core(prs.core_properties))


# -- Word ----------------------------------------------------------------------
def _docx(data: bytes) -> OfficeText:
    import docx
    from docx.oxml.ns import qn
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    document = docx.Document(io.BytesIO(data))

    def heading_level(para: Paragraph) -> int | None:
        """0 for Title, n for Heading n (style name or outline level), None for body text."""
        style = para.style
        for _ in range(10):  # follow based-on a few steps: custom heading styles inherit
            if style is None:
                break
            name = (style.name or "").strip()
            if name.lower() in _TITLE_STYLES:
                return 0
            match = _HEADING_STYLE.match(name)
            if match:
                return max(1, int(match.group(1)))
            style = style.base_style
        ppr = para._p.pPr
        if ppr is not None:
            lvl = ppr.find(qn("w:outlineLvl"))
            if lvl is not None and (lvl.get(qn("w:val")) or "").isdigit() and int(lvl.get(qn("w:val"))) < 9:
                return int(lvl.get(qn("w:val"))) + 1
        return None

    def list_level(para: Paragraph) -> int | None:
        """Nesting level (0 = top) of a list item, None for ordinary paragraphs."""
        ppr = para._p.pPr
        num = ppr.find(qn("w:numPr")) if ppr is not None else None
        if num is not None:
            ilvl = num.find(qn("w:ilvl"))
            val = ilvl.get(qn("w:val")) if ilvl is not None else "0"
            return min(int(val), 8) if (val or "").isdigit() else 0
        name = ((para.style.name if para.style is not None else "") or "").lower()
        if name.startswith(("list bullet", "list number", "punktliste", "nummerert liste")):
            match = re.search(r"(\d)$", name)
            return int(match.group(1)) - 1 if match else 0
        return None

    def table_text(table: Table) -> str:
        rows = []
        for row in table.rows:
            cells, seen = [], set()
            for cell in row.cells:  # a cell spanning several grid columns is listed once per column
                if id(cell._tc) not in seen:
                    seen.add(id(cell._tc))
                    cells.append(cell.text)
            rows.append(cells)
        return _table_rows(rows)

    sections: list[OfficeSection] = []
    path: list[tuple[int, str]] = []
    buf: list[str] = []
    first_heading = ""
    title_para = ""
    in_list = False

    def flush() -> None:
        text = "\n\n".join(buf).strip()
        if text:
            sections.append(OfficeSection(text=text, heading_path=tuple(h for _, h in path)))
        buf.clear()

    for block in document.iter_inner_content():
        if isinstance(block, Table):
            text = table_text(block)
            if text:
                buf.append(text)
            in_list = False
            continue
        text = _one_line(block.text)
        if not text:
            continue
        level = heading_level(block)
        if level is not None:
            flush()
            in_list = False
            if level == 0 and not title_para:
                title_para = text
            if not first_heading:
                first_heading = text
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, text))
            continue
        indent = list_level(block)
        if indent is None:
            buf.append(text)
            in_list = False
            continue
        # Consecutive list items form one block, so the chunker keeps the list together.
        item = "  " * indent + "- " + _unit(text)
        if in_list and buf:
            buf[-1] += "\n" + item
        else:
            buf.append(item)
        in_list = True
    flush()
    return OfficeText(first_heading=title_para or first_heading, sections=sections, **_core(document.core_properties))
