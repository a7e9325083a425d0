"""The retrieval snapshot: what the retriever holds in memory (every chunk and the BM25 index),
saved beside the data so that a restart loads it instead of reading every record from the
store, stemming every text and scoring BM25 again (docs/performance.md has the figures).

One file, `<data_dir>/retrieval-snapshot-<collection>.npz`: numpy arrays and UTF-8 JSON in an
uncompressed zip, read with `allow_pickle=False` (nothing in it can run code). It is written to a
temporary file in the same folder and renamed over the old one, so a reader sees the old file or
the new one, never half of one; a file that is truncated or corrupt anyway is rebuilt, not served.

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
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from assistant.core.lexical import LEXICAL_VERSION, LexicalIndex, LexicalState
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
    def load(self, key: SnapshotKey) -> tuple[list[Chunk], LexicalIndex] | None:
        """The chunks (in the order they were saved) and their lexical index, or None when there
        is no snapshot, it was built from another state of the index (`key`), or it cannot be
        read (then it is logged and the caller rebuilds)."""
        if not self.path.exists():
            return None
        try:
            with np.load(self.path, allow_pickle=False) as z:
                header = _json(z["header"])
                if header.get("key") != asdict(key):
                    return None
                chunks = _chunks(_json(z["documents"]), _json(z["chunks"]))
                if len(chunks) != key.count:
                    raise ValueError(f"{len(chunks)} chunks, the key says {key.count}")
                state = None
                if chunks:
                    state = LexicalState(
                        vocab=_json(z["vocab"]), df=z["df"], data=z["data"], indices=z["indices"], indptr=z["indptr"]
                    )
                return chunks, LexicalIndex(chunks, state=state)
        except Exception as exc:  # noqa: BLE001 - a bad file of any kind is rebuilt, never fatal
            log.warning("retrieval snapshot %s unreadable (%s: %s); rebuilding it", self.path, type(exc).__name__, exc)
            return None

    # -- writing ---------------------------------------------------------------------------
    def save(self, key: SnapshotKey, chunks: list[Chunk], lexical: LexicalIndex) -> bool:
        """Write the snapshot for `key` (atomically: temporary file, then rename). A failure (a
        read-only data directory, a full disk) is logged and leaves no file: serving goes on."""
        key = replace(key, count=len(chunks))
        documents: dict[DocumentMeta, int] = {}
        rows = []
        for c in chunks:
            doc = documents.setdefault(c.meta, len(documents))
            rows.append([c.id, c.text, doc, list(c.heading_path), c.page, c.slide, c.position, c.content_hash,
                         c.file_hash, c.provenance])
        arrays: dict[str, np.ndarray] = {
            "header": _bytes({"format": FORMAT, "key": asdict(key)}),
            "documents": _bytes([d.model_dump(mode="json") for d in documents]),
            "chunks": _bytes(rows),
        }
        state = lexical.state()
        if state is not None:
            arrays.update(vocab=_bytes(state.vocab), df=state.df, data=state.data, indices=state.indices,
                          indptr=state.indptr)
        tmp = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent)
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            return True
        except Exception as exc:  # noqa: BLE001 - serving does not depend on it
            log.warning("could not write the retrieval snapshot %s (%s: %s)", self.path, type(exc).__name__, exc)
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
            return False

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)


def delete_snapshot(settings: Settings) -> None:
    """Remove the data directory's snapshot (ingest, after it changed the index). Whether or not
    snapshots are on: one left from when they were would be checked against the index anyway,
    but need not take the space."""
    SnapshotConfig.from_settings(settings).retrieval_snapshot_path.unlink(missing_ok=True)


def _bytes(value: object) -> np.ndarray:
    return np.frombuffer(json.dumps(value, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)


def _json(array: np.ndarray) -> object:
    if array.dtype != np.uint8 or array.ndim != 1:
        raise ValueError(f"expected UTF-8 bytes, got {array.dtype} {array.shape}")
    return json.loads(array.tobytes().decode("utf-8"))


def _chunks(documents: list, rows: list) -> list[Chunk]:
    """Chunks from the saved rows, validated as any other record (each document's metadata once)."""
    metas = [DocumentMeta.model_validate(d) for d in documents]
    out = []
    for cid, text, doc, heading_path, page, slide, position, content_hash, file_hash, provenance in rows:
        if not isinstance(doc, int) or not 0 <= doc < len(metas):
            raise ValueError(f"chunk {cid!r} names document {doc!r} of {len(metas)}")
        out.append(Chunk(id=cid, text=text, meta=metas[doc], heading_path=tuple(heading_path), page=page, slide=slide,
                         position=position, content_hash=content_hash, file_hash=file_hash, provenance=provenance))
    return out
