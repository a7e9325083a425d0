"""Issue #20: provenance as data. Every chunk says whether it is the programme's own material, a
summary of published work or text written for the assistant; citations, the sources panel and the
facilitator's gathering preparation say it; uploads keep the facilitator's choice; a question about
what the programme itself asked or found gets the programme's material first.

Fixture documents only (the bundled corpus is edited elsewhere); the fake embedder and the
in-memory store, except where the real Chroma round trip is the point."""

from __future__ import annotations

import json

import pytest

from assistant.core.answer import AnswerConfig, AnswerEngine
from assistant.core.memory_store import InMemoryStore
from assistant.core.provenance import asks_what_the_programme_said, fallback_provenance
from assistant.core.records import Chunk, DocumentMeta, Section
from assistant.core.render import citation, source_list
from assistant.core.retrieval import Retriever, RetrievalConfig, programme_first
from assistant.core.store import chunk_from_record, chunk_to_metadata
from ingest.chunking import chunk_sections
from ingest.loaders import FoundFile, LoadError, load, markdown_sections, sidecar_path
from ingest.pipeline import sync_corpus

from .conftest import write_doc

# A discussion-question document that mixes the programme's questions and added ones, as the
# agreed format writes it: the added ones in their own marked subsection.
MIXED = """\
---
title: "Drøfting for KS"
kind: question
provenance: programme
---
# Drøfting for KS

Spørsmålene er fra presentasjonen.

## Medlemmenes behov

- Hva vet KS om medlemmenes samlede behov for ledelsesutvikling?

### Oppfølgingsspørsmål (skrevet for assistenten)
<!-- provenance: assistant -->

- Hvordan fanger KS opp behovene til ledere på nivå to og tre?

#### Enda dypere

- Hvilke ledere på nivå tre har KS snakket med om behovene?

## Samarbeid med staten

- Hvordan kan KS og staten samarbeide om et nasjonalt program?
"""


def read(tmp_path, text: str, rel: str = "questions/mixed.md", settings=None, provenance: str | None = None):
    path = tmp_path / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return load(FoundFile(path, rel, provenance), path.read_bytes(), settings)


# --- the loader ------------------------------------------------------------------------------------

def test_front_matter_and_a_section_marker_set_each_sections_provenance(tmp_path, settings):
    meta, sections, _ = read(tmp_path, MIXED, settings=settings)
    by_path = {s.heading_path[-1] if s.heading_path else "": s for s in sections}
    assert by_path[""].provenance == "programme"  # the introduction: the document's
    assert by_path["Medlemmenes behov"].provenance == "programme"
    assert by_path["Oppfølgingsspørsmål (skrevet for assistenten)"].provenance == "assistant"
    assert by_path["Enda dypere"].provenance == "assistant"  # a subsection keeps its parent's
    assert by_path["Samarbeid med staten"].provenance == "programme"  # a heading of a higher level ends it
    # The marker is not part of any text that is indexed or shown.
    assert not any("<!--" in s.text or "provenance" in s.text for s in sections)


def test_a_marker_under_the_title_covers_the_document_and_a_subsection_can_say_otherwise():
    body = "# Tittel\n<!-- provenance: literature -->\nInnledning.\n## Del\nTekst.\n## Vår del\n\n<!--provenance:assistant-->\nMer.\n"
    got = [(s.heading_path, s.provenance) for s in markdown_sections(body)]
    assert got == [(("Tittel",), "literature"), (("Tittel", "Del"), "literature"), (("Tittel", "Vår del"), "assistant")]
    # Without front matter or marker, a section has the document's provenance as given.
    assert {s.provenance for s in markdown_sections("# A\nTekst.\n## B\nMer.", provenance="assistant")} == {"assistant"}
    # In a code block, a marker is text like any other.
    fenced = markdown_sections("# A\n```\n<!-- provenance: assistant -->\n```\n")
    assert fenced[0].provenance == "programme" and "<!-- provenance: assistant -->" in fenced[0].text


