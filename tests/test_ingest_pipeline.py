"""Ingest as a sync, on a real embedded Chroma with the fake embedder."""

from __future__ import annotations

import pytest

from assistant.core.store import ChromaStore, ModelMismatchError, StoreConfig, StoreError
from ingest.pipeline import IngestLockedError, sync_corpus, writer_lock

from .conftest import write_doc
from .fakes import FakeEmbedder


def run(settings, embedder, **kw):
    return sync_corpus(settings, embedder, ChromaStore(StoreConfig.from_settings(settings)), **kw)


def indexed_ids(settings, embedder):
    store = ChromaStore(StoreConfig.from_settings(settings))
    store.open(embedder.model_id, embedder.dim, create=False)
    return {src: set(f.ids) for src, f in store.indexed_files().items()}


def test_second_run_changes_nothing(settings, small_corpus, fake_embedder):
    first = run(settings, fake_embedder)
    assert sorted(first.files_added) == ["leadership/regenerativ.md", "programme/piloten.md", "questions/refleksjon.md"]
    assert first.chunks_added == first.chunks_total > 0
    embedded = fake_embedder.passages_embedded

    second = run(settings, fake_embedder)
    assert (second.files_added, second.files_updated, second.files_removed) == ([], [], [])
    assert second.chunks_added == second.chunks_removed == 0
    assert second.files_unchanged == 3
    assert second.chunks_total == first.chunks_total
    assert fake_embedder.passages_embedded == embedded  # nothing re-embedded


def test_editing_one_file_replaces_only_its_chunks(settings, small_corpus, fake_embedder):
    run(settings, fake_embedder)
    before = indexed_ids(settings, fake_embedder)
    path = small_corpus / "programme/piloten.md"
    path.write_text(path.read_text(encoding="utf-8").replace("fem dagssamlinger", "seks dagssamlinger"), encoding="utf-8")

    report = run(settings, fake_embedder)
    after = indexed_ids(settings, fake_embedder)
    assert report.files_updated == ["programme/piloten.md"]
    assert report.chunks_added == 1 and report.chunks_removed == 1
    assert after["leadership/regenerativ.md"] == before["leadership/regenerativ.md"]
    assert after["questions/refleksjon.md"] == before["questions/refleksjon.md"]
    assert len(after["programme/piloten.md"] & before["programme/piloten.md"]) == len(before["programme/piloten.md"]) - 1


def test_deleted_file_is_removed(settings, small_corpus, fake_embedder):
    run(settings, fake_embedder)
    (small_corpus / "leadership/regenerativ.md").unlink()
    report = run(settings, fake_embedder)
    assert report.files_removed == ["leadership/regenerativ.md"]
    assert "leadership/regenerativ.md" not in indexed_ids(settings, fake_embedder)


def test_dry_run_writes_nothing(settings, small_corpus, fake_embedder):
    run(settings, fake_embedder)
    write_doc(small_corpus, "programme/ny.md", "Ny", "# Ny\nEn ny tekst om byutvikling.")
    report = run(settings, fake_embedder, dry_run=True)
    assert report.files_added == ["programme/ny.md"] and report.dry_run
    assert "programme/ny.md" not in indexed_ids(settings, fake_embedder)


def test_broken_files_are_reported_and_the_rest_is_untouched(settings, small_corpus, fake_embedder):
    run(settings, fake_embedder)
    before = indexed_ids(settings, fake_embedder)
    bad = small_corpus / "broken"
    bad.mkdir()
    (bad / "tom.md").write_bytes(b"")
    (bad / "binaer.md").write_bytes(b"\x00\x01\x02binary\x00" * 50)
    (bad / "skadet.pdf").write_bytes(b"%PDF-1.7\n1 0 obj <<\n garbage")
    (bad / "ikke-pdf.pdf").write_bytes(b"hello, not a pdf")
    (bad / "feil-yaml.md").write_text("---\ntitle: [unclosed\n---\nTekst\n", encoding="utf-8")
    (bad / "bilde.png").write_bytes(b"\x89PNG")
    # A previously good file that is now corrupt keeps its old chunks.
    (small_corpus / "leadership/regenerativ.md").write_bytes(b"\x00\x00\x00")

    report = run(settings, fake_embedder)
    failed = {i.source: i.reason for i in report.failed}
    assert set(failed) == {
        "broken/tom.md",
        "broken/binaer.md",
        "broken/skadet.pdf",
        "broken/ikke-pdf.pdf",
        "broken/feil-yaml.md",
        "leadership/regenerativ.md",
    }
    assert "tom fil" in failed["broken/tom.md"]
    assert "binær" in failed["broken/binaer.md"]
    assert "YAML" in failed["broken/feil-yaml.md"]
    assert "PDF" in failed["broken/ikke-pdf.pdf"]
    assert [i.source for i in report.ignored] == ["broken/bilde.png"]
    assert not report.ok
    assert indexed_ids(settings, fake_embedder) == before


