"""The vector store: Chroma behind a small adapter (the `VectorStore` protocol, assistant/core/vectorstore.py).

Embedded `PersistentClient` under the data directory by default; `HttpClient`
when `chroma_host` is set. We always pass our own vectors (no Chroma embedding
function), and the collection's metadata records which embedding model built
it, so a query with another model fails with a clear message.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np

from assistant.core.errors import ServiceError
from assistant.core.provenance import is_provenance
from assistant.core.records import Chunk, DocumentMeta
from assistant.core.settings import ComponentConfig
from assistant.core.vectorstore import DenseMatch, IndexedFile  # noqa: F401 - re-exported: the values ChromaStore returns

import assistant.core.environment  # noqa: E402,F401  (telemetry off before chromadb loads)


class StoreError(ServiceError, RuntimeError):
    """The store could not be reached or used; the message says what to do."""


class ModelMismatchError(StoreError):
    """The index was built with another embedding model."""


def missing_index_message(name: str) -> str:
    """`open(create=False)` on an index that does not exist (every store says the same)."""
    return f"Indeksen «{name}» finnes ikke ennå. Kjør `assistant ingest` først."


def model_mismatch_message(name: str, built_with: str, model_id: str) -> str:
    """`open()` with another embedding model than the index was built with."""
    return (
        f"Indeksen «{name}» ble bygget med {built_with}, men innstillingene bruker {model_id}. "
        "Bygg indeksen på nytt: `assistant ingest --rebuild`."
    )


def _join(values: Iterable[object]) -> str:
    return ",".join(str(v) for v in values)


def _split(value: object) -> tuple[str, ...]:
    return tuple(v for v in str(value or "").split(",") if v)


def chunk_to_metadata(chunk: Chunk, file_key: str) -> dict[str, str | int | float | bool]:
    meta = chunk.meta
    out: dict[str, str | int | float | bool] = {
        "source": meta.source,
        "title": meta.title,
        "kind": meta.kind,
        "language": meta.language,
        "tags": _join(meta.tags),
        "gathering": _join(meta.gathering),
        "stage": _join(meta.stage),
        "summary": meta.summary,
        "searchable": meta.searchable,
        "heading_path": json.dumps(list(chunk.heading_path), ensure_ascii=False),
        "section": chunk.section,
        "position": chunk.position,
        "content_hash": chunk.content_hash,
        "file_hash": chunk.file_hash,
        "file_key": file_key,
        "provenance": chunk.provenance,
    }
    if chunk.page is not None:
        out["page"] = chunk.page
    if chunk.slide is not None:
        out["slide"] = chunk.slide
    return out


@lru_cache(maxsize=8192)
def _document_meta(source, title, kind, language, tags, gathering, stage, summary, searchable=True) -> DocumentMeta:
    """One (frozen) DocumentMeta per document, shared by its chunks: loading 50k chunks
    validated the same few hundred documents' metadata 50k times."""
    return DocumentMeta(
        source=source, title=title, kind=kind, language=language, tags=_split(tags),
        gathering=tuple(int(g) for g in _split(gathering)), stage=_split(stage), summary=summary,
        searchable=bool(searchable),
    )


def chunk_from_record(chunk_id: str, text: str, md: dict) -> Chunk:
    meta = _document_meta(
        md["source"], md.get("title", md["source"]), md.get("kind", "other"), md.get("language", "nb"),
        md.get("tags"), md.get("gathering"), md.get("stage"), md.get("summary", ""),
        md.get("searchable", True),  # absent in an index written before the field: searchable
    )
    return Chunk(
        id=chunk_id,
        text=text,
        meta=meta,
        heading_path=tuple(json.loads(md.get("heading_path") or "[]")),
        page=md.get("page"),
        slide=md.get("slide"),
        position=int(md.get("position", 0)),
        content_hash=md.get("content_hash", ""),
        file_hash=md.get("file_hash", ""),
        # An index written before chunks carried provenance has none: the chunk takes its kind's.
        provenance=md.get("provenance") if is_provenance(md.get("provenance")) else None,
    )


