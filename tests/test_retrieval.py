"""Retrieval: fusion logic (unit) and quality on the bundled corpus (integration, real embedder)."""

from __future__ import annotations

import pytest

from assistant.core.retrieval import RetrievalConfig, Retriever, weighted_rrf
from assistant.core.store import ChromaStore, StoreConfig
from evals.retrieval import load_retrieval_set, score_retrieval
from ingest.pipeline import sync_corpus


def test_weighted_rrf_orders_by_weighted_ranks():
    fused = weighted_rrf(["a", "b", "c"], ["c", "d"], k=60, dense_weight=0.8)
    # c is found by both lists and overtakes the dense winner; d (lexical only) is last.
    assert sorted(fused, key=fused.get, reverse=True) == ["c", "a", "b", "d"]
    assert weighted_rrf(["a"], ["b"], k=60, dense_weight=1.0)["b"] == 0.0


def test_bm25_top_n_is_the_head_of_the_full_ranking_with_and_without_a_kind_filter():
    import random

    from assistant.core.lexical import LexicalIndex
    from assistant.core.records import Chunk, DocumentMeta

    rng = random.Random(3)
    words = ["by", "leder", "samling", "klima", "bolig", "natur", "tillit", "sentrum", "plan", "medvirkning"]
    chunks = [
        Chunk(id=f"c{i}", text=" ".join(rng.choice(words) for _ in range(rng.randint(3, 30))),
              meta=DocumentMeta(source=f"d{i % 7}.md", title="", kind=("question", "programme", "leadership")[i % 3]),
              content_hash=str(i), file_hash=str(i))
        for i in range(400)
    ]
    index = LexicalIndex(chunks)
    every = index.search("klima og natur i sentrum", len(chunks))
    assert len(every) > 50 and all(a[1] >= b[1] for a, b in zip(every, every[1:]))
    top = index.search("klima og natur i sentrum", 20)
    assert [s for _, s in top] == [s for _, s in every[:20]]  # same scores, best first
    kind_of = {c.id: c.meta.kind for c in chunks}
    questions = index.search("klima og natur i sentrum", 10, kinds=("question",))
    assert questions and all(kind_of[i] == "question" for i, _ in questions)
    assert [s for _, s in questions] == [s for i, s in every if kind_of[i] == "question"][:10]
    assert index.search("klima", 5, kinds=("no-such-kind",)) == []


def test_a_compound_the_corpus_never_uses_is_searched_by_its_parts():
    from assistant.core.lexical import LexicalIndex, split_compound
    from assistant.core.records import Chunk, DocumentMeta

    texts = {
        "levels": "Deltakerne var ledere på nivå to og tre i kommuneorganisasjonen.",
        "places": "Samlingene ble holdt i fire byer på rundgang.",
        "budget": "Arbeidet ble finansiert av partene i fellesskap.",
    }
    chunks = [Chunk(id=i, text=t, meta=DocumentMeta(source=f"{i}.md", title="", kind="programme"), content_hash=i, file_hash=i)
              for i, t in texts.items()]
    index = LexicalIndex(chunks)
    assert index.document_frequency("ledernivå") == 0
    assert split_compound("ledernivå", index.document_frequency) == ("leder", "nivå")
    assert index.query_stems("Hvilket ledernivå?") == ["leder", "nivå"]
    assert [i for i, _ in index.search("Hvilket ledernivå hadde de?", 3)][0] == "levels"
    # Known words stay whole; a word with no known parts stays as written; short words are not split.
    assert index.query_stems("kommuneorganisasjonen") == index.query_stems("kommuneorganisasjonen")[:1]
    assert split_compound("fårikålen", index.document_frequency) is None
    assert split_compound("bynivå", index.document_frequency) is None


def test_kind_filter_and_floor(settings, small_corpus, fake_embedder, memory_store):
    sync_corpus(settings, fake_embedder, memory_store)
    retriever = Retriever(RetrievalConfig.from_settings(settings), memory_store, fake_embedder)
    hits = retriever.search("Hvilke kommuner deltok i piloten?", k=3)
    assert hits[0].chunk.meta.source == "programme/piloten.md"
    assert "Horten" in hits[0].chunk.text
    only_questions = retriever.search("byen din rolle", k=5, kinds=("question",))
    assert only_questions and {h.chunk.meta.kind for h in only_questions} == {"question"}
    strict = Retriever(RetrievalConfig.from_settings(settings).model_copy(update={"relevance_floor": 0.99}), memory_store, fake_embedder)
    assert strict.search("pannekaker med blåbær", k=3) == []


