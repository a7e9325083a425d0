"""Provenance in the bundled corpus (issue #20): every Markdown document says where its content
comes from, mixed documents mark their parts, and the discussion documents hold the presentation's
own questions apart from those written for the assistant.

The format (agreed for #20, described in corpus/README.md): front matter `provenance:
programme|literature|assistant`; a part of a document that differs says so with
`<!-- provenance: X -->` on the line right below its heading, which covers that heading's section
and its subsections until one of them says otherwise or the next heading of the same or a higher
level. PDF and pptx files have no front matter and count as `programme`, so their Markdown sources
must be programme material throughout.

The parsing below follows that format on its own, so the corpus is checked without the loader;
`test_ingested_chunks_carry_the_provenance_of_their_section` checks that the loader agrees once it
carries provenance into chunks.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from assistant.core.settings import REPO_ROOT

CORPUS = REPO_ROOT / "corpus"
QUESTIONS_FILE = REPO_ROOT / "tests" / "data" / "presentation_questions.toml"
# The presentation the programme material rests on; outside the repository, so the checks that
# read it skip where it is absent. Looked for beside the checkout (the team's layout), then on this
# machine's shared folder (a clone elsewhere, as CI makes); ASSISTANT_TEST_PRESENTATION overrides both.
_PRESENTATION_PLACES = [
    Path(p) for p in (os.environ.get("ASSISTANT_TEST_PRESENTATION"),) if p
] + [REPO_ROOT.parent / "shared" / "seed" / "programme-presentation.txt",
     Path("/work/shared/seed/programme-presentation.txt")]
PRESENTATION = next((p for p in _PRESENTATION_PLACES if p.is_file()), _PRESENTATION_PLACES[0])

PROVENANCES = frozenset({"programme", "literature", "assistant"})
LEVELS = ("national", "regional", "ks")
DISCUSSION_DOCUMENTS = ("questions/drofting-nasjonalt-niva.md", "questions/drofting-regionalt-niva.md",
                        "questions/drofting-ks.md")
BUILD_SOURCES = ("_pdf_src", "_pptx_src")

_FRONT = re.compile(r"\A---\n(.*?)\n---\n", re.S)
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_MARKER = re.compile(r"^<!-- provenance: ([a-z]+) -->$")
_MARKER_LIKE = re.compile(r"<!--.*provenance", re.I)
_BULLET = re.compile(r"^\s*[-*+]\s+(.+?)\s*$")


@dataclass
class Part:
    """One heading's own text (up to the next heading of any level) and the provenance it has."""

    heading_path: tuple[str, ...]
    provenance: str
    bullets: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def front_matter(path: Path) -> dict:
    match = _FRONT.match(path.read_text(encoding="utf-8"))
    return (yaml.safe_load(match.group(1)) or {}) if match else {}


def parts(path: Path) -> list[Part]:
    """The document's parts with the provenance the agreed format gives each of them."""
    text = path.read_text(encoding="utf-8")
    match = _FRONT.match(text)
    body = text[match.end():] if match else text
    default = str(front_matter(path).get("provenance", "programme"))
    stack: list[tuple[int, str, str]] = []  # (level, heading, provenance) of the open headings
    out = [Part(heading_path=(), provenance=default)]
    lines = body.splitlines()
    for i, line in enumerate(lines):
        heading = _HEADING.match(line)
        if heading:
            level = len(heading.group(1))
            while stack and stack[-1][0] >= level:
                stack.pop()
            inherited = stack[-1][2] if stack else default
            marker = _MARKER.match(lines[i + 1].strip()) if i + 1 < len(lines) else None
            stack.append((level, heading.group(2), marker.group(1) if marker else inherited))
            out.append(Part(heading_path=tuple(h for _, h, _ in stack), provenance=stack[-1][2]))
            continue
        if _MARKER.match(line.strip()):
            continue  # read with its heading above; its place is checked on its own
        out[-1].lines.append(line)
        bullet = _BULLET.match(line)
        if bullet:
            out[-1].bullets.append(bullet.group(1))
    return out


def corpus_markdown() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*.md") if p.name != "README.md")


def rel(path: Path) -> str:
    return path.relative_to(CORPUS).as_posix()


def listed_questions() -> list[dict]:
    return tomllib.loads(QUESTIONS_FILE.read_text(encoding="utf-8"))["question"]


def normalised(text: str) -> str:
    return " ".join(re.sub(r"[^\wæøå]+", " ", text.lower().replace("**", "")).split())


# -- documents and markers ------------------------------------------------------------------

def test_the_corpus_has_markdown_documents_of_every_provenance():
    found = {front_matter(p).get("provenance") for p in corpus_markdown()}
    assert found == PROVENANCES, found


