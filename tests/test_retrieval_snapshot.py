"""The retrieval snapshot (assistant/core/snapshot.py): written on the first start, loaded on the
next instead of reading and stemming every chunk, the same results either way, and never served
when the index changed behind its back, when it is damaged, or when the settings that shape it
changed. Real embedded Chroma; the fake embedder gives the vectors."""

from __future__ import annotations

import numpy as np
import pytest

import assistant.core.lexical as lexical_module
from assistant.core.records import Chunk, DocumentMeta
from assistant.core.retrieval import RetrievalConfig, Retriever
from assistant.core.runtime import Runtime
from assistant.core.selection import sentence_texts
from assistant.core.snapshot import RetrievalSnapshot
from assistant.core.store import ChromaStore, StoreConfig
from ingest.pipeline import sync_corpus
from tests.test_backends_real import chroma_server  # noqa: F401 - the fixture: a `chroma run` on loopback

QUERIES = [
    ("Hvilke kommuner deltok i piloten?", ()),
    ("regenerativ ledelse natur fellesskap", ()),
    ("byen din rolle", ("question",)),
    ("dagssamlinger", ("programme", "leadership")),
]
NEW_TEXT = "Sirkulærøkonomi handler om kretsløp og gjenbruk i kommunen."


def store_of(settings) -> ChromaStore:
    return ChromaStore(StoreConfig.from_settings(settings))


def retriever(settings, fake_embedder, snapshot: bool = True) -> Retriever:
    """A fresh retriever on a fresh store handle: what a new `assistant serve` builds."""
    return Retriever(RetrievalConfig.from_settings(settings), store_of(settings), fake_embedder,
                     snapshot=RetrievalSnapshot.from_settings(settings) if snapshot else None)


def start(r: Retriever) -> Retriever:
    """Start it, and wait for the sentence vectors to be added to a snapshot it wrote."""
    r.warm_up()
    if r.snapshot_writer is not None:
        r.snapshot_writer.join()
    return r


def results(r: Retriever) -> list:
    out = []
    for query, kinds in QUERIES:
        for mode in ("hybrid", "lexical", "dense"):
            out.append([(h.chunk, h.score, h.dense, h.lexical, h.rank) for h in r.search(query, k=5, kinds=kinds, mode=mode)])
    return out


@pytest.fixture
def indexed(settings, small_corpus, fake_embedder):
    sync_corpus(settings, fake_embedder, store_of(settings))
    return settings


def new_chunk(text: str = NEW_TEXT) -> Chunk:
    meta = DocumentMeta(source="programme/annen-prosess.md", title="Skrevet av en annen prosess", kind="programme")
    return Chunk(id="behind-its-back", text=text, meta=meta, content_hash="h", file_hash="f")


def test_first_start_writes_the_snapshot_and_the_next_loads_it_with_the_same_results(indexed, fake_embedder, monkeypatch):
    path = indexed.retrieval_snapshot_path
    assert not path.exists()
    first = retriever(indexed, fake_embedder)
    start(first)
    assert first.loaded_from == "store" and path.is_file()
    plain = retriever(indexed, fake_embedder, snapshot=False)  # as before snapshots
    start(plain)
    expected = results(plain)
    assert any(expected) and results(first) == expected

    with monkeypatch.context() as m:  # the second start may neither read chunks nor stem them
        def refuse(*_a, **_k):
            raise AssertionError("rebuilt instead of loading the snapshot")

        m.setattr(ChromaStore, "all_chunks", refuse)
        m.setattr(lexical_module, "stems", refuse)
        m.setattr(ChromaStore, "sentence_vectors", refuse)  # nor load the store's sentence vectors
        second = retriever(indexed, fake_embedder)
        start(second)
        counts = {c.id: len(sentence_texts(c)) for c in plain.chunks.values()}
        counts["no-such-chunk"] = 3
        from_snapshot = second.sentence_vectors(counts)
        fewer = second.sentence_vectors({cid: 1 for cid in counts})
    assert second.loaded_from == "snapshot"
    from_store = plain.sentence_vectors(counts)
    assert len(from_store) > len(plain.chunks) and set(from_snapshot) == set(from_store)
    assert all(np.allclose(from_snapshot[t], from_store[t], atol=1e-6) for t in from_store)
    assert set(fewer) == set(plain.sentence_vectors({cid: 1 for cid in counts})) and len(fewer) < len(from_store)
    assert second.chunks == plain.chunks
    assert results(second) == expected
    for stem in ("kommun", "pilot", "regenerativ", "finnes-ikke"):
        assert second.idf(stem) == plain.idf(stem)
        assert second.document_frequency(stem) == plain.document_frequency(stem)