def indexed_files_of(records: Iterable[tuple[str, dict]]) -> dict[str, IndexedFile]:
    """source -> what is indexed for it, from (chunk id, metadata) pairs."""
    keys: dict[str, set[str]] = {}
    ids: dict[str, set[str]] = {}
    for chunk_id, md in records:
        source = md.get("source", "")
        keys.setdefault(source, set()).add(md.get("file_key", ""))
        ids.setdefault(source, set()).add(chunk_id)
    # A file whose chunks carry two keys was caught mid-write: report no key, so it is redone.
    return {
        src: IndexedFile(next(iter(keys[src])) if len(keys[src]) == 1 else "", frozenset(ids[src]))
        for src in ids
    }


class StoreConfig(ComponentConfig):
    """Where the index lives: a Chroma server (`chroma_host` set) or a folder, and the collection."""

    chroma_host: str | None
    chroma_port: int
    chroma_ssl: bool
    chroma_dir: Path
    collection: str

    @property
    def uses_chroma_server(self) -> bool:
        return bool(self.chroma_host)


# Sentence vectors are only ever read by id, never searched, but Chroma builds an HNSW graph for
# every collection. A sparse graph (8 candidates while building, 4 links a node instead of 100 and
# 16) makes writing them 2.5x faster (20k vectors: 16.5 s -> 6.6 s, docs/performance.md); reads by
# id do not use the graph. Collections made before keep the graph they were made with.
SENTENCE_HNSW = {"space": "cosine", "ef_construction": 8, "max_neighbors": 4}