def test_every_corpus_markdown_document_declares_a_valid_provenance():
    missing = [rel(p) for p in corpus_markdown() if front_matter(p).get("provenance") not in PROVENANCES]
    assert not missing, f"no valid `provenance:` in the front matter of {missing}"


def test_the_valid_values_are_the_ones_the_code_knows():
    provenance = pytest.importorskip("assistant.core.provenance", reason="the code side of #20 is not in this branch")
    assert set(provenance.PROVENANCES) == PROVENANCES


def test_every_section_marker_is_valid_and_sits_directly_below_a_heading():
    bad = []
    for path in corpus_markdown():
        lines = path.read_text(encoding="utf-8").splitlines()
        for n, line in enumerate(lines):
            if not _MARKER_LIKE.search(line):
                continue
            marker = _MARKER.match(line.strip())
            if marker is None or marker.group(1) not in PROVENANCES:
                bad.append(f"{rel(path)}:{n + 1}: not `<!-- provenance: programme|literature|assistant -->`: {line!r}")
            elif n == 0 or not _HEADING.match(lines[n - 1]):
                bad.append(f"{rel(path)}:{n + 1}: a marker belongs on the line right below a heading")
    assert not bad, "\n".join(bad)


def test_build_sources_are_programme_material_without_markers():
    """The built PDF and slide deck carry no front matter and count as `programme`."""
    for folder in BUILD_SOURCES:
        sources = sorted((CORPUS / folder).glob("*.md"))
        assert sources, folder
        for path in sources:
            assert front_matter(path).get("provenance") == "programme", rel(path)
            assert {p.provenance for p in parts(path)} == {"programme"}, f"{rel(path)}: a build source cannot mix"


def test_assistant_parts_of_programme_documents_say_so_in_their_heading():
    """A reader of the document, not only the index, sees which part was written for the assistant."""
    unlabelled = []
    for path in corpus_markdown():
        if front_matter(path).get("provenance") == "assistant":
            continue
        for part in parts(path):
            if part.provenance == "assistant" and not re.search(r"assistent|forslag|assistant|suggest",
                                                                 part.heading_path[-1], re.I):
                unlabelled.append(f"{rel(path)}: {' > '.join(part.heading_path)}")
    assert not unlabelled, unlabelled


# -- the discussion questions ---------------------------------------------------------------

def test_the_list_of_presentation_questions_is_well_formed():
    questions = listed_questions()
    assert len({q["id"] for q in questions}) == len(questions)
    for q in questions:
        assert q["level"] in LEVELS, q["id"]
        assert q["document"] in DISCUSSION_DOCUMENTS, q["id"]
        assert q["bullets"] and all(b.endswith("?") for b in q["bullets"]), q["id"]
    assert {q["level"]: q["document"] for q in questions} == dict(zip(LEVELS, DISCUSSION_DOCUMENTS, strict=True))


@pytest.mark.parametrize("document", DISCUSSION_DOCUMENTS)
def test_every_discussion_bullet_is_a_presentation_question_or_marked(document):
    listed = {b for q in listed_questions() if q["document"] == document for b in q["bullets"]}
    doc_parts = parts(CORPUS / document)
    unmarked = [b for p in doc_parts if p.provenance != "assistant" for b in p.bullets if b not in listed]
    assert not unmarked, (f"{document}: bullets neither listed in {QUESTIONS_FILE.name} nor in a section "
                          f"marked `<!-- provenance: assistant -->`: {unmarked}")
    in_programme = [b for p in doc_parts if p.provenance == "programme" for b in p.bullets]
    for bullet in listed:
        assert in_programme.count(bullet) == 1, f"{document}: not once in a programme section: {bullet!r}"
    assert any(p.provenance == "assistant" and p.bullets for p in doc_parts), f"{document}: no marked follow-ups"


def test_no_programme_section_mixes_a_presentation_question_with_other_bullets():
    """One part, one provenance: a programme section of a discussion document holds only listed bullets,
    so no chunk cut from it carries an added question under the programme's name."""
    listed = {b for q in listed_questions() for b in q["bullets"]}
    for document in DISCUSSION_DOCUMENTS:
        for part in parts(CORPUS / document):
            if part.provenance == "programme" and part.bullets:
                assert set(part.bullets) <= listed, (document, part.heading_path)


presentation = pytest.mark.skipif(not PRESENTATION.exists(), reason=f"{PRESENTATION} is not here")


def _level_blocks() -> dict[str, str]:
    """The presentation's discussion part, cut at the three levels' own questions."""
    text = normalised(PRESENTATION.read_text(encoding="utf-8"))
    starts = [normalised(s) for s in ("Hvordan kan nasjonal innsats", "Hvilken rolle bør fylkeskommunene spille",
                                      "Hvilke spørsmål bør KS stille seg", "Les mer om prosjektet")]
    at = [text.index(s) for s in starts]
    assert at == sorted(at)
    return {level: text[at[i]:at[i + 1]] for i, level in enumerate(LEVELS)}


