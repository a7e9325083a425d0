"""The `VectorStore` contract (assistant/core/vectorstore.py), one test run against every store:
Chroma embedded in a temp folder and the in-memory store. Hand-made chunks and vectors, so every
expected order and similarity is known; each test checks one part of the contract."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from assistant.core.memory_store import InMemoryStore
from assistant.core.records import Chunk, DocumentMeta
from assistant.core.store import ChromaStore, ModelMismatchError, StoreConfig, StoreError
from assistant.core.vectorstore import IndexedFile, VectorStore

MODEL, DIM = "test/model-4", 4
PROTOCOL_METHODS = sorted(n for n, v in vars(VectorStore).items() if callable(v) and not n.startswith("_"))


@pytest.fixture(params=["chroma", "memory"])
def store(request, settings) -> VectorStore:
    return ChromaStore(StoreConfig.from_settings(settings)) if request.param == "chroma" else InMemoryStore()


def chunk(cid: str, *, source: str = "programme/piloten.md", kind: str = "programme", text: str | None = None,
          position: int = 0, page: int | None = None, slide: int | None = None, provenance: str | None = None) -> Chunk:
    meta = DocumentMeta(
        source=source, title=f"Tittel for {source} – æøå", kind=kind, language="en", tags=("by", "natur"),
        gathering=(1, 3), stage=("where_to", "next_step"), summary="Et sammendrag, med komma.",
    )
    return Chunk(
        id=cid, text=text or f"Tekst i {cid}.", meta=meta, heading_path=("Om piloten", "Kommunene"),
        page=page, slide=slide, position=position, content_hash=f"c-{cid}", file_hash=f"f-{source}",
        **({"provenance": provenance} if provenance else {}),
    )


A = chunk("a", kind="programme", page=3)
B = chunk("b", kind="question", position=1, slide=2, provenance="programme")  # a programme's question, not its kind's default
C = chunk("c", source="leadership/regenerativ.md", kind="leadership")
D = chunk("d", source="leadership/regenerativ.md", kind="question", position=1)
VECTORS = np.asarray([[1, 0, 0, 0], [1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]], dtype=np.float32)
QUERY = np.asarray([1.0, 0.2, 0.0, 0.0], dtype=np.float32)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture
def filled(store) -> VectorStore:
    """A, B from one file (key k1), C, D from another (key k2)."""
    store.open(MODEL, DIM, create=True)
    store.upsert([A, B], VECTORS[:2], file_key="k1")
    store.upsert([C, D], VECTORS[2:], file_key="k2")
    return store


def by_id(store: VectorStore) -> dict[str, Chunk]:
    return {c.id: c for c in store.all_chunks()}


def test_both_stores_are_vector_stores(store):
    assert isinstance(store, VectorStore)
    for name in PROTOCOL_METHODS:  # same parameters (names, kinds, defaults) as the protocol says
        expected = [(p.name, p.kind, p.default) for p in inspect.signature(getattr(VectorStore, name)).parameters.values()]
        assert [(p.name, p.kind, p.default) for p in inspect.signature(getattr(type(store), name)).parameters.values()] == expected, name


def test_a_missing_index_is_not_opened_without_create(store):
    with pytest.raises(StoreError, match="assistant ingest"):
        store.open(MODEL, DIM, create=False)
    with pytest.raises(StoreError):
        store.count()  # not open


def test_a_new_index_is_empty_at_revision_zero(store):
    store.open(MODEL, DIM, create=True)
    assert store.count() == 0 and store.revision() == 0
    assert store.all_chunks() == [] and store.indexed_files() == {}
    assert store.query(QUERY, 5) == []


def test_chunks_come_back_equal_to_what_was_written(filled):
    assert filled.count() == 4
    assert by_id(filled) == {"a": A, "b": B, "c": C, "d": D}
    assert by_id(filled)["a"].page == 3 and by_id(filled)["b"].slide == 2 and by_id(filled)["a"].section == "Om piloten > Kommunene"
    # Provenance as written (issue #20), also where it is not the kind's fallback.
    assert {cid: c.provenance for cid, c in by_id(filled).items()} == {"a": "programme", "b": "programme", "c": "literature", "d": "assistant"}


def test_query_ranks_by_cosine_most_similar_first(filled):
    matches = filled.query(QUERY, 4)
    assert [m.id for m in matches] == ["a", "b", "c", "d"]
    for m, row in zip(matches, VECTORS):
        assert m.similarity == pytest.approx(cosine(QUERY, row), abs=1e-4)
    assert [m.id for m in filled.query(QUERY, 2)] == ["a", "b"]
    assert [m.id for m in filled.query(QUERY, 50)] == ["a", "b", "c", "d"]  # n above the count: all of them
    assert [m.id for m in filled.query(np.asarray([0, 0, 3, 0.5]), 1)] == ["d"]  # any length; only the direction counts


def test_query_keeps_only_the_given_kinds(filled):
    assert [m.id for m in filled.query(QUERY, 4, kinds=("question",))] == ["b", "d"]
    assert [m.id for m in filled.query(QUERY, 1, kinds=("question",))] == ["b"]
    assert [m.id for m in filled.query(QUERY, 4, kinds=("leadership", "programme"))] == ["a", "c"]
    assert filled.query(QUERY, 4, kinds=("no-such-kind",)) == []


def test_writing_an_id_again_replaces_text_vector_and_metadata(filled):
    assert filled.query(QUERY, 1)[0].id == "a"  # searched once before the write, too
    new_a = chunk("a", kind="question", text="Ny tekst.", position=7, page=3)
    filled.upsert([new_a], np.asarray([[0, 0, 0, 1]], dtype=np.float32), file_key="k1")
    assert filled.count() == 4 and by_id(filled)["a"] == new_a
    assert filled.query(QUERY, 1)[0].id == "b"  # a's old vector is gone
    assert filled.query(np.asarray([0, 0, 0, 1.0]), 1, kinds=("question",))[0].id == "a"  # its new one and kind count


def test_update_metadata_keeps_text_and_vector_and_ignores_unknown_ids(filled):
    moved = chunk("a", kind="programme", position=9, page=3)
    filled.update_metadata([moved, chunk("zz")], file_key="k3")
    assert filled.count() == 4 and "zz" not in by_id(filled)
    assert by_id(filled)["a"].position == 9 and by_id(filled)["a"].text == A.text
    assert filled.query(QUERY, 1)[0].id == "a" and filled.query(QUERY, 1)[0].similarity == pytest.approx(cosine(QUERY, VECTORS[0]), abs=1e-4)
    assert filled.indexed_files()["programme/piloten.md"].file_key == ""  # a now says k3, b still k1


def test_delete_removes_chunks_and_ignores_unknown_ids(filled):
    assert len(filled.query(QUERY, 4)) == 4  # searched once before the delete, too
    filled.delete(frozenset({"a", "nope"}))
    filled.delete(iter(["c"]))
    assert filled.count() == 2 and set(by_id(filled)) == {"b", "d"}
    assert [m.id for m in filled.query(QUERY, 4)] == ["b", "d"]


def test_indexed_files_name_each_source_with_its_key_and_ids(filled):
    assert filled.indexed_files() == {
        "programme/piloten.md": IndexedFile("k1", frozenset({"a", "b"})),
        "leadership/regenerativ.md": IndexedFile("k2", frozenset({"c", "d"})),
    }
    filled.upsert([D], VECTORS[3:], file_key="k2-new")  # a file caught mid-write: two keys
    assert filled.indexed_files()["leadership/regenerativ.md"] == IndexedFile("", frozenset({"c", "d"}))


def test_sentence_vectors_are_written_read_by_id_and_deleted_per_chunk(store):
    store.open(MODEL, DIM, create=True)
    vectors = np.asarray([[1, 0, 0, 0], [0, 2, 0, 0], [0, 0, 3, 0]], dtype=np.float32)
    store.upsert_sentences(["a", "b"], [["A en.", "A to."], ["B en."]], vectors)
    got = store.sentence_vectors({"a": 2, "b": 1})
    assert set(got) == {"A en.", "A to.", "B en."}
    assert np.allclose(got["A to."], [0, 2, 0, 0]) and np.allclose(got["B en."], [0, 0, 3, 0])  # as written, not rescaled
    assert set(store.sentence_vectors({"a": 1, "b": 5, "nope": 2})) == {"A en.", "B en."}  # only what is asked and stored
    assert store.sentence_vectors({}) == {}

    store.upsert_sentences(["a"], [["A ny."]], np.asarray([[0, 0, 0, 1]], dtype=np.float32))  # sentence 0 again
    assert set(store.sentence_vectors({"a": 2})) == {"A ny.", "A to."}
    store.delete_sentences(["a", "nope"])
    assert store.sentence_vectors({"a": 2}) == {} and set(store.sentence_vectors({"b": 1})) == {"B en."}


def test_revision_counts_bumps_and_survives_reopening(filled):
    assert filled.revision() == 0
    assert filled.bump_revision() == 1 and filled.bump_revision() == 2
    assert filled.revision() == 2
    filled.open(MODEL, DIM, create=True)  # an existing index is kept as it is
    assert filled.revision() == 2 and filled.count() == 4


def test_all_sentence_vectors_gives_every_stored_sentence(filled):
    assert [page for page in filled.all_sentence_vectors()] == []
    filled.upsert_sentences(["a", "c"], [["A en.", "A to."], ["C en."]], VECTORS[:3])
    filled.upsert_sentences(["a"], [["A ny."]], VECTORS[3:4])  # sentence 0 of a again
    got = {}
    for ids, texts, vectors in filled.all_sentence_vectors():
        assert len(ids) == len(texts) == len(vectors)
        got.update({i: (t, v) for i, t, v in zip(ids, texts, vectors)})
    expected = {"a:0": ("A ny.", VECTORS[3]), "a:1": ("A to.", VECTORS[1]), "c:0": ("C en.", VECTORS[2])}
    assert {i: t for i, (t, _) in got.items()} == {i: t for i, (t, _) in expected.items()}
    assert all(np.allclose(got[i][1], v, atol=1e-6) for i, (_, v) in expected.items())
    filled.delete_sentences(["a"])
    assert {i for ids, _, _ in filled.all_sentence_vectors() for i in ids} == {"c:0"}


def test_index_id_stays_until_the_index_is_dropped_and_made_again(filled):
    first = filled.index_id()
    assert isinstance(first, str) and first
    filled.bump_revision()
    filled.upsert([A], VECTORS[:1], file_key="k9")
    filled.open(MODEL, DIM, create=True)  # reopening keeps the index, and its id
    assert filled.index_id() == first
    filled.drop()
    with pytest.raises(StoreError):
        filled.index_id()  # closed
    filled.open(MODEL, DIM, create=True)
    assert filled.index_id() != first  # a new index, though at revision 0 like any new one


def test_another_model_is_refused_and_the_index_left_as_it_was(filled):
    filled.upsert_sentences(["a"], [["A en."]], VECTORS[:1])
    for create in (False, True):
        with pytest.raises(ModelMismatchError, match="--rebuild"):
            filled.open("test/another-model", DIM, create=create)
    filled.open(MODEL, DIM, create=False)
    assert filled.count() == 4 and set(filled.sentence_vectors({"a": 1})) == {"A en."}


def test_drop_removes_chunks_and_sentences_and_closes(filled):
    filled.upsert_sentences(["a"], [["A en."]], VECTORS[:1])
    filled.bump_revision()
    filled.drop()
    with pytest.raises(StoreError):
        filled.count()
    with pytest.raises(StoreError, match="assistant ingest"):
        filled.open(MODEL, DIM, create=False)
    assert filled.sentence_vectors({"a": 1}) == {}
    filled.upsert_sentences(["a"], [["A en."]], VECTORS[:1])  # no index: nothing to write to
    filled.drop()  # nothing to drop: no error
    filled.open(MODEL, DIM, create=True)
    assert filled.count() == 0 and filled.revision() == 0 and filled.sentence_vectors({"a": 1}) == {}


def test_only_chroma_shares_an_index_between_instances(settings):
    """Chroma's index is on disk for every process; the in-memory one belongs to its instance."""
    writer, reader = ChromaStore(StoreConfig.from_settings(settings)), ChromaStore(StoreConfig.from_settings(settings))
    writer.open(MODEL, DIM, create=True)
    writer.upsert([A], VECTORS[:1], file_key="k1")
    reader.open(MODEL, DIM, create=False)
    writer.bump_revision()
    assert reader.count() == 1 and reader.revision() == 1
    assert reader.index_id() == writer.index_id()
    old = reader.index_id()
    writer.drop()  # another handle drops and recreates it: the reader sees the new id
    writer.open(MODEL, DIM, create=True)
    assert reader.index_id() == writer.index_id() != old

    memory = InMemoryStore()
    memory.open(MODEL, DIM, create=True)
    memory.upsert([A], VECTORS[:1], file_key="k1")
    with pytest.raises(StoreError, match="assistant ingest"):
        InMemoryStore().open(MODEL, DIM, create=False)