@pytest.mark.parametrize(
    "text, where",
    [
        ("---\ntitle: x\nprovenance: programmet\n---\n# x\nTekst.\n", "front matter"),
        ("---\ntitle: x\nprovenance: programme\n---\n# x\n## Del\n<!-- provenance: ai -->\nTekst.\n", "linje 7"),
        ("---\ntitle: x\n---\n# x\nTekst.\n<!-- provenance: assistant -->\nMer.\n", "linje 6"),  # not under a heading
    ],
)
def test_an_invalid_or_misplaced_provenance_is_a_load_error_that_says_where(tmp_path, settings, text, where):
    with pytest.raises(LoadError) as err:
        read(tmp_path, text, settings=settings)
    assert where in str(err.value)
    assert "programme, literature, assistant" in str(err.value) or "overskrift" in str(err.value)


def test_ingest_reports_the_file_with_an_invalid_provenance_and_indexes_the_rest(settings, small_corpus, fake_embedder):
    write_doc(small_corpus, "programme/feil.md", "Feil", "# Feil\nTekst om piloten.\n", provenance="programmet")
    store = InMemoryStore()
    report = sync_corpus(settings, fake_embedder, store)
    assert [(f.source, "ugyldig provenance «programmet»" in f.reason) for f in report.failed] == [("programme/feil.md", True)]
    assert "programme/piloten.md" in report.files_added


def test_files_that_cannot_declare_it_are_programme_unless_their_sidecar_says_otherwise(tmp_path, settings):
    _, sections, _ = read(tmp_path, "Tekst om piloten.\n", rel="notat.txt", settings=settings)
    assert sections[0].provenance == "programme"
    _, sections, _ = read(tmp_path, "Tekst om piloten.\n", rel="notat.txt", settings=settings, provenance="literature")
    assert sections[0].provenance == "literature"
    with pytest.raises(LoadError, match="notat.txt.provenance"):
        read(tmp_path, "Tekst.\n", rel="notat.txt", settings=settings, provenance="ukjent")
    # Markdown without the key: its sidecar's, else its kind's (as an index built before provenance).
    plain = "---\ntitle: x\n---\n# x\nTekst.\n"
    assert read(tmp_path, plain, rel="leadership/x.md", settings=settings)[1][0].provenance == "literature"
    assert read(tmp_path, plain, rel="leadership/x.md", settings=settings, provenance="assistant")[1][0].provenance == "assistant"
    # The document's own front matter wins over a sidecar.
    declared = "---\ntitle: x\nprovenance: programme\n---\n# x\nTekst.\n"
    assert read(tmp_path, declared, rel="leadership/x.md", settings=settings, provenance="assistant")[1][0].provenance == "programme"


def test_a_mixed_document_gives_chunks_of_both_provenances_and_no_chunk_mixes_them(tmp_path, settings):
    meta, sections, _ = read(tmp_path, MIXED, settings=settings)
    # A large budget: the whole document would fit in one chunk if sections did not split it.
    chunks = chunk_sections(meta, sections, file_hash="f", fingerprint="fp", count=lambda t: len(t.split()),
                            target_tokens=400, max_tokens=480)
    assert {c.provenance for c in chunks} == {"programme", "assistant"}
    added = [c for c in chunks if "nivå to og tre" in c.text or "nivå tre" in c.text]
    own = [c for c in chunks if "samlede behov" in c.text or "nasjonalt program" in c.text]
    assert added and own
    assert all(c.provenance == "assistant" for c in added) and all(c.provenance == "programme" for c in own)
    assert not any("samlede behov" in c.text and "nivå to og tre" in c.text for c in chunks)


def test_moving_only_a_marker_changes_the_chunks_and_a_sync_writes_the_new_provenance(settings, fake_embedder):
    corpus = settings.corpus_dir
    path = corpus / "questions/mixed.md"
    path.parent.mkdir(parents=True)
    path.write_text(MIXED, encoding="utf-8")
    store = InMemoryStore()
    sync_corpus(settings, fake_embedder, store)
    before = {c.id: c.provenance for c in store.all_chunks()}
    # The marker moves from the follow-up section to the section about the state: same texts.
    moved = MIXED.replace("<!-- provenance: assistant -->\n", "").replace(
        "## Samarbeid med staten\n", "## Samarbeid med staten\n<!-- provenance: assistant -->\n")
    path.write_text(moved, encoding="utf-8")
    report = sync_corpus(settings, fake_embedder, store)
    assert report.files_updated == ["questions/mixed.md"]
    after = {c.text: c.provenance for c in store.all_chunks()}
    assert set(before) != {c.id for c in store.all_chunks()}  # the ids carry provenance
    assert next(p for t, p in after.items() if "nivå to og tre" in t) == "programme"
    assert next(p for t, p in after.items() if "nasjonalt program" in t) == "assistant"