@presentation
def test_every_presentation_question_is_listed_once_at_its_level():
    blocks = _level_blocks()
    raw = PRESENTATION.read_text(encoding="utf-8")
    by_level = {level: [normalised(q["seed_phrase"]) for q in listed_questions() if q["level"] == level]
                for level in LEVELS}
    for level, block in blocks.items():
        for phrase in by_level[level]:
            assert block.count(phrase) >= 1, f"{phrase!r} is not among the presentation's {level} questions"
        questions = [normalised(line) for line in raw.splitlines() if "?" in line and normalised(line) in block]
        assert questions, level
        for question in questions:
            matched = [p for p in by_level[level] if p in question]
            assert len(matched) == 1, f"{level}: {question!r} is listed {len(matched)} times"


@presentation
def test_listed_renderings_are_in_our_own_words():
    """No rendering copies a run of eight words from the presentation."""
    seed = normalised(PRESENTATION.read_text(encoding="utf-8"))
    for q in listed_questions():
        for bullet in q["bullets"]:
            words = normalised(bullet).split()
            runs = [" ".join(words[i:i + 8]) for i in range(len(words) - 7)]
            copied = [r for r in runs if r in seed]
            assert not copied, f"{q['id']}: copied from the presentation: {copied[0]!r}"


# -- the claims issue #20 found ------------------------------------------------------------

# Wording the check against the presentation found stated as fact about the pilot without support.
# Each may stay only in a part marked as written for the assistant.
UNSUPPORTED = (
    "fikk selv utbytte",                        # participants benefited from the gatherings
    "kategorien mellomstore byer",              # all four towns mid-sized
    "ble samlingene også en arena",             # the gatherings became an arena for collaboration
    "ta erfaringene med tilbake",               # work in the municipality between gatherings
    "bevisst tverrfaglige",                     # slide 4's note
    "areal, transport, kultur, folkehelse og næring",  # themes the presentation does not name
    "for et nasjonalt program betyr",           # recommendations in the learning-points document
    "tidligere akershus",
    "arbeider i ks",
    "heller for mye mot tjenesteutvikling",     # the KS balance question made one-sided
    "kommuner og virksomheter",                 # 'i Norge' narrowed
)


def test_the_unsupported_claims_are_gone_or_marked():
    found = []
    for path in corpus_markdown():
        for part in parts(path):
            if part.provenance == "assistant":
                continue
            text = " ".join(" ".join(part.lines).lower().split())
            found += [f"{rel(path)} > {' > '.join(part.heading_path)}: {c!r}" for c in UNSUPPORTED if c in text]
    assert not found, found


def test_the_small_towns_strategy_is_not_under_a_danish_heading():
    for path in corpus_markdown():
        for part in parts(path):
            text = " ".join(part.lines).lower()
            if "attraktive små byer" in text or "attractive small towns" in text:
                where = " ".join((front_matter(path).get("title", ""), *part.heading_path)).lower()
                assert not re.search(r"dansk|danish|danmark|denmark", where), f"{rel(path)}: {part.heading_path}"


# -- built files and ingested chunks -------------------------------------------------------

@pytest.mark.parametrize("script", ["build_corpus_pdf.py", "build_corpus_pptx.py"])
def test_built_pdf_and_deck_are_up_to_date_with_their_sources(script):
    done = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / script), "--check"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ingested_chunks_carry_the_provenance_of_their_section(settings, fake_embedder, memory_store):
    """Once the loader carries provenance (the code side of #20), every chunk of the real corpus
    has a valid one, and a discussion document's chunks have that of the section they come from."""
    from assistant.core.records import Chunk
    from ingest.pipeline import sync_corpus

    if "provenance" not in Chunk.model_fields:
        pytest.skip("chunks carry no provenance in this branch yet")
    s = settings.model_copy(update={"corpus_dir": CORPUS})
    report = sync_corpus(s, fake_embedder, memory_store)
    assert report.ok, report.failed
    chunks = memory_store.all_chunks()
    assert chunks and {c.provenance for c in chunks} <= PROVENANCES
    for document in DISCUSSION_DOCUMENTS:
        expected = {p.heading_path: p.provenance for p in parts(CORPUS / document)}
        for chunk in (c for c in chunks if c.meta.source == document):
            assert "<!--" not in chunk.text, chunk.text
            path = (chunk.meta.title, *chunk.heading_path)
            assert expected.get(path, expected.get(chunk.heading_path)) == chunk.provenance, (document, path)