def test_chroma_keeps_sentence_vectors_in_a_sparse_graph_and_the_chunks_in_a_full_one(settings):
    """Sentence vectors are read by id only: their collection gets the cheap HNSW graph
    (`SENTENCE_HNSW`), the chunks' collection, which is searched, keeps Chroma's defaults. Many
    sentence vectors still come back exactly by id."""
    from assistant.core.store import SENTENCE_HNSW

    store = ChromaStore(StoreConfig.from_settings(settings))
    store.open(MODEL, DIM, create=True)
    sentences = store._sentence_collection().configuration_json["hnsw"]
    chunks = store.collection.configuration_json["hnsw"]
    assert (sentences["ef_construction"], sentences["max_neighbors"]) == (SENTENCE_HNSW["ef_construction"], SENTENCE_HNSW["max_neighbors"])
    assert chunks["ef_construction"] > sentences["ef_construction"] and chunks["max_neighbors"] > sentences["max_neighbors"]
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((3000, DIM)).astype(np.float32)
    ids = [f"c{i}" for i in range(1000)]
    store.upsert_sentences(ids, [[f"{i} en.", f"{i} to.", f"{i} tre."] for i in ids], vectors)
    got = store.sentence_vectors({cid: 3 for cid in ids})
    assert len(got) == 3000 and np.allclose(got["c999 tre."], vectors[-1]) and np.allclose(got["c0 en."], vectors[0])