class ChromaStore:
    """One collection of chunks with their vectors, and one of their sentence vectors
    (`VectorStore`). Every instance on the same config sees the same index, in this process
    and in others (another ingest's `bump_revision()` shows in `revision()`)."""

    def __init__(self, config: StoreConfig) -> None:
        self.config = config
        self._client = None
        self._collection = None
        self._sentences = None

    # -- connection ----------------------------------------------------------
    def _connect(self):
        if self._client is not None:
            return self._client
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        s = self.config
        try:
            if s.uses_chroma_server:
                self._client = chromadb.HttpClient(
                    host=s.chroma_host, port=s.chroma_port, ssl=s.chroma_ssl, settings=chroma_settings
                )
                self._client.heartbeat()
            else:
                s.chroma_dir.mkdir(parents=True, exist_ok=True)
                self._client = chromadb.PersistentClient(path=str(s.chroma_dir), settings=chroma_settings)
        except Exception as exc:  # noqa: BLE001 - chromadb raises many types for one cause
            self._client = None
            raise StoreError(self._unreachable_message(exc)) from exc
        return self._client

    def _unreachable_message(self, exc: Exception) -> str:
        s = self.config
        if s.uses_chroma_server:
            return (
                f"Fant ikke Chroma-tjeneren på {s.chroma_host}:{s.chroma_port} ({type(exc).__name__}). "
                f"Start den (chroma run --path DIR --host {s.chroma_host} --port {s.chroma_port}) "
                "eller fjern ASSISTANT_CHROMA_HOST for å bruke den innebygde lagringen."
            )
        return f"Kunne ikke åpne indeksen i {s.chroma_dir}: {exc}"

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001
            if self.config.uses_chroma_server and _looks_like_connection_error(exc):
                self._client = None
                self._collection = None
                self._sentences = None
                raise StoreError(self._unreachable_message(exc)) from exc
            raise

    def open(self, model_id: str, dim: int, *, create: bool) -> None:
        """Open (or create) the collection and check it was built with `model_id`."""
        client = self._connect()
        name = self.config.collection
        if create:
            col = self._call(
                client.get_or_create_collection,
                name,
                embedding_function=None,
                metadata={"embedding_model": model_id, "dim": dim, "revision": 0},
                configuration={"hnsw": {"space": "cosine"}},
            )
        else:
            try:
                col = self._call(client.get_collection, name, embedding_function=None)
            except StoreError:
                raise
            except Exception as exc:  # noqa: BLE001 - NotFoundError's type moved between releases
                raise StoreError(missing_index_message(name)) from exc
        built_with = (col.metadata or {}).get("embedding_model")
        if built_with and built_with != model_id:
            raise ModelMismatchError(model_mismatch_message(name, built_with, model_id))
        self._collection = col
        self._sentences = None
        if create:
            self._sentences = self._call(
                client.get_or_create_collection,
                self.sentence_collection_name,
                embedding_function=None,
                metadata={"embedding_model": model_id, "dim": dim},
                configuration={"hnsw": SENTENCE_HNSW},
            )

    @property
    def sentence_collection_name(self) -> str:
        """The sentence vectors of the chunks (`assistant/core/selection.py`), one record a sentence."""
        return f"{self.config.collection}-sentences"

    def _sentence_collection(self):
        """The sentence collection, or None where an older index has none (answers then embed
        sentences as they need them)."""
        if self._sentences is None:
            try:
                self._sentences = self._call(self._connect().get_collection, self.sentence_collection_name, embedding_function=None)
            except StoreError:
                raise
            except Exception:  # noqa: BLE001 - not there: NotFoundError's type moved between releases
                return None
        return self._sentences

    @property
    def collection(self):
        if self._collection is None:
            raise StoreError("The store is not open; call open() first.")
        return self._collection

    def drop(self) -> None:
        client = self._connect()
        for name in (self.config.collection, self.sentence_collection_name):
            try:
                self._call(client.delete_collection, name)
            except StoreError:
                raise
            except Exception:  # noqa: BLE001 - nothing to drop
                pass
        self._collection = None
        self._sentences = None

    # -- reading ---------------------------------------------------------------
    def count(self) -> int:
        return int(self._call(self.collection.count))

    def revision(self) -> int:
        self.collection  # noqa: B018 - open() first, as for every chunk method
        # Read by name, not from the open collection's cached metadata: another process bumps it.
        col = self._call(self._connect().get_collection, self.config.collection, embedding_function=None)
        return int((col.metadata or {}).get("revision", 0))

    def index_id(self) -> str:
        self.collection  # noqa: B018 - open() first
        # By name, as revision(): another process may have dropped and recreated the collection.
        return str(self._call(self._connect().get_collection, self.config.collection, embedding_function=None).id)

    PAGE = 5000  # Chroma refuses one get() of more than ~32k records ("too many SQL variables")

    def _get_all(self, include: list[str]) -> dict[str, list]:
        """The whole collection, read in pages."""
        out: dict[str, list] = {"ids": [], "documents": [], "metadatas": []}
        offset = 0
        while True:
            got = self._call(self.collection.get, include=include, limit=self.PAGE, offset=offset)
            out["ids"].extend(got["ids"])
            for key in ("documents", "metadatas"):
                out[key].extend(got.get(key) or [])
            if len(got["ids"]) < self.PAGE:
                return out
            offset += self.PAGE

    def indexed_files(self) -> dict[str, IndexedFile]:
        """source -> what is indexed for it."""
        got = self._get_all(["metadatas"])
        return indexed_files_of(zip(got["ids"], got["metadatas"]))

    def all_chunks(self) -> list[Chunk]:
        got = self._get_all(["documents", "metadatas"])
        return [chunk_from_record(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])]

    def query(self, vector: np.ndarray, n: int, kinds: tuple[str, ...] = ()) -> list[DenseMatch]:
        # No count() first to clamp n: Chroma (1.x, embedded and server) returns what there is when
        # the collection or the filter holds fewer than n, and nothing from an empty one
        # (tests/test_store_contract.py). Under many participants at once that count was a third
        # of the store's time per search (docs/performance.md, "Many participants at once").
        where = {"kind": {"$in": list(kinds)}} if kinds else None
        res = self._call(
            self.collection.query,
            query_embeddings=[np.asarray(vector, dtype=np.float32).tolist()],
            n_results=max(1, n),
            where=where,
            include=["distances"],
        )
        ids = res["ids"][0]
        distances = res["distances"][0]
        return [DenseMatch(i, 1.0 - float(d)) for i, d in zip(ids, distances)]

    # -- writing ---------------------------------------------------------------
    def upsert(self, chunks: list[Chunk], vectors: np.ndarray, file_key: str) -> None:
        if not chunks:
            return
        self._call(
            self.collection.upsert,
            ids=[c.id for c in chunks],
            embeddings=np.asarray(vectors, dtype=np.float32).tolist(),
            documents=[c.text for c in chunks],
            metadatas=[chunk_to_metadata(c, file_key) for c in chunks],
        )

    def update_metadata(self, chunks: list[Chunk], file_key: str) -> None:
        """Refresh metadata (position, file key) of chunks whose vectors are kept."""
        if chunks:
            self._call(
                self.collection.update,
                ids=[c.id for c in chunks],
                metadatas=[chunk_to_metadata(c, file_key) for c in chunks],
            )

    def delete(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        for start in range(0, len(ids), 1000):
            self._call(self.collection.delete, ids=ids[start : start + 1000])

    # -- sentence vectors --------------------------------------------------------
    # Written by ingest before the chunk they belong to and removed after it, so a chunk in the
    # index has its sentences unless a run was killed in between; a reader checks each sentence's
    # text and embeds what it does not find, so a missing or stale record costs time, never a
    # wrong answer.
    def upsert_sentences(self, chunk_ids: list[str], texts: list[list[str]], vectors: np.ndarray) -> None:
        col = self._sentence_collection()
        if col is None or not chunk_ids:
            return
        ids, docs, metas = [], [], []
        for chunk_id, sentences in zip(chunk_ids, texts):
            for n, text in enumerate(sentences):
                ids.append(f"{chunk_id}:{n}")
                docs.append(text)
                metas.append({"chunk_id": chunk_id})
        for start in range(0, len(ids), 1000):
            self._call(
                col.upsert,
                ids=ids[start : start + 1000],
                embeddings=np.asarray(vectors[start : start + 1000], dtype=np.float32).tolist(),
                documents=docs[start : start + 1000],
                metadatas=metas[start : start + 1000],
            )

    def sentence_vectors(self, sentences_per_chunk: dict[str, int]) -> dict[str, np.ndarray]:
        """Stored sentence text -> vector for the given chunks and their number of sentences ({}
        when none are stored). Read by id: a metadata filter over every sentence of a large index
        costs tens of milliseconds, a primary-key lookup does not."""
        col = self._sentence_collection()
        ids = [f"{chunk_id}:{n}" for chunk_id, count in sentences_per_chunk.items() for n in range(count)]
        if col is None or not ids:
            return {}
        got = self._call(col.get, ids=ids, include=["documents", "embeddings"])
        embeddings = got.get("embeddings")
        if embeddings is None:
            return {}
        return {doc: np.asarray(vec, dtype=np.float32) for doc, vec in zip(got.get("documents") or [], embeddings)}

    def all_sentence_vectors(self) -> Iterator[tuple[list[str], list[str], np.ndarray]]:
        col = self._sentence_collection()
        if col is None:
            return
        offset = 0
        while True:
            got = self._call(col.get, include=["documents", "embeddings"], limit=self.PAGE, offset=offset)
            ids = list(got["ids"])
            if ids:
                vectors = np.asarray(got.get("embeddings"), dtype=np.float32).reshape(len(ids), -1)
                yield ids, list(got.get("documents") or []), vectors
            if len(ids) < self.PAGE:
                return
            offset += self.PAGE

    def delete_sentences(self, chunk_ids: Iterable[str]) -> None:
        col = self._sentence_collection()
        chunk_ids = list(chunk_ids)
        if col is None:
            return
        for start in range(0, len(chunk_ids), 500):
            self._call(col.delete, where={"chunk_id": {"$in": chunk_ids[start : start + 500]}})

    def bump_revision(self) -> int:
        """One more than the revision stored now, read by name as `revision()` does: the open
        collection's metadata is a copy from when it was opened, and on a server another process
        (another replica's upload) may have bumped it since. Counting on from that copy would
        write back a number a reader already saw, and its lexical index would miss this change.

        Two writers that bump at the same moment may both write N+1. No change is lost to a
        reader even then: each writer finished its changes before reading N, so whoever first
        sees N+1 reloads after both writers' changes were in."""
        self.collection  # noqa: B018 - open() first
        current = self._call(self._connect().get_collection, self.config.collection, embedding_function=None)
        md = dict(current.metadata or {})
        md["revision"] = int(md.get("revision", 0)) + 1
        md.pop("hnsw:space", None)
        self._call(current.modify, metadata=md)
        return md["revision"]


def _looks_like_connection_error(exc: Exception) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return any(w in text for w in ("connect", "refused", "timeout", "unreachable", "could not connect"))
