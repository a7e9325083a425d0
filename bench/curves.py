"""The bench's curves as PNG images, next to its Markdown table.

    python -m bench.curves bench/results/latest.json      # draw them again from a saved record

- `<name>-concurrency.png`: answers/s and p95 per turn against the number of participants at
  once, the app and the LangChain baseline (the concurrency section).
- `<name>-scale.png`: search and answer p95 against the index size, the latency process's peak
  RSS, and the time to open the index (the search section), with `assistant serve`'s ready time
  where the serve section measured it (its timed starts with the snapshot loaded and off at each size).

A section that did not run draws no image.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OURS, BASE = "#1d4ed8", "#9ca3af"
SERVE = "#b45309"  # `assistant serve` started as a user starts it


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def concurrency_figure(cc: dict, path: Path) -> Path:
    plt = _pyplot()
    levels = [n for n in cc["levels"] if str(n) in cc["ours"] and str(n) in cc["baseline"]]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for side, label, colour in (("ours", "assistant (/v1)", OURS), ("baseline", "LangChain baseline", BASE)):
        rows = [cc[side][str(n)] for n in levels]
        ax1.plot(levels, [r["answers_per_s"] for r in rows], "o-", color=colour, label=label)
        ax2.plot(levels, [r["p95_ms"] for r in rows], "o-", color=colour, label=f"{label} p95")
        ax2.plot(levels, [r["p50_ms"] for r in rows], "o:", color=colour, alpha=0.7, label=f"{label} p50")
    ax1.axhline(20, color="#16a34a", ls="--", lw=1, label="target ≥ 20/s")
    ax2.axhline(1000, color="#16a34a", ls="--", lw=1, label="target p95 ≤ 1 s")
    ax1.set(xlabel="participants at once", ylabel="answers per second", title="Sustained answers/s")
    ax2.set(xlabel="participants at once", ylabel="ms per turn", title="Latency per turn")
    for ax in (ax1, ax2):
        ax.set_xticks(levels)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_ylim(bottom=0)
    turns = cc.get("turns_at_level") or {}
    fig.suptitle("over loopback HTTP; turns per participant: "
                 + ", ".join(f"{turns.get(str(n), cc['turns_per_participant'])} at {n}" for n in levels), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def scale_figure(record: dict, path: Path) -> Path:
    plt = _pyplot()
    search = record["search"]
    sizes = sorted(int(n) for n in search)
    ours = [search[str(n)]["ours"] for n in sizes]
    base = [search[str(n)]["baseline"] for n in sizes]
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(14, 4))
    ax1.plot(sizes, [o["search"]["p95_ms"] for o in ours], "o-", color=OURS, label="assistant search p95")
    ax1.plot(sizes, [o["answer"]["p95_ms"] for o in ours if "answer" in o], "s--", color=OURS, label="assistant answer p95")
    ax1.plot(sizes, [b["search"]["p95_ms"] for b in base], "o-", color=BASE, label="baseline search p95")
    ax1.set(xscale="log", xlabel="chunks in the index", ylabel="ms", title="Search and answer p95")
    if any("peak_rss_mb" in o for o in ours):
        ax2.plot(sizes, [o.get("peak_rss_mb") for o in ours], "o-", color=OURS, label="assistant (latency process)")
        ax2.plot(sizes, [b.get("peak_rss_mb") for b in base], "o-", color=BASE, label="baseline (latency process)")
    serve = record.get("serve") or {}
    bundled_chunks = (((record.get("ingest") or {}).get("bundled") or {}).get("ours") or {}).get("chunks_added")

    def served(field: str) -> list[tuple[int, float]]:
        """(chunks, value) of the serve section's runs: the bundled index and the 10k one."""
        out = []
        if bundled_chunks and (serve.get("bundled") or {}).get(field):
            out.append((bundled_chunks, serve["bundled"][field]))
        if (serve.get("idx_10000") or {}).get(field):
            out.append((10000, serve["idx_10000"][field]))
        return out

    warm_rss = serve_starts(record, "warm", "peak_rss_mb")
    warm_ready = serve_starts(record, "warm", "ready_seconds")
    off_ready = serve_starts(record, "off", "ready_seconds")
    if served("peak_rss_mb"):
        ax2.plot(*zip(*served("peak_rss_mb")), "D", color=SERVE, label="`assistant serve` after 4 answers")
    if warm_rss:
        ax2.plot(*zip(*warm_rss), "^-", color=SERVE, label="`assistant serve`, snapshot loaded")
    ax2.set(xscale="log", xlabel="chunks in the index", ylabel="MB", title="Peak RSS")
    ax3.plot(sizes, [o["retriever_load_seconds"] for o in ours], "o-", color=OURS, label="retriever load (chunks + BM25)")
    if served("ready_seconds"):
        ax3.plot(*zip(*served("ready_seconds")), "D", color=SERVE, label="`assistant serve` ready")
    if warm_ready:
        ax3.plot(*zip(*warm_ready), "^-", color=SERVE, label="`assistant serve` ready, snapshot loaded")
    if off_ready:
        ax3.plot(*zip(*off_ready), "v:", color=SERVE, label="… snapshot off")
    ax3.set(xscale="log", xlabel="chunks in the index", ylabel="seconds", title="Ready time")
    for ax in (ax1, ax2, ax3):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        ax.set_ylim(bottom=0)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def serve_starts(record: dict, mode: str, field: str) -> list[tuple[int, float]]:
    """(chunks, value) of the serve section's timed starts (`bench/ready.py`) in one mode, by
    index size: "warm" (the retrieval snapshot loaded), "cold" (writing it), "off" (no snapshot:
    every start before it)."""
    runs = (record.get("serve") or {}).get("ready") or {}
    return sorted((int(n), r[mode][field]) for n, r in runs.items() if (r.get(mode) or {}).get(field) is not None)


def write_curves(record: dict, out: Path, name: str) -> list[Path]:
    """The images for the sections in `record`, as `out/<name>-<curve>.png`."""
    out.mkdir(parents=True, exist_ok=True)
    images = []
    if record.get("concurrency"):
        images.append(concurrency_figure(record["concurrency"], out / f"{name}-concurrency.png"))
    if record.get("search"):
        images.append(scale_figure(record, out / f"{name}-scale.png"))
    return images


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    source = Path(args[0])
    for p in write_curves(json.loads(source.read_text()), source.parent, source.stem):
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
