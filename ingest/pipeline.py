"""Ingest as a sync: make the index match the corpus folder.

Steps: discover files -> skip those whose bytes (and chunking settings) are
unchanged -> parse and chunk the rest -> embed only chunks the index lacks ->
write per file (new chunks, then metadata of kept chunks, then removals) ->
remove files that disappeared. Running it twice changes nothing. A file that
fails to parse keeps whatever it had in the index; other files are untouched.

Writes for one file happen in an order that makes an interrupted run safe: a
file left with chunks from two versions carries two file keys, and the next
run treats it as changed and converges.

Throughput (docs/performance.md): files are parsed two at a time (a PDF is
parsed in a child process, so a thread can wait for one while the other works),
and new chunks of consecutive files are embedded together in calls of
`embedding_batch_size` chunks per embedder worker, each call with the chunks'
sentences too (the embedder sorts one call's texts by length, so one large call
pads less than many small ones), so a corpus of many small files still gives the
embedder full batches; each file is then written in the safe order above.
"""

from __future__ import annotations

import time
from dataclasses import replace
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout
from pydantic import BaseModel, Field

from assistant.core.embeddings import Embedder
from assistant.core.records import passage_text
from assistant.core.records import Chunk
from assistant.core.selection import sentence_texts
from assistant.core.settings import Settings
from assistant.core.snapshot import delete_snapshot
from assistant.core.store import StoreError
from assistant.core.vectorstore import VectorStore
from ingest.chunking import chunk_sections, sha256
from ingest.loaders import UPLOAD_PREFIX, FoundFile, LoadError, check_size, discover, load

Progress = Callable[[int], None]
UPSERT_BATCH = 1000  # chunks per Chroma write (its own limit is a few thousand)


class FileIssue(BaseModel):
    source: str
    reason: str


class IngestReport(BaseModel):
    corpus: str
    dry_run: bool = False
    files_seen: int = 0
    files_added: list[str] = Field(default_factory=list)
    files_updated: list[str] = Field(default_factory=list)
    files_removed: list[str] = Field(default_factory=list)
    files_unchanged: int = 0
    chunks_added: int = 0
    chunks_removed: int = 0
    chunks_unchanged: int = 0
    chunks_total: int = 0
    failed: list[FileIssue] = Field(default_factory=list)
    ignored: list[FileIssue] = Field(default_factory=list)
    warnings: list[FileIssue] = Field(default_factory=list)
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.files_added or self.files_updated or self.files_removed)

    @property
    def ok(self) -> bool:
        return not self.failed


class IngestLockedError(StoreError):
    """Another ingest holds the embedded store."""


@contextmanager
def writer_lock(settings: Settings):
    """One writer per embedded store (a Chroma server serialises writes itself)."""
    if settings.uses_chroma_server:
        yield
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(settings.data_dir / "ingest.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise IngestLockedError(
            f"En annen indeksering skriver allerede til {settings.chroma_dir}. "
            "Vent til den er ferdig og prøv igjen (eller bruk en Chroma-tjener for flere skrivere)."
        ) from None
    try:
        yield
    finally:
        lock.release()


def _belongs(source: str, prefix: str) -> bool:
    if prefix:
        return source.startswith(prefix)
    return not source.startswith(UPLOAD_PREFIX)


def file_key(data: bytes, settings: Settings, provenance: str | None = None) -> str:
    """What decides whether a file must be read again: its bytes, the chunking settings, and the
    provenance its sidecar gives it (an upload's choice lives beside the file, not in its bytes)."""
    return sha256(data + settings.chunking_fingerprint().encode() + (provenance or "").encode())[:32]