# --- the store and old indexes ---------------------------------------------------------------------

def _chunk(kind: str = "question", provenance: str | None = "assistant", source: str = "questions/q.md", text: str = "Hva nå?") -> Chunk:
    meta = DocumentMeta(source=source, title="T", kind=kind)
    extra = {"provenance": provenance} if provenance else {}
    return Chunk(id=f"id-{source}-{text}", text=text, meta=meta, content_hash="c", file_hash="f", **extra)


def test_an_index_written_before_provenance_reads_it_from_the_kind():
    for kind, expected in [("programme", "programme"), ("leadership", "literature"), ("question", "assistant"), ("workshop", "assistant")]:
        md = chunk_to_metadata(_chunk(kind=kind, provenance="programme"), "k")
        md.pop("provenance")
        assert chunk_from_record("x", "tekst", md).provenance == expected == fallback_provenance(kind)
    md = chunk_to_metadata(_chunk(kind="leadership"), "k")
    assert chunk_from_record("x", "tekst", md).provenance == "assistant"  # a stored value is kept
    # A journal's citations from before provenance load too, by their kind.
    old = {"number": 1, "source": "leadership/a.md", "title": "A", "kind": "leadership", "locator": "", "passage": "p"}
    from assistant.core.records import Citation

    assert Citation.model_validate(old).provenance == "literature"


# --- citations and the sources panel ---------------------------------------------------------------

def test_citations_say_their_provenance_in_the_interface_language():
    chunks = [_chunk(kind="programme", provenance="programme", source="programme/p.md"),
              _chunk(kind="leadership", provenance="literature", source="leadership/l.md"),
              _chunk(provenance="assistant")]
    for lang, labels in {
        "nb": ("programmets materiale", "sammendrag av faglitteratur", "skrevet for assistenten"),
        "nn": ("programmet sitt materiale", "samandrag av faglitteratur", "skrive for assistenten"),
        "en": ("programme material", "summary of published work", "written for the assistant"),
    }.items():
        cites = [citation(n, c, lang) for n, c in enumerate(chunks, start=1)]
        assert [c.provenance for c in cites] == ["programme", "literature", "assistant"]
        lines = source_list(cites, lang).splitlines()[1:]
        assert [line.rstrip(" ").endswith(f"; {label})") for line, label in zip(lines, labels)] == [True] * 3, lines
        from assistant.web.context import sources_html

        panel = sources_html(cites, lang)
        assert [panel.count(f"({label})") for label in labels] == [1, 1, 1], panel


def test_an_answer_and_its_json_carry_each_citations_provenance(settings, fake_embedder):
    store = InMemoryStore()
    write_doc(settings.corpus_dir, "questions/mixed.md", "Drøfting for KS", MIXED.split("---\n", 2)[2], kind="question", provenance="programme")
    sync_corpus(settings, fake_embedder, store)
    s = settings.model_copy(update={"answer_min_similarity": 0.0, "answer_confident_similarity": 0.0})
    retriever = Retriever(RetrievalConfig.from_settings(s), store, fake_embedder)
    answer = AnswerEngine(AnswerConfig.from_settings(s), retriever, fake_embedder).answer(
        "Hvordan fanger KS opp behovene til ledere på nivå to og tre?")
    assert answer.citations and not answer.refused
    dumped = json.loads(answer.model_dump_json())
    by_passage = {c["passage"]: c["provenance"] for c in dumped["citations"]}
    assert by_passage[next(p for p in by_passage if "nivå to og tre" in p)] == "assistant"
    assert "skrevet for assistenten" in answer.text