@pytest.mark.parametrize("bump", [True, False], ids=["revision-bumped", "revision-not-bumped"])
def test_a_chunk_added_behind_its_back_is_found_after_a_restart(indexed, fake_embedder, bump):
    start(retriever(indexed, fake_embedder))  # the snapshot of the index as ingested
    other = store_of(indexed)  # another handle, as another process would hold
    other.open(fake_embedder.model_id, fake_embedder.dim, create=False)
    other.upsert([new_chunk()], fake_embedder.embed_passages([NEW_TEXT]), file_key="k")
    if bump:
        other.bump_revision()
    restarted = retriever(indexed, fake_embedder)
    start(restarted)
    assert restarted.loaded_from == "store"
    assert restarted.search("sirkulærøkonomi kretsløp", k=3, mode="lexical")[0].chunk.id == "behind-its-back"
    again = retriever(indexed, fake_embedder)  # and the rewritten snapshot has it
    start(again)
    assert again.loaded_from == "snapshot" and "behind-its-back" in again.chunks


def test_a_chunk_removed_behind_its_back_is_gone_after_a_restart(indexed, fake_embedder):
    first = retriever(indexed, fake_embedder)
    start(first)
    gone = next(c.id for c in first.chunks.values() if "Horten" in c.text)
    other = store_of(indexed)
    other.open(fake_embedder.model_id, fake_embedder.dim, create=False)
    other.delete([gone])
    restarted = retriever(indexed, fake_embedder)
    start(restarted)
    assert restarted.loaded_from == "store" and gone not in restarted.chunks
    assert all(h.chunk.id != gone for h in restarted.search("Horten Larvik Porsgrunn", k=5, mode="lexical"))


def test_an_index_recreated_at_the_same_revision_and_size_is_not_taken_for_the_old_one(indexed, fake_embedder):
    first = retriever(indexed, fake_embedder)
    start(first)
    chunks = list(first.chunks.values())
    other = store_of(indexed)  # drops the index and writes it again, one text changed
    other.drop()
    other.open(fake_embedder.model_id, fake_embedder.dim, create=True)
    changed = [c.model_copy(update={"text": NEW_TEXT}) if i == 0 else c for i, c in enumerate(chunks)]
    other.upsert(changed, fake_embedder.embed_passages([c.text for c in changed]), file_key="k")
    while other.revision() < first.store.revision():
        other.bump_revision()
    assert (other.revision(), other.count()) == (first.store.revision(), len(chunks))
    restarted = retriever(indexed, fake_embedder)
    start(restarted)
    assert restarted.loaded_from == "store"
    assert restarted.search("sirkulærøkonomi kretsløp", k=1, mode="lexical")[0].chunk.id == chunks[0].id