def sync_corpus(
    settings: Settings,
    embedder: Embedder,
    store: VectorStore,
    *,
    corpus_dir: Path | None = None,
    dry_run: bool = False,
    rebuild: bool = False,
    progress: Callable[[int, str], Progress] | None = None,
    source_prefix: str = "",
) -> IngestReport:
    """Sync `corpus_dir` (default: settings.corpus_dir) into the store.

    Sources are named `<source_prefix><path in corpus_dir>`; only indexed sources with
    that prefix belong to this sync (the bundled corpus has none, facilitators' uploads
    have UPLOAD_PREFIX), so syncing one never removes the other's documents.
    """
    started = time.perf_counter()
    corpus_dir = corpus_dir or settings.corpus_dir
    report = IngestReport(corpus=str(corpus_dir), dry_run=dry_run)
    with writer_lock(settings):
        if rebuild and not dry_run:
            store.drop()
        store.open(embedder.model_id, embedder.dim, create=True)
        indexed = {} if (rebuild and dry_run) else store.indexed_files()
        indexed = {src: f for src, f in indexed.items() if _belongs(src, source_prefix)}
        if source_prefix and not corpus_dir.exists():
            corpus_dir.mkdir(parents=True, exist_ok=True)
        try:
            found, problems, ignored = discover(corpus_dir)
        except LoadError as exc:
            raise StoreError(str(exc)) from exc
        if source_prefix:
            found = [replace(f, source=source_prefix + f.source) for f in found]
            problems = [type(p)(source_prefix + p.source, p.reason) for p in problems]
            ignored = [type(p)(source_prefix + p.source, p.reason) for p in ignored]
        report.failed.extend(FileIssue(source=p.source, reason=p.reason) for p in problems)
        report.ignored.extend(FileIssue(source=p.source, reason=p.reason) for p in ignored)
        report.files_seen = len(found)

        fingerprint = settings.chunking_fingerprint()
        plans: list[tuple[FoundFile, str, list[Chunk]]] = []
        keep_sources: set[str] = {p.source for p in problems}
        to_parse: list[tuple[FoundFile, bytes, str]] = []
        for item in found:
            keep_sources.add(item.source)
            try:
                check_size(item.path, settings)
                data = item.path.read_bytes()
            except LoadError as exc:
                report.failed.append(FileIssue(source=item.source, reason=str(exc)))
                continue
            except OSError as exc:
                report.failed.append(FileIssue(source=item.source, reason=f"kunne ikke leses: {exc.strerror}"))
                continue
            key = file_key(data, settings, item.provenance)
            current = indexed.get(item.source)
            if current is not None and current.file_key == key:
                report.files_unchanged += 1
                report.chunks_unchanged += len(current.ids)
                continue
            to_parse.append((item, data, key))

        def parse(job: tuple[FoundFile, bytes, str]):
            item, data, key = job
            try:
                meta, sections, warnings = load(item, data, settings)
            except LoadError as exc:
                return item, key, None, [], str(exc)
            chunks = chunk_sections(
                meta,
                sections,
                file_hash=sha256(data)[:32],
                fingerprint=fingerprint,
                count=embedder.count_tokens,
                target_tokens=settings.chunk_target_tokens,
                max_tokens=settings.chunk_max_tokens,
            )
            return item, key, chunks, warnings, None

        for item, key, chunks, warnings, error in _in_order(parse, to_parse):
            if error is not None:
                report.failed.append(FileIssue(source=item.source, reason=error))
                continue
            report.warnings.extend(FileIssue(source=item.source, reason=w) for w in warnings)
            plans.append((item, key, chunks))

        removed_sources = sorted(set(indexed) - keep_sources)
        to_embed = sum(
            len([c for c in chunks if c.id not in (indexed.get(item.source).ids if item.source in indexed else ())])
            for item, _, chunks in plans
        )
        tick = progress(to_embed, "Embedder") if (progress and to_embed and not dry_run) else None

        # Embed the new chunks of consecutive files together, then write file by file.
        call_size = settings.embedding_batch_size * max(1, int(getattr(embedder, "workers", 1) or 1))
        pending: list[tuple[FoundFile, str, list[Chunk], list[Chunk], frozenset[str]]] = []
        pending_new = 0

        def flush() -> None:
            nonlocal pending_new
            new_chunks = [c for _, _, new, _, _ in pending for c in new]
            # Each chunk's passage text, then its sentences (what answers compare with the question).
            # Passages and sentences of a batch go to the embedder in one call, so that it can group
            # texts of similar length (less padding); measured in docs/performance.md.
            sentences = [sentence_texts(c) for c in new_chunks]
            blocks, sentence_blocks = [], []
            for start in range(0, len(new_chunks), call_size):
                batch = new_chunks[start : start + call_size]
                flat = [t for texts in sentences[start : start + call_size] for t in texts]
                both = embedder.embed_passages([passage_text(c) for c in batch] + flat)
                blocks.append(both[: len(batch)])
                sentence_blocks.append(both[len(batch) :])
                if tick:
                    tick(len(batch))
            vectors = np.concatenate(blocks) if blocks else None
            sentence_vectors = np.concatenate(sentence_blocks) if sentence_blocks else np.zeros((0, embedder.dim))
            offset, s_offset = 0, 0
            for item, key, new, kept, gone in pending:
                for start in range(0, len(new), UPSERT_BATCH):
                    part = new[start : start + UPSERT_BATCH]
                    part_sentences = sentences[offset + start : offset + start + len(part)]
                    n = sum(len(t) for t in part_sentences)
                    # Sentences first: a chunk in the index has its sentence vectors.
                    store.upsert_sentences([c.id for c in part], part_sentences, sentence_vectors[s_offset : s_offset + n])
                    s_offset += n
                    store.upsert(part, vectors[offset + start : offset + start + len(part)], key)
                offset += len(new)
                if kept:
                    store.update_metadata(kept, key)
                store.delete(gone)
                store.delete_sentences(gone)
            pending.clear()
            pending_new = 0

        for item, key, chunks in plans:
            old_ids = indexed[item.source].ids if item.source in indexed else frozenset()
            new = [c for c in chunks if c.id not in old_ids]
            kept = [c for c in chunks if c.id in old_ids]
            gone = old_ids - {c.id for c in chunks}
            (report.files_updated if item.source in indexed else report.files_added).append(item.source)
            report.chunks_added += len(new)
            report.chunks_unchanged += len(kept)
            report.chunks_removed += len(gone)
            if dry_run:
                continue
            pending.append((item, key, new, kept, frozenset(gone)))
            pending_new += len(new)
            if pending_new >= call_size:
                flush()
        if pending:
            flush()

        for source in removed_sources:
            report.files_removed.append(source)
            report.chunks_removed += len(indexed[source].ids)
            if not dry_run:
                store.delete(indexed[source].ids)
                store.delete_sentences(indexed[source].ids)

        if not dry_run:
            if report.changed or rebuild:
                store.bump_revision()
                # The snapshot of the index as it was: the revision check would refuse it anyway,
                # but it need not take the space (nor the next start's time to read its key).
                delete_snapshot(settings)
            report.chunks_total = store.count()
        else:
            report.chunks_total = sum(len(f.ids) for f in indexed.values()) + report.chunks_added - report.chunks_removed
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _in_order(fn, jobs: list, workers: int = 2) -> Iterator:
    """fn over jobs on a few threads, results in the jobs' order."""
    if len(jobs) <= 1:
        yield from map(fn, jobs)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest-parse") as pool:
        yield from pool.map(fn, jobs)