def test_search_json_has_each_hits_provenance(settings, fake_embedder, monkeypatch, capsys):
    import argparse

    from assistant import cli
    from assistant.core.runtime import Runtime

    write_doc(settings.corpus_dir, "questions/mixed.md", "Drøfting for KS", MIXED.split("---\n", 2)[2], kind="question", provenance="programme")
    store = InMemoryStore()
    sync_corpus(settings, fake_embedder, store)
    monkeypatch.setattr(Runtime, "from_settings", classmethod(lambda cls, s, **kw: cls(settings=s, embedder=fake_embedder, store=store)))
    args = argparse.Namespace(query="ledere på nivå to og tre", k=5, kind=None, mode="hybrid", json=True)
    assert cli.cmd_search(args, settings) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert {h["provenance"] for h in hits} == {"programme", "assistant"}
    assert next(h for h in hits if "nivå to og tre" in h["text"])["provenance"] == "assistant"


# --- uploads ---------------------------------------------------------------------------------------

@pytest.fixture
def service(settings, small_corpus, fake_embedder):
    from assistant.app.chat import ChatConfig, ChatService
    from assistant.app.journal import Journal
    from assistant.core.runtime import Runtime

    s = settings.model_copy(update={"answer_min_similarity": 0.0, "answer_confident_similarity": 0.0})
    runtime = Runtime(settings=s, embedder=fake_embedder, store=InMemoryStore())
    sync_corpus(s, fake_embedder, runtime.store)
    engine = AnswerEngine(AnswerConfig.from_settings(s), runtime.retriever, fake_embedder)
    return ChatService(ChatConfig.from_settings(s), runtime, engine, Journal(s.journal_path))


def _provenance_of(service, source: str) -> set[str]:
    return {c.provenance for c in service.runtime.store.all_chunks() if c.meta.source == source}


def test_an_upload_is_programme_by_default_and_keeps_the_facilitators_choice(service, tmp_path):
    notes = tmp_path / "notat.txt"
    notes.write_text("Forslag til drøfting: hvordan kan byen lære av piloten?\n", encoding="utf-8")
    prompts = tmp_path / "forslag.txt"
    prompts.write_text("Spørsmål skrevet for samlingen: hva betyr regenerativ ledelse for deg?\n", encoding="utf-8")
    report, problems = service.upload("facilitator", [notes])
    assert problems == [] and report.files_added == ["opplastet/programme/notat.txt"]
    assert _provenance_of(service, "opplastet/programme/notat.txt") == {"programme"}

    service.upload("facilitator", [prompts], "question", "assistant")
    assert _provenance_of(service, "opplastet/question/forslag.txt") == {"assistant"}
    kept = sidecar_path(service.config.uploads_dir / "question" / "forslag.txt")
    assert kept.read_text(encoding="utf-8").strip() == "assistant"

    # A re-ingest keeps the choice; uploading the same file with another choice changes it.
    again = sync_corpus(service.runtime.settings, service.runtime.embedder, service.runtime.store,
                        corpus_dir=service.config.uploads_dir, source_prefix="opplastet/")
    assert again.files_updated == [] and _provenance_of(service, "opplastet/question/forslag.txt") == {"assistant"}
    report, _ = service.upload("facilitator", [prompts], "question", "literature")
    assert report.files_updated == ["opplastet/question/forslag.txt"]
    assert _provenance_of(service, "opplastet/question/forslag.txt") == {"literature"}

    from assistant.core.safety import InputRejected

    with pytest.raises(InputRejected):
        service.upload("facilitator", [notes], "programme", "ki")


def test_the_facilitator_tab_offers_the_provenance_choice_in_the_interface_language():
    from assistant.web.facilitator_tab import provenance_choices

    assert provenance_choices("nb") == [("programmets materiale", "programme"), ("sammendrag av faglitteratur", "literature"),
                                        ("skrevet for assistenten", "assistant")]
    assert [label for label, _ in provenance_choices("en")][2] == "written for the assistant"


# --- the gathering preparation ---------------------------------------------------------------------

def test_the_preparation_separates_the_programmes_questions_from_suggestions(service):
    from assistant.core.i18n import tr

    write_doc(service.runtime.settings.corpus_dir, "questions/mixed.md", "Drøfting for KS", MIXED.split("---\n", 2)[2],
              kind="question", provenance="programme")
    sync_corpus(service.runtime.settings, service.runtime.embedder, service.runtime.store)
    service.runtime.retriever.invalidate()
    for lang in ("nb", "en"):
        plan = service.prepare_gathering("facilitator", "KS og behovene til ledere", lang=lang)
        discussion = plan.split(f"## {tr(lang, 'prep.discussion')}\n")[1].split(f"## {tr(lang, 'prep.reflection')}")[0]
        own_heading, added_heading = f"### {tr(lang, 'prep.discussion_programme')}", f"### {tr(lang, 'prep.discussion_assistant')}"
        assert discussion.index(own_heading) < discussion.index(added_heading), discussion
        own, added = discussion.split(added_heading)
        assert "samlede behov" in own and "nasjonalt program" in own
        assert "nivå to og tre" in added and "nivå tre har KS" in added
        assert "nivå to og tre" not in own and "samlede behov" not in added