def _damage_arrays(path) -> None:
    """A well-formed file whose key matches, with a BM25 matrix that points past the last chunk."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {name: z[name] for name in z.files}
    arrays["indices"] = arrays["indices"] + 1000
    with open(path, "wb") as f:
        np.savez(f, **arrays)


@pytest.mark.parametrize("damage", [
    lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),  # truncated
    lambda p: p.write_bytes(b"not a zip file at all"),
    lambda p: p.write_bytes(b""),
    _damage_arrays,
    lambda p: [f.unlink() for f in p.parent.glob("*.sentences-*.npy")],
    lambda p: [f.write_bytes(f.read_bytes()[:200]) for f in p.parent.glob("*.sentences-*.npy")],
], ids=["truncated", "garbage", "empty", "inconsistent-arrays", "sentence-vectors-gone", "sentence-vectors-truncated"])
def test_a_damaged_snapshot_is_rebuilt_not_served(indexed, fake_embedder, damage):
    first = retriever(indexed, fake_embedder)
    start(first)
    expected = results(first)
    damage(indexed.retrieval_snapshot_path)
    restarted = retriever(indexed, fake_embedder)
    start(restarted)
    assert restarted.loaded_from == "store" and results(restarted) == expected
    again = retriever(indexed, fake_embedder)  # rewritten whole
    start(again)
    assert again.loaded_from == "snapshot" and results(again) == expected


def test_other_chunking_settings_rebuild_it(indexed, fake_embedder):
    start(retriever(indexed, fake_embedder))
    same = retriever(indexed, fake_embedder)
    start(same)
    assert same.loaded_from == "snapshot"
    other = indexed.model_copy(update={"chunk_target_tokens": indexed.chunk_target_tokens + 10})
    assert other.retrieval_fingerprint != indexed.retrieval_fingerprint
    changed = retriever(other, fake_embedder)
    start(changed)
    assert changed.loaded_from == "store"


def test_ingest_removes_it_when_it_changes_the_index(indexed, small_corpus, fake_embedder):
    start(retriever(indexed, fake_embedder))
    path = indexed.retrieval_snapshot_path
    assert path.is_file()
    sync_corpus(indexed, fake_embedder, store_of(indexed))  # nothing changed: kept
    assert path.is_file()
    (small_corpus / "programme/ny.md").write_text(f"# Ny\n{NEW_TEXT}", encoding="utf-8")
    assert len(list(path.parent.glob("retrieval-snapshot-*"))) == 2  # chunks and BM25; sentence vectors
    report = sync_corpus(indexed, fake_embedder, store_of(indexed))
    assert report.changed and not list(path.parent.glob("retrieval-snapshot-*"))
    restarted = retriever(indexed, fake_embedder)
    start(restarted)
    assert restarted.loaded_from == "store"
    assert restarted.search("sirkulærøkonomi kretsløp", k=1, mode="lexical")[0].chunk.meta.source == "programme/ny.md"


def test_a_running_retriever_rewrites_it_when_it_reloads(indexed, small_corpus, fake_embedder):
    running = retriever(indexed, fake_embedder)
    start(running)
    running.REFRESH_EVERY_S = 0.0
    (small_corpus / "programme/ny.md").write_text(f"# Ny\n{NEW_TEXT}", encoding="utf-8")
    sync_corpus(indexed, fake_embedder, store_of(indexed))
    assert running.search("sirkulærøkonomi kretsløp", k=1, mode="lexical")  # reloaded
    restarted = retriever(indexed, fake_embedder)
    start(restarted)
    assert restarted.loaded_from == "snapshot" and any(c.meta.source == "programme/ny.md" for c in restarted.chunks.values())


def test_the_runtime_keeps_one_unless_the_settings_turn_it_off(indexed, fake_embedder):
    rt = Runtime.from_settings(indexed, embedder=fake_embedder, chat_model=None)
    start(rt.retriever)
    assert rt.retriever.loaded_from == "store" and indexed.retrieval_snapshot_path.is_file()
    indexed.retrieval_snapshot_path.unlink()
    off = indexed.model_copy(update={"retrieval_snapshot": False})
    rt = Runtime.from_settings(off, embedder=fake_embedder, chat_model=None)
    start(rt.retriever)
    assert rt.retriever.snapshot is None and not off.retrieval_snapshot_path.exists()


def test_a_snapshot_that_cannot_be_written_leaves_retrieval_working(indexed, fake_embedder, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    unwritable = indexed.model_copy(update={"data_dir": blocker / "data"})  # a folder under a file
    r = Retriever(RetrievalConfig.from_settings(indexed), store_of(indexed), fake_embedder,
                  snapshot=RetrievalSnapshot.from_settings(unwritable))
    start(r)
    assert r.loaded_from == "store" and r.search("Hvilke kommuner deltok i piloten?", k=1)
    assert not list(tmp_path.glob("**/*.tmp"))


def test_every_field_of_every_chunk_comes_back_equal(tmp_path, settings):
    """Pages, slides, none of either, several provenances, documents and heading paths, text
    outside ASCII; and an empty index."""
    from assistant.core.lexical import LexicalIndex

    docs = [DocumentMeta(source=f"d{i}.md", title=f"Tittel {i} – æøå", kind=k, language=lang, tags=("by", "natur"),
                         gathering=(1, 3), stage=("where_to",), summary="Sammendrag.")
            for i, (k, lang) in enumerate([("programme", "nb"), ("leadership", "en"), ("question", "nb")])]
    chunks = [
        Chunk(id=f"c{i}", text=f"Tekst {i}: «Tønsberg» 🌱 {'lang ' * i}", meta=docs[i % 3],
              heading_path=(("Om", f"Del {i % 2}") if i % 4 else ()), page=(i if i % 3 == 0 else None),
              slide=(i if i % 3 == 1 else None), position=i, content_hash=f"c{i}", file_hash=f"f{i % 3}",
              provenance=("programme", "literature", "assistant")[i % 3])
        for i in range(12)
    ]
    snapshot = RetrievalSnapshot.from_settings(settings)
    for given in (chunks, []):
        key = snapshot.key(index_id="x", revision=3, count=len(given), model_id="m")
        assert snapshot.save(key, given, LexicalIndex(given))
        loaded = snapshot.load(key)
        table, lexical = loaded.chunks, loaded.lexical
        assert list(table) == [c.id for c in given] and [table[c.id] for c in given] == given
        assert dict(table) == {c.id: c for c in given} and "nope" not in table
        assert lexical.search("tønsberg lang", 5) == LexicalIndex(given).search("tønsberg lang", 5)
    assert snapshot.load(snapshot.key(index_id="x", revision=4, count=0, model_id="m")) is None


def test_sentence_vectors_are_only_added_to_the_snapshot_they_were_read_for(indexed, fake_embedder):
    first = start(retriever(indexed, fake_embedder))
    snapshot, store = first.snapshot, first.store
    key = snapshot.key(index_id=store.index_id(), revision=store.revision(), count=store.count(),
                       model_id=fake_embedder.model_id)
    stale = snapshot.key(index_id=store.index_id(), revision=store.revision() + 1, count=store.count(),
                         model_id=fake_embedder.model_id)
    vectors = list(indexed.data_dir.glob("retrieval-snapshot-*.sentences-*.npy"))
    assert len(vectors) == 1
    assert not snapshot.add_sentences(stale, store.all_sentence_vectors())  # another state of the index
    assert list(indexed.data_dir.glob("retrieval-snapshot-*.sentences-*.npy")) == vectors
    assert snapshot.add_sentences(key, store.all_sentence_vectors())  # again: a new file, the old one gone
    again = list(indexed.data_dir.glob("retrieval-snapshot-*.sentences-*.npy"))
    assert len(again) == 1 and again != vectors
    assert snapshot.load(key).sentences is not None


ADD_CHUNK = """
import json, sys
import numpy as np
from assistant.core.records import Chunk, DocumentMeta
from assistant.core.settings import Settings
from assistant.core.store import ChromaStore, StoreConfig
cfg = json.loads(sys.argv[1])
settings = Settings(_env_file=None, chroma_host="127.0.0.1", chroma_port=cfg["port"], data_dir=cfg["data"])
store = ChromaStore(StoreConfig.from_settings(settings))
store.open(cfg["model"], cfg["dim"], create=False)
meta = DocumentMeta(source="programme/annen-prosess.md", title="Skrevet av en annen prosess", kind="programme")
chunk = Chunk(id="behind-its-back", text=cfg["text"], meta=meta, content_hash="h", file_hash="f")
store.upsert([chunk], np.asarray([cfg["vector"]], dtype=np.float32), file_key="k")
"""


@pytest.mark.integration
def test_on_a_chroma_server_a_chunk_another_process_added_is_noticed(chroma_server, settings, small_corpus,
                                                                      fake_embedder, tmp_path):
    import json
    import os
    import subprocess
    import sys

    from assistant.core.settings import REPO_ROOT

    remote = settings.model_copy(update={"chroma_host": "127.0.0.1", "chroma_port": chroma_server})
    sync_corpus(remote, fake_embedder, store_of(remote))
    assert start(retriever(remote, fake_embedder)).loaded_from == "store"
    assert start(retriever(remote, fake_embedder)).loaded_from == "snapshot"
    cfg = {"port": chroma_server, "data": str(tmp_path / "other"), "model": fake_embedder.model_id,
           "dim": fake_embedder.dim, "text": NEW_TEXT, "vector": fake_embedder.embed_passages([NEW_TEXT])[0].tolist()}
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "ANONYMIZED_TELEMETRY": "False"}
    subprocess.run([sys.executable, "-c", ADD_CHUNK, json.dumps(cfg)], check=True, env=env, timeout=120)  # no bump
    restarted = start(retriever(remote, fake_embedder))
    assert restarted.loaded_from == "store"
    assert restarted.search("sirkulærøkonomi kretsløp", k=1, mode="lexical")[0].chunk.id == "behind-its-back"
    assert not (remote.data_dir / "chroma").exists()  # the snapshot sits in the data dir; the index on the server


EXITING_EARLY = """
import sys, time
from pathlib import Path
from assistant.core.retrieval import RetrievalConfig, Retriever
from assistant.core.settings import Settings
from assistant.core.snapshot import RetrievalSnapshot
from assistant.core.store import ChromaStore, StoreConfig
from tests.fakes import FakeEmbedder

