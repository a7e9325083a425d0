from __future__ import annotations

from pathlib import Path

import pytest

from assistant.core.records import DocumentMeta, Section
from assistant.core.text import guess_language, split_sentences, stems
from ingest.chunking import chunk_sections
from ingest.loaders import FoundFile, LoadError, discover, load, markdown_sections


def found(corpus: Path, rel: str) -> FoundFile:
    return FoundFile(corpus / rel, rel)


def test_front_matter_and_sections(settings):
    corpus = settings.corpus_dir
    (corpus / "leadership").mkdir()
    (corpus / "leadership/a.md").write_text(
        "---\ntitle: Lede det ledelsesløse\ntags: [Strategi, nettverk]\ngathering: [2, 3]\n"
        "stage: [how_to_get_there, not_a_stage]\nsummary: Kort.\n---\n"
        "# Lede det ledelsesløse\nInnledning.\n\n## Aktører\nMange aktører.\n### Avhengigheter\nGjensidig.\n"
        "```\n# ikke en overskrift\n```\n",
        encoding="utf-8",
    )
    meta, sections, warnings = load(found(corpus, "leadership/a.md"), (corpus / "leadership/a.md").read_bytes(), settings)
    assert meta.kind == "leadership"  # from the folder
    assert meta.title == "Lede det ledelsesløse"
    assert meta.tags == ("strategi", "nettverk")
    assert meta.gathering == (2, 3)
    assert meta.stage == ("how_to_get_there",)
    assert [s.heading_path for s in sections] == [(), ("Aktører",), ("Aktører", "Avhengigheter")]
    assert "# ikke en overskrift" in sections[-1].text
    assert warnings == []


def test_kind_from_front_matter_wins_and_questions_folder_maps(settings):
    corpus = settings.corpus_dir
    (corpus / "questions").mkdir()
    (corpus / "questions/q.md").write_text("# Spørsmål\n- Hva nå?\n", encoding="utf-8")
    meta, _, _ = load(found(corpus, "questions/q.md"), b"# Sp\xc3\xb8rsm\xc3\xa5l\n- Hva n\xc3\xa5?\n", settings)
    assert meta.kind == "question" and meta.title == "Spørsmål"
    (corpus / "x.md").write_text("---\nkind: Workshop\n---\nTekst\n", encoding="utf-8")
    meta, _, _ = load(found(corpus, "x.md"), (corpus / "x.md").read_bytes(), settings)
    assert meta.kind == "workshop"


def test_non_utf8_text_is_read_with_a_warning(settings):
    corpus = settings.corpus_dir
    data = "Byutvikling i Tønsberg og Porsgrunn.".encode("cp1252")
    (corpus / "a.txt").write_bytes(data)
    meta, sections, warnings = load(found(corpus, "a.txt"), data, settings)
    assert "Tønsberg" in sections[0].text
    assert warnings and "UTF-8" in warnings[0]


@pytest.mark.parametrize(
    "data, reason",
    [(b"\x00\x01binary", "binær"), (b"---\ntitle: x\n---\n   \n", "ingen tekst"), (b"\x01\x02\x03\x04" * 300, "binær")],
)
def test_unreadable_text(settings, data, reason):
    corpus = settings.corpus_dir
    (corpus / "b.md").write_bytes(data)
    with pytest.raises(LoadError, match=reason):
        load(found(corpus, "b.md"), data, settings)


def test_discover_skips_hidden_underscore_and_readme(settings):
    corpus = settings.corpus_dir
    for rel in ["README.md", ".hidden.md", "_src/a.md", "programme/a.md", "programme/b.odt"]:
        (corpus / rel).parent.mkdir(parents=True, exist_ok=True)
        (corpus / rel).write_text("x", encoding="utf-8")
    files, problems, ignored = discover(corpus)
    assert [f.source for f in files] == ["programme/a.md"]
    assert [i.source for i in ignored] == ["programme/b.odt"]
    assert problems == []


def test_chunks_respect_max_tokens_and_are_deterministic():
    meta = DocumentMeta(source="a.md", title="T", kind="programme")
    long_para = " ".join(f"Setning nummer {i} handler om byutvikling." for i in range(200))
    sections = [Section(text="Kort avsnitt.\n\n" + long_para, heading_path=("Del",))]

    def count(text: str) -> int:
        return len(text.split())

    kw = dict(file_hash="f", fingerprint="fp", count=count, target_tokens=100, max_tokens=150)
    a = chunk_sections(meta, sections, **kw)
    b = chunk_sections(meta, sections, **kw)
    assert [c.id for c in a] == [c.id for c in b]
    assert len(a) > 5
    assert all(count(c.text) <= 150 for c in a)
    assert all(c.heading_path == ("Del",) for c in a)
    assert len({c.id for c in a}) == len(a)
    other = chunk_sections(meta, sections, **{**kw, "fingerprint": "other"})
    assert {c.id for c in other}.isdisjoint({c.id for c in a})


def test_duplicate_paragraphs_get_distinct_ids():
    meta = DocumentMeta(source="a.md", title="T", kind="programme")
    sections = [Section(text="Samme tekst.", heading_path=("A",)), Section(text="Samme tekst.", heading_path=("A",))]
    chunks = chunk_sections(
        meta, sections, file_hash="f", fingerprint="fp", count=lambda t: len(t.split()), target_tokens=50, max_tokens=60
    )
    assert len({c.id for c in chunks}) == 2


def test_markdown_sections_without_headings():
    assert markdown_sections("Bare tekst.\n\nTo avsnitt.") == [Section(text="Bare tekst.\n\nTo avsnitt.")]


def test_text_helpers():
    assert stems("Kommunene deltok i byutviklingen") == stems("kommunen deltok byutvikling")
    assert guess_language("Hvilke kommuner deltok i piloten?") == "nb"
    assert guess_language("Which towns took part in the pilot?") == "en"
    assert guess_language("") == "nb"
    assert split_sentences("Dette er f.eks. én setning. Her er en annen! Og en tredje?") == [
        "Dette er f.eks. én setning.",
        "Her er en annen!",
        "Og en tredje?",
    ]
    assert split_sentences("- Første punkt?\n- Andre punkt?") == ["- Første punkt?", "- Andre punkt?"]


def test_normalize_removes_control_and_format_characters_and_keeps_the_rest():
    import unicodedata

    from assistant.core.text import normalize

    def slow(text: str) -> str:  # the definition: NFC, every category-C character but \n and \t gone, casefold
        text = unicodedata.normalize("NFC", text)
        return "".join(c for c in text if c in "\n\t" or unicodedata.category(c)[0] != "C").casefold()

    samples = [
        "Bærekraftig BYLEDELSE\n\tmed «sitater» – og tall 2030",  # printable apart from \n\t: the fast path
        "skjult\u200bord og myk\u00adbindestrek",  # format characters (Cf)
        "bjelle\x07 og null\x00 og DEL\x7f",  # control characters (Cc)
        "hardt\u00a0mellomrom og linje\u2028skille",  # separators: kept
        "e\u0301 blir é (NFC)",
        "privat\ue000bruk og \U0010ffff",  # private use and unassigned: removed
    ]
    for text in samples:
        assert normalize(text) == slow(text), text
    assert normalize("skjult\u200bord") == "skjultord"
    assert normalize("A\nB") == "a\nb"