def test_oversized_file_is_refused(settings, small_corpus, fake_embedder):
    big = small_corpus / "programme/stor.txt"
    big.write_text("ord " * 300_000, encoding="utf-8")  # ~1.2 MB
    report = run(settings.model_copy(update={"max_file_mb": 1.0}), fake_embedder)
    assert [i.source for i in report.failed] == ["programme/stor.txt"]
    assert "over grensen" in report.failed[0].reason


def test_symlink_out_of_corpus_is_refused(settings, small_corpus, fake_embedder, tmp_path):
    secret = tmp_path / "secret.md"
    secret.write_text("# Hemmelig\nDette skal ikke indekseres.", encoding="utf-8")
    (small_corpus / "programme/lenke.md").symlink_to(secret)
    report = run(settings, fake_embedder)
    assert [i.source for i in report.failed] == ["programme/lenke.md"]
    assert "programme/lenke.md" not in indexed_ids(settings, fake_embedder)


def test_interrupted_write_converges(settings, small_corpus, fake_embedder):
    """Simulate a crash after new chunks were written but before old ones were removed."""
    run(settings, fake_embedder)
    path = small_corpus / "programme/piloten.md"
    path.write_text(path.read_text(encoding="utf-8").replace("Horten", "Horten by"), encoding="utf-8")
    store = ChromaStore(StoreConfig.from_settings(settings))
    original_delete = ChromaStore.delete

    class Crash(Exception):
        pass

    def crash(self, ids):
        raise Crash

    ChromaStore.delete = crash
    try:
        with pytest.raises(Crash):
            sync_corpus(settings, fake_embedder, store)
    finally:
        ChromaStore.delete = original_delete
    stale = indexed_ids(settings, fake_embedder)["programme/piloten.md"]
    report = run(settings, fake_embedder)
    assert report.files_updated == ["programme/piloten.md"]
    fresh = indexed_ids(settings, fake_embedder)["programme/piloten.md"]
    assert len(fresh) < len(stale)  # the stale duplicate is gone
    again = run(settings, fake_embedder)
    assert not again.changed


def test_other_model_is_refused_until_rebuild(settings, small_corpus, fake_embedder):
    run(settings, fake_embedder)

    class OtherEmbedder(FakeEmbedder):
        model_id = "fake/other"

    with pytest.raises(ModelMismatchError, match="--rebuild"):
        run(settings, OtherEmbedder())
    report = run(settings, OtherEmbedder(), rebuild=True)
    assert report.chunks_total > 0 and len(report.files_added) == 3


def test_second_writer_gets_a_clear_message(settings, small_corpus, fake_embedder):
    with writer_lock(settings):
        with pytest.raises(IngestLockedError, match="En annen indeksering"):
            run(settings, fake_embedder)


def test_missing_index_says_to_ingest(settings, fake_embedder):
    store = ChromaStore(StoreConfig.from_settings(settings))
    with pytest.raises(StoreError, match="assistant ingest"):
        store.open(fake_embedder.model_id, fake_embedder.dim, create=False)


def test_reading_the_store_pages_through_large_collections(settings, small_corpus, fake_embedder, monkeypatch):
    """Chroma refuses one get() of more than ~32k records; the store reads in pages."""
    sync_corpus(settings, fake_embedder, ChromaStore(StoreConfig.from_settings(settings)))
    store = ChromaStore(StoreConfig.from_settings(settings))
    store.open(fake_embedder.model_id, fake_embedder.dim, create=False)
    everything = {c.id for c in store.all_chunks()}
    monkeypatch.setattr(ChromaStore, "PAGE", 2)
    assert {c.id for c in store.all_chunks()} == everything and len(everything) > 4
    assert sum(len(f.ids) for f in store.indexed_files().values()) == len(everything)