def test_the_preparation_says_when_the_programme_has_no_question_near_the_theme(service):
    from assistant.core.i18n import tr

    plan = service.prepare_gathering("facilitator", "situasjonen i byen din")  # the fixture's questions: no provenance key
    assert tr("nb", "prep.discussion_none") in plan
    assert f"### {tr('nb', 'prep.discussion_assistant')}" in plan  # a question document's kind: written for the assistant


# --- the programme first -------------------------------------------------------------------------------

@pytest.mark.parametrize("question", [
    "Hva spurte KS om?", "Hvilke spørsmål stilte KS til kommunene?", "Hva fant piloten?", "Hva anbefaler programmet?",
    "Hva var erfaringene fra piloten?", "Hva er pilotens viktigste læringspunkter?", "Piloten fant at tverrfaglige team virket?",
    "What did KS ask?", "What did the pilot find?", "What does the programme recommend for the national level?",
    "What are the programme's findings?", "What were the lessons from the pilot?",
])
def test_questions_about_what_the_programme_asked_or_found(question):
    assert asks_what_the_programme_said(question)


@pytest.mark.parametrize("question", [
    "Hvilke kommuner deltok i piloten?", "Hva er regenerativ ledelse?", "Hvem ledet programmet?",
    "What do the discussion questions ask KS?", "Which towns took part in the pilot?", "Hvordan kan jeg finne tid til refleksjon?",
])
def test_questions_that_do_not_ask_what_the_programme_said(question):
    assert not asks_what_the_programme_said(question)


def test_programme_material_comes_first_for_what_the_programme_asked(settings, fake_embedder):
    # An added question that uses the question's words more than the programme's own passage does.
    write_doc(settings.corpus_dir, "questions/forslag.md", "Forslag", (
        "# Forslag\n## Spørsmål KS kunne stilt\n"
        "- Hva spurte KS kommunene om da KS spurte om ledelse og spurte om samarbeid?\n"), kind="question", provenance="assistant")
    write_doc(settings.corpus_dir, "programme/presentasjonen.md", "Presentasjonen", (
        "# Presentasjonen\n## KS sine spørsmål\nKS spurte hvordan staten og kommunene kan dele ansvaret for byutvikling.\n"),
        kind="programme", provenance="programme")
    store = InMemoryStore()
    sync_corpus(settings, fake_embedder, store)
    retriever = Retriever(RetrievalConfig.from_settings(settings), store, fake_embedder)

    asked = retriever.search("Hva spurte KS kommunene om?", k=5)
    assert [h.chunk.provenance for h in asked][:1] == ["programme"]
    assert [h.rank for h in asked] == list(range(1, len(asked) + 1))
    # Near the same words without asking what KS asked: the search's own order, the added question first.
    plain = retriever.search("ledelse og samarbeid i kommunene", k=5)
    assert plain[0].chunk.provenance == "assistant"


def test_programme_first_only_reorders():
    hits = [_hit(_chunk(provenance="assistant", text="a"), 1), _hit(_chunk(kind="leadership", provenance="literature", text="b"), 2),
            _hit(_chunk(kind="programme", provenance="programme", text="c"), 3), _hit(_chunk(kind="programme", provenance="programme", text="d"), 4)]
    ordered = programme_first(hits)
    assert [h.chunk.text for h in ordered] == ["c", "d", "a", "b"] and [h.rank for h in ordered] == [1, 2, 3, 4]


def _hit(chunk: Chunk, rank: int):
    from assistant.core.records import Hit

    return Hit(chunk=chunk, score=1.0 / rank, rank=rank)


def test_sections_default_to_programme():
    assert Section(text="x").provenance == "programme"