def test_retriever_sees_a_new_ingest_without_restart(settings, small_corpus, fake_embedder):
    sync_corpus(settings, fake_embedder, ChromaStore(StoreConfig.from_settings(settings)))
    retriever = Retriever(RetrievalConfig.from_settings(settings), ChromaStore(StoreConfig.from_settings(settings)), fake_embedder)
    retriever.REFRESH_EVERY_S = 0.0
    assert not retriever.search("sirkulærøkonomi kretsløp", k=3, mode="lexical")
    (small_corpus / "programme/ny.md").write_text("# Ny\nSirkulærøkonomi handler om kretsløp.", encoding="utf-8")
    sync_corpus(settings, fake_embedder, ChromaStore(StoreConfig.from_settings(settings)))
    assert retriever.search("sirkulærøkonomi kretsløp", k=3, mode="lexical")[0].chunk.meta.source == "programme/ny.md"


def test_retrieval_set_is_valid_and_points_at_real_documents(repo_root):
    cases = load_retrieval_set()
    assert len(cases) >= 30
    assert {c.language for c in cases} == {"nb", "en"}
    for case in cases:
        for source in case.expected:
            assert (repo_root / "corpus" / source).exists() or source.endswith(".pdf"), source


@pytest.mark.integration
def test_hybrid_retrieval_quality_on_bundled_corpus(bundled_runtime):
    cases = load_retrieval_set()
    test = [c for c in cases if c.split == "test"]
    scores = score_retrieval(bundled_runtime.retriever, test, mode="hybrid")
    assert scores.hit_at_5 >= 0.85, scores  # the frozen split: 16 of 18 measured on 2026-12-02
    # The test split holds only 2 English queries: English retrieval is checked over both splits.
    english = [c for c in cases if c.language == "en"]
    assert score_retrieval(bundled_runtime.retriever, english, mode="hybrid").hit_at_5 >= 0.8


@pytest.mark.integration
def test_search_floor_drops_unrelated_questions(bundled_runtime):
    assert bundled_runtime.retriever.search("What is the capital of Australia?") == []
    assert bundled_runtime.retriever.search("Hvilke kommuner deltok i piloten?")


def test_a_document_whose_title_names_the_question_s_focus_is_ranked_up(settings, fake_embedder, memory_store):
    """"Hva var erfaringene fra piloten?": the document titled "Erfaringer fra piloten" is about it,
    though another text repeats the question's words more often (`title_weight`)."""
    from .conftest import write_doc

    write_doc(settings.corpus_dir, "programme/erfaringer.md", "Erfaringer fra piloten", """
        # Erfaringer fra piloten
        Lederne trengte tid til å prøve ut ideer i egen organisasjon mellom samlingene.
        """)
    write_doc(settings.corpus_dir, "programme/om.md", "Om prosjektet", """
        # Om prosjektet
        Uten erfaringene fra piloten, og uten erfaringene fra andre piloter, ville beslutningen om piloten vært risikabel.
        """)
    sync_corpus(settings, fake_embedder, memory_store)
    config = RetrievalConfig.from_settings(settings)
    question = "Hva var erfaringene fra piloten?"
    plain = Retriever(config.model_copy(update={"title_weight": 0.0}), memory_store, fake_embedder).search(question, k=2, apply_floor=False)
    titled = Retriever(config, memory_store, fake_embedder).search(question, k=2, apply_floor=False)
    assert [h.chunk.meta.source for h in plain] == ["programme/om.md", "programme/erfaringer.md"]
    assert [h.chunk.meta.source for h in titled] == ["programme/erfaringer.md", "programme/om.md"]
    # One focus word is not enough to call a document "about" the question.
    one = Retriever(config, memory_store, fake_embedder).search("Hva med piloten?", k=2, apply_floor=False)
    assert one[0].chunk.meta.source == Retriever(config.model_copy(update={"title_weight": 0.0}), memory_store,
                                                 fake_embedder).search("Hva med piloten?", k=2, apply_floor=False)[0].chunk.meta.source
