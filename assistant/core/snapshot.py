"""The retrieval snapshot: what the retriever holds in memory (every chunk and the BM25 index),
saved beside the data so that a restart loads it instead of reading every record from the
store, stemming every text and scoring BM25 again (docs/performance.md has the figures).

Two files in the data directory: `retrieval-snapshot-<collection>.npz` (the chunks as columns,
the BM25 matrix and vocabulary: numpy arrays and UTF-8 JSON in an uncompressed zip, read with
`allow_pickle=False`, so nothing in it can run code) and the sentence vectors it names,
`retrieval-snapshot-<collection>.sentences-<token>.npy`, memory-mapped. The .npz is written to a
temporary file in the same folder and renamed over the old one, so a reader sees the old snapshot
or the new one, never half of one; a file that is truncated or damaged anyway is rebuilt, not
served. The sentence vectors are added after (`add_sentences`), by a thread of the retriever.

A snapshot is only used when its key matches the store as read at start:
- the index's identity (`VectorStore.index_id()`: a dropped and recreated index has a new one),
- its revision (every writer bumps it after its changes),
- its number of chunks (catches a writer that changed the index without bumping the revision),
- the fingerprint: the chunking and embedding settings, the embedding model, the lexical index's
  version (`LEXICAL_VERSION`) and this file format.
The store is asked each time (on a Chroma server that is three small requests), so a change made
by another process, or by another replica on a shared server, is noticed. Ingest deletes the
snapshot of its data directory after it changed the index (`delete_snapshot`); a replica with
another data directory notices the new revision.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from assistant.core.errors import AssistantError
from assistant.core.lexical import LEXICAL_VERSION, LexicalIndex, LexicalState
from assistant.core.provenance import PROVENANCES
from assistant.core.records import Chunk, DocumentMeta
from assistant.core.settings import ComponentConfig, Settings

log = logging.getLogger(__name__)

FORMAT = 1  # bump when the file's layout changes


@dataclass(frozen=True)
class SnapshotKey:
    """The state of the index a snapshot was built from (module docstring)."""

    index_id: str
    revision: int
    count: int
    fingerprint: str


class SnapshotConfig(ComponentConfig):
    """Whether to keep a snapshot, where, and the settings that shape what it holds."""

    retrieval_snapshot: bool
    retrieval_snapshot_path: Path
    retrieval_fingerprint: str


class WriterStopped(AssistantError):
    """The process is exiting: the snapshot's sentence vectors are left for the next start (never
    shown to a user: `add_sentences` logs it and answers read sentence vectors from the store)."""

    default_message = "Prosessen avsluttes; neste oppstart legger setningsvektorene i øyeblikksbildet."


class RetrievalSnapshot:
    """Reads and writes one snapshot file (module docstring)."""

    def __init__(self, config: SnapshotConfig) -> None:
        self.config = config
        self.path = config.retrieval_snapshot_path

    @classmethod
    def from_settings(cls, settings: Settings) -> "RetrievalSnapshot | None":
        """The snapshot the settings ask for, or None when `retrieval_snapshot` is off."""
        config = SnapshotConfig.from_settings(settings)
        return cls(config) if config.retrieval_snapshot else None

    def key(self, *, index_id: str, revision: int, count: int, model_id: str) -> SnapshotKey:
        fingerprint = f"{FORMAT}|{LEXICAL_VERSION}|{self.config.retrieval_fingerprint}|{model_id}"
        return SnapshotKey(index_id=index_id, revision=revision, count=count, fingerprint=fingerprint)

    # -- reading ---------------------------------------------------------------------------
    def load(self, key: SnapshotKey) -> "Loaded | None":
        """The chunks (as a `ChunkTable`, in the order they were saved), their lexical index and
        their sentence vectors, or None when there is no snapshot, it was built from another
        state of the index (`key`), or it cannot be read (then it is logged and the caller rebuilds)."""
        if not self.path.exists():
            return None
        try:
            with np.load(self.path, allow_pickle=False) as z:
                header = _json(z["header"])
                if header.get("key") != asdict(key):
                    return None
                table = ChunkTable.from_arrays(z)
                if len(table) != key.count:
                    raise ValueError(f"{len(table)} chunks, the key says {key.count}")
                state = None
                if len(table):
                    state = LexicalState(
                        vocab=_json(z["vocab"]), df=z["df"], data=z["data"], indices=z["indices"], indptr=z["indptr"]
                    )
                lexical = LexicalIndex.restored(table.ids, table.kinds(), state)
                sentences = None
                if header.get("sentences"):
                    if not isinstance(header["sentences"], str) or not header["sentences"].isalnum():
                        raise ValueError("bad sentence vectors file name")
                    sentences = SentenceTable.read(
                        table, z, self.path.with_name(_sentence_file(self.path, str(header["sentences"]))))
                return Loaded(table, lexical, sentences)
        except Exception as exc:  # noqa: BLE001 - a bad file of any kind is rebuilt, never fatal
            log.warning("retrieval snapshot %s unreadable (%s: %s); rebuilding it", self.path, type(exc).__name__, exc)
            return None

    # -- writing ---------------------------------------------------------------------------
    def save(self, key: SnapshotKey, chunks: list[Chunk], lexical: LexicalIndex) -> bool:
        """Write the snapshot for `key`: the chunks and their lexical index (the sentence vectors
        come after, `add_sentences`). Atomically: a temporary file renamed over the old snapshot,
        so a reader sees the old one or the new one, never half of one. A failure (a read-only
        data directory, a full disk) is logged and leaves no file: serving goes on."""
        key = replace(key, count=len(chunks))
        try:
            arrays = ChunkTable.arrays_of(chunks)
            state = lexical.state()
            if state is not None:
                arrays.update(vocab=_bytes(state.vocab), df=state.df, data=state.data, indices=state.indices,
                              indptr=state.indptr)
            arrays["header"] = _bytes({"format": FORMAT, "key": asdict(key), "sentences": None})
            self._write(arrays)
            self._remove_vectors(keep=None)
            return True
        except Exception as exc:  # noqa: BLE001 - serving does not depend on it
            log.warning("could not write the retrieval snapshot %s (%s: %s)", self.path, type(exc).__name__, exc)
            return False

    def add_sentences(self, key: SnapshotKey, pages: Iterable[tuple[list[str], list[str], np.ndarray]]) -> bool:
        """Add the sentence vectors (`VectorStore.all_sentence_vectors()`, read a page at a time) to
        the snapshot written for `key`, if it is still the one on disk. The vectors go to a file
        of their own with a new name, a page at a time (reading them all at once would double
        what Chroma holds), then the snapshot is rewritten to name it. Slow on a large index
        (Chroma pages through every sentence), so the retriever runs it in a thread of its own."""
        vector_path = None
        try:
            table, arrays = None, None
            with np.load(self.path, allow_pickle=False) as z:
                if _json(z["header"]).get("key") != asdict(key):
                    return False
                arrays = {name: z[name] for name in z.files}
                table = ChunkTable.from_arrays(z)
            token = uuid.uuid4().hex
            vector_path = self.path.with_name(_sentence_file(self.path, token))
            sentence_arrays = SentenceTable.write(table, pages, vector_path)
            if sentence_arrays is None:  # the index has no sentence records
                vector_path.unlink(missing_ok=True)
                return False
            with np.load(self.path, allow_pickle=False) as z:  # still the same snapshot?
                if _json(z["header"]).get("key") != asdict(key):
                    vector_path.unlink(missing_ok=True)
                    return False
            arrays.update(sentence_arrays)
            arrays["header"] = _bytes({"format": FORMAT, "key": asdict(key), "sentences": token})
            self._write(arrays)
            self._remove_vectors(keep=vector_path.name)
            return True
        except Exception as exc:  # noqa: BLE001 - answers then read sentence vectors from the store
            (log.info if isinstance(exc, WriterStopped) else log.warning)(
                "could not add sentence vectors to %s (%s: %s)", self.path, type(exc).__name__, exc)
            if vector_path is not None:
                vector_path.unlink(missing_ok=True)
            return False

    def _write(self, arrays: dict[str, np.ndarray]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _remove_vectors(self, keep: str | None) -> None:
        for old in self.path.parent.glob(_sentence_file(self.path, "*")):
            if old.name != keep:  # a reader that mapped it keeps its mapping
                old.unlink(missing_ok=True)

    def delete(self) -> None:
        _delete(self.path)


@dataclass
class Loaded:
    """What a snapshot holds (`RetrievalSnapshot.load`)."""

    chunks: "ChunkTable"
    lexical: LexicalIndex
    sentences: "SentenceTable | None"  # None: the snapshot has none, ask the store


def delete_snapshot(settings: Settings) -> None:
    """Remove the data directory's snapshot (ingest, after it changed the index). Whether or not
    snapshots are on: one left from when they were would be checked against the index anyway,
    but need not take the space."""
    _delete(SnapshotConfig.from_settings(settings).retrieval_snapshot_path)


def _delete(path: Path) -> None:
    path.unlink(missing_ok=True)
    for vectors in path.parent.glob(_sentence_file(path, "*")) if path.parent.exists() else ():
        vectors.unlink(missing_ok=True)


def _sentence_file(path: Path, token: str) -> str:
    return f"{path.stem}.sentences-{token}.npy"


class SentenceTable:
    """The stored sentence vectors of a `ChunkTable`'s chunks: sentence texts, and the vectors in
    a memory-mapped file (only the rows an answer reads are paged in). Sentences are listed by
    chunk: those of chunk i are entries `starts[i]` to `starts[i + 1]`, each with its number and
    the row of its vector in the file (rows are in the order the store gave them)."""

    def __init__(self, chunks: "ChunkTable", rows: np.ndarray, ns: np.ndarray, positions: np.ndarray, texts: Strings,
                 vectors: np.ndarray) -> None:
        m = len(texts)
        if (rows.shape != (m,) or ns.shape != (m,) or positions.shape != (m,) or vectors.ndim != 2
                or vectors.shape[0] != m or vectors.dtype != np.float32
                or (m and (int(rows.min()) < 0 or int(rows.max()) >= len(chunks)
                           or int(positions.min()) < 0 or int(positions.max()) >= m))
                or bool(np.any(np.diff(rows) < 0))):
            raise ValueError("sentence columns do not fit")
        self._chunks = chunks
        self._starts = np.searchsorted(rows, np.arange(len(chunks) + 1)).tolist()
        self._ns, self._positions, self._texts, self._vectors = ns.tolist(), positions.tolist(), texts, vectors

    @classmethod
    def read(cls, chunks: "ChunkTable", z, vector_path: Path) -> "SentenceTable":
        vectors = np.load(vector_path, mmap_mode="r", allow_pickle=False)
        return cls(chunks, z["sentence_rows"], z["sentence_ns"], z["sentence_positions"], Strings.read(z, "sentence_texts"),
                   vectors)

    def vectors(self, sentences_per_chunk: dict[str, int]) -> dict[str, np.ndarray]:
        """As `VectorStore.sentence_vectors`: stored sentence text -> vector, for sentences
        0..count-1 of each chunk (chunk id -> count)."""
        out: dict[str, np.ndarray] = {}
        for chunk_id, count in sentences_per_chunk.items():
            i = self._chunks.row(chunk_id)
            if i is None:
                continue
            for r in range(self._starts[i], self._starts[i + 1]):
                if self._ns[r] < count:
                    out[self._texts[r]] = np.array(self._vectors[self._positions[r]], dtype=np.float32)
        return out

    @staticmethod
    def write(chunks: "ChunkTable", pages: Iterable[tuple[list[str], list[str], np.ndarray]], path: Path
              ) -> dict[str, np.ndarray] | None:
        """Write the vectors of the sentences of `chunks` to `path` (.npy) a page at a time, and
        return the columns that find them (None when there are none). Sentences of other chunks
        are left out."""
        rows: list[int] = []
        ns: list[int] = []
        texts: list[str] = []
        dim = None
        raw = path.with_name(path.name + ".raw")
        try:
            with raw.open("wb") as f:
                for ids, page_texts, vectors in pages:
                    vectors = np.asarray(vectors, dtype=np.float32)
                    keep = []
                    for k, (sentence_id, text) in enumerate(zip(ids, page_texts)):
                        chunk_id, _, n = sentence_id.rpartition(":")
                        row = chunks.row(chunk_id)
                        if row is not None and n.isdigit() and isinstance(text, str):
                            rows.append(row)
                            ns.append(int(n))
                            texts.append(text)
                            keep.append(k)
                    if keep:
                        if dim is not None and vectors.shape[1] != dim:
                            raise ValueError("sentence vectors of different dimensions")
                        dim = vectors.shape[1]
                        f.write(np.ascontiguousarray(vectors[keep]).tobytes())
            if not texts:
                return None
            with path.open("wb") as out, raw.open("rb") as f:  # the .npy header, then the rows as written
                np.lib.format.write_array_header_1_0(out, {"descr": "<f4", "fortran_order": False, "shape": (len(texts), dim)})
                shutil.copyfileobj(f, out, 1 << 22)
                out.flush()
                os.fsync(out.fileno())
        finally:
            raw.unlink(missing_ok=True)
        order = np.lexsort((np.asarray(ns, dtype=np.int64), np.asarray(rows, dtype=np.int64)))
        text_buffer, text_ends = Strings.arrays([texts[k] for k in order.tolist()])
        return {
            "sentence_rows": np.asarray(rows, dtype=np.int64)[order],
            "sentence_ns": np.asarray(ns, dtype=np.int64)[order],
            "sentence_positions": order.astype(np.int64),
            "sentence_texts": text_buffer,
            "sentence_texts_ends": text_ends,
        }


class Strings:
    """Many strings in one UTF-8 buffer and the end offset of each: string i is made when asked for."""

    def __init__(self, buffer: bytes, ends: np.ndarray) -> None:
        if ends.ndim != 1 or (len(ends) and (int(ends[-1]) != len(buffer) or int(ends[0]) < 0
                                             or bool(np.any(np.diff(ends) < 0)))):
            raise ValueError("string offsets do not fit their buffer")
        buffer.decode("utf-8")  # a damaged buffer fails here, not when a string is read
        self._buffer, self._ends = buffer, ends.tolist()

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, i: int) -> str:
        return self._buffer[self._ends[i - 1] if i else 0 : self._ends[i]].decode("utf-8")

    @staticmethod
    def arrays(strings: list[str]) -> tuple[np.ndarray, np.ndarray]:
        encoded = [t.encode("utf-8") for t in strings]
        return np.frombuffer(b"".join(encoded), dtype=np.uint8), np.cumsum([len(t) for t in encoded], dtype=np.int64)

    @classmethod
    def read(cls, z, name: str) -> "Strings":
        return cls(_uint8(z[name]).tobytes(), z[name + "_ends"].astype(np.int64, copy=False))


NONE = np.iinfo(np.int64).min  # page or slide not set


_SAYS_UNSEARCHABLE = re.compile(r'"searchable"\s*:\s*false')


class ChunkTable(Mapping[str, Chunk]):
    """Chunk id -> `Chunk` over a snapshot's columns, each `Chunk` made (and validated, as any
    record) the first time it is asked for: a start needs the ids and kinds of 50k chunks, not
    50k objects, nor the metadata of every document.

    Columns: the ids; the texts, the two hashes and each document's metadata (JSON) as `Strings`;
    each document's kind; one row of integers per chunk: its document, heading path, position,
    page, slide and provenance (the first, second and last as indexes into their tables). The
    shapes, the ranges of the indexes and that every buffer is UTF-8 are checked when the table
    is made; the zip's checksums catch a damaged file before that."""

    COLUMNS = ("document", "heading_path", "position", "page", "slide", "provenance")

    def __init__(self, ids: list[str], texts: Strings, content_hashes: Strings, file_hashes: Strings,
                 documents: Strings, document_kinds: list[str], headings: list[tuple[str, ...]], rows: np.ndarray,
                 provenances: list[str]) -> None:
        n = len(ids)
        if (rows.shape != (n, len(self.COLUMNS)) or not len(texts) == len(content_hashes) == len(file_hashes) == n
                or len(documents) != len(document_kinds)):
            raise ValueError("chunk columns of different lengths")
        for column, table in ((0, document_kinds), (1, headings), (5, provenances)):
            if n and (int(rows[:, column].min()) < 0 or int(rows[:, column].max()) >= len(table)):
                raise ValueError(f"chunk column {self.COLUMNS[column]} points outside its table")
        if not all(p in PROVENANCES for p in provenances):
            raise ValueError("unknown provenance")
        if not all(isinstance(i, str) for i in ids) or not all(isinstance(k, str) for k in document_kinds):
            raise ValueError("an id or a kind that is not text")
        self.ids = ids
        self._row = {cid: i for i, cid in enumerate(ids)}
        if len(self._row) != n:
            raise ValueError("an id appears twice")
        self._texts, self._content_hashes, self._file_hashes = texts, content_hashes, file_hashes
        self._documents, self._document_kinds, self._headings = documents, document_kinds, headings
        self._rows, self._provenances = rows, provenances
        self._metas: dict[int, DocumentMeta] = {}
        self._made: dict[str, Chunk] = {}

    def kinds(self) -> list[str]:
        return [self._document_kinds[d] for d in self._rows[:, 0].tolist()]

    def unsearchable_ids(self) -> frozenset[str]:
        """The chunks of documents marked `searchable: false` (each document's metadata read
        once, no `Chunk` made)."""
        # Only a document whose JSON says so is parsed (at 50k chunks, parsing every document's
        # metadata was 0.7 s of a start).
        hidden = [d for d in range(len(self._document_kinds))
                  if _SAYS_UNSEARCHABLE.search(self._documents[d]) and not self._meta(d).searchable]
        if not hidden:
            return frozenset()
        return frozenset(self.ids[i] for i in np.flatnonzero(np.isin(self._rows[:, 0], hidden)).tolist())

    def __getitem__(self, chunk_id: str) -> Chunk:
        chunk = self._made.get(chunk_id)
        if chunk is None:
            chunk = self._make(self._row[chunk_id])
            self._made[chunk_id] = chunk  # two threads may both make it: the same value either way
        return chunk

    def _meta(self, doc: int) -> DocumentMeta:
        meta = self._metas.get(doc)
        if meta is None:
            meta = DocumentMeta.model_validate_json(self._documents[doc])
            if meta.kind != self._document_kinds[doc]:
                raise ValueError(f"document {doc} is of kind {meta.kind!r}, its column says {self._document_kinds[doc]!r}")
            self._metas[doc] = meta
        return meta

    def _make(self, i: int) -> Chunk:
        doc, heading, position, page, slide, provenance = self._rows[i].tolist()
        return Chunk(
            id=self.ids[i], text=self._texts[i], meta=self._meta(doc), heading_path=self._headings[heading],
            position=position, page=None if page == NONE else page, slide=None if slide == NONE else slide,
            content_hash=self._content_hashes[i], file_hash=self._file_hashes[i], provenance=self._provenances[provenance],
        )

    def __contains__(self, chunk_id: object) -> bool:
        return chunk_id in self._row

    def row(self, chunk_id: str) -> int | None:
        return self._row.get(chunk_id)

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_arrays(cls, z) -> "ChunkTable":
        return cls(
            ids=_json(z["ids"]),
            texts=Strings.read(z, "texts"),
            content_hashes=Strings.read(z, "content_hashes"),
            file_hashes=Strings.read(z, "file_hashes"),
            documents=Strings.read(z, "documents"),
            document_kinds=_json(z["document_kinds"]),
            headings=[tuple(str(h) for h in path) for path in _json(z["headings"])],
            rows=z["rows"].astype(np.int64, copy=False),
            provenances=_json(z["provenances"]),
        )

    @staticmethod
    def arrays_of(chunks: list[Chunk]) -> dict[str, np.ndarray]:
        """The columns of `chunks`, as `from_arrays` reads them."""
        documents: dict[DocumentMeta, int] = {}
        headings: dict[tuple[str, ...], int] = {}
        provenances: dict[str, int] = {}
        rows = np.empty((len(chunks), len(ChunkTable.COLUMNS)), dtype=np.int64)
        for i, c in enumerate(chunks):
            rows[i] = (
                documents.setdefault(c.meta, len(documents)), headings.setdefault(c.heading_path, len(headings)),
                c.position, NONE if c.page is None else c.page, NONE if c.slide is None else c.slide,
                provenances.setdefault(c.provenance, len(provenances)),
            )
        out: dict[str, np.ndarray] = {}
        for name, strings in (("texts", [c.text for c in chunks]), ("content_hashes", [c.content_hash for c in chunks]),
                              ("file_hashes", [c.file_hash for c in chunks]),
                              ("documents", [d.model_dump_json() for d in documents])):
            out[name], out[name + "_ends"] = Strings.arrays(strings)
        return {
            **out,
            "ids": _bytes([c.id for c in chunks]),
            "document_kinds": _bytes([d.kind for d in documents]),
            "headings": _bytes([list(h) for h in headings]),
            "rows": rows,
            "provenances": _bytes(list(provenances)),
        }


def _bytes(value: object) -> np.ndarray:
    return np.frombuffer(json.dumps(value, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)


def _json(array: np.ndarray) -> object:
    return json.loads(_uint8(array).tobytes().decode("utf-8"))


def _uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype != np.uint8 or array.ndim != 1:
        raise ValueError(f"expected bytes, got {array.dtype} {array.shape}")
    return array