settings = Settings(_env_file=None, data_dir=Path(sys.argv[1]), corpus_dir=Path(sys.argv[2]), relevance_floor=0.0,
                    chunk_target_tokens=120)
pages_read = Path(sys.argv[3])
real = ChromaStore.all_sentence_vectors

def slow(self):  # a large index: paging through every sentence vector takes a long while
    for n, page in enumerate(list(real(self)) * 40):
        pages_read.write_text(str(n + 1))
        time.sleep(0.25)
        yield page

ChromaStore.all_sentence_vectors = slow
r = Retriever(RetrievalConfig.from_settings(settings), ChromaStore(StoreConfig.from_settings(settings)), FakeEmbedder(),
              snapshot=RetrievalSnapshot.from_settings(settings))
r.warm_up()
assert r.snapshot_writer is not None and r.snapshot_writer.is_alive()
time.sleep(0.6)
print("answered; exiting", flush=True)
"""


def test_a_process_that_exits_while_the_sentences_are_written_stops_the_writer_cleanly(indexed, tmp_path, repo_root, fake_embedder):
    """A CLI answer or a stopped server on a large index ends while the writer still pages through
    the sentence vectors: it stops after its page (no crash in Chroma's native code at exit, no
    partial file left), and a later start writes a whole snapshot."""
    import subprocess
    import sys

    script = tmp_path / "exit_early.py"
    script.write_text(EXITING_EARLY, encoding="utf-8")
    counter = tmp_path / "pages"
    import os

    env = {**os.environ, "PYTHONPATH": str(repo_root)}  # the script imports the tests' fake embedder
    proc = subprocess.run([sys.executable, str(script), str(indexed.data_dir), str(indexed.corpus_dir), str(counter)],
                          cwd=repo_root, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "answered; exiting" in proc.stdout
    assert int(counter.read_text()) < 10  # stopped after a few pages, not after all 40
    left = [p.name for p in indexed.data_dir.iterdir() if p.name.endswith((".raw", ".tmp"))]
    assert left == []
    r = start(retriever(indexed, fake_embedder))  # the next start: a snapshot with its sentences
    assert r.search("Hvilke kommuner deltok i piloten?", k=3)
    assert start(retriever(indexed, fake_embedder)).loaded_from == "snapshot"


def test_a_document_marked_unsearchable_is_read_by_the_question_bank_only(settings, small_corpus, fake_embedder, tmp_path):
    """`searchable: false` (the English reflection questions): plain search and answers leave the
    document out, and the rest rank as in an index without it, even when its chunks are all a
    query's nearest (an English query and the English prompts); the question bank reads it.
    From the store and from the snapshot alike (the flag survives Chroma's metadata and the
    snapshot's document table)."""
    from assistant.core.question_bank import QuestionBank
    from assistant.core.scoring import SentenceScorer
    from tests.conftest import write_doc

    query = "Which role do you have in the town?"
    prompts = "\n".join(f"## Part {i}\n- Which role do you have in the town, part {i}?" for i in range(12))
    with_prompts = settings.model_copy(update={"candidates": 5})
    without = with_prompts.model_copy(update={"data_dir": tmp_path / "without"})
    sync_corpus(without, fake_embedder, store_of(without))  # the same material, no prompts
    write_doc(settings.corpus_dir, "questions/prompts-en.md", "Prompts", f"# Prompts\n{prompts}",
              kind="question", language="en", stage="[where_are_we]", searchable="false")
    sync_corpus(with_prompts, fake_embedder, store_of(with_prompts))

    plain = start(retriever(without, fake_embedder, snapshot=False))
    expected = [h.chunk.id for h in plain.search(query, k=5, mode="dense", apply_floor=False)]
    assert expected
    for loaded_from in ("store", "snapshot"):
        r = start(retriever(with_prompts, fake_embedder))
        assert r.loaded_from == loaded_from
        hidden = r.search(query, k=20, mode="dense", apply_floor=False, include_unsearchable=True)
        assert [h.chunk.meta.source for h in hidden[:12]] == ["questions/prompts-en.md"] * 12  # all nearer
        assert [h.chunk.id for h in r.search(query, k=5, mode="dense", apply_floor=False)] == expected
        found = r.search(query, k=20, apply_floor=False)
        assert found and all(h.chunk.meta.source != "questions/prompts-en.md" for h in found)
        assert r.search(query, k=20, mode="lexical", apply_floor=False, include_unsearchable=True)
        assert not r.search(query, k=20, mode="lexical", apply_floor=False)  # only the prompts have its words
        bank = QuestionBank(r, SentenceScorer(r, fake_embedder))
        asked = bank.questions(query, stage="where_are_we", n=2, language="en")
        assert asked and all(c.meta.source == "questions/prompts-en.md" for _, c in asked)
