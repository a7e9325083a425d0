"""How fast `assistant serve` opens a large index, with and without the retrieval snapshot
(assistant/core/snapshot.py), side by side on one copy of the index:

- `off`: `ASSISTANT_RETRIEVAL_SNAPSHOT=false`, every chunk read from the store and BM25 built
  (how every start went before the snapshot);
- `cold`: the first start with snapshots on: the same work, and the snapshot written;
- `warm`: the next start, which loads that snapshot.

Each start is timed to the first HTTP 200 on `/` (wall time, and the server's CPU time by then,
which other jobs on the machine disturb less); then one search and one answer go through the
HTTP API (local mode answers loopback without a key, docs/api.md), so the peak RSS (VmHWM) counts
what the first questions load too (the store's vector index, the embedder).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench.util import REPO, free_port, loadavg, proc_status_kb, wait_http

SNAPSHOT_MODES = ("off", "cold", "warm")
QUESTION = "Hvilke kommuner deltok i piloten?"


def _wait_for_sentences(data: Path, proc: subprocess.Popen, timeout: float) -> float | None:
    """Seconds until the snapshot names a sentence vectors file (None if it did not in `timeout`)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout and proc.poll() is None:
        snapshot = next(iter(data.glob("retrieval-snapshot-*.npz")), None)
        vectors = list(data.glob("retrieval-snapshot-*.sentences-*.npy"))
        if snapshot is not None and vectors and snapshot.stat().st_mtime >= max(v.stat().st_mtime for v in vectors):
            return round(time.perf_counter() - t0, 1)
        time.sleep(0.5)
    return None


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (less sensitive to other jobs than wall time)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 2)


def _post(url: str, body: dict) -> float:
    t0 = time.perf_counter()
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=180) as resp:
        resp.read()
    return round((time.perf_counter() - t0) * 1000, 1)


def start_once(data: Path, work: Path, mode: str, timeout: float = 300) -> dict:
    """One start of `assistant serve` on `data` (used in place: a cold start leaves its snapshot
    there for the warm one)."""
    port = free_port()
    env = dict(os.environ)
    env.update({
        "ASSISTANT_DATA_DIR": str(data), "ASSISTANT_PORT": str(port), "ASSISTANT_HOST": "127.0.0.1",
        "ASSISTANT_RETRIEVAL_SNAPSHOT": "false" if mode == "off" else "true",
        "GRADIO_ANALYTICS_ENABLED": "False", "ANONYMIZED_TELEMETRY": "False", "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
    })
    env.pop("ASSISTANT_USERS_FILE", None)
    env.pop("ASSISTANT_USERS", None)
    snapshot = next(iter(data.glob("retrieval-snapshot-*.npz")), None)
    if mode == "cold" and snapshot is not None:
        snapshot.unlink()
    if mode == "warm" and snapshot is None:
        raise RuntimeError("a warm start needs the snapshot of a cold one")
    log_path = work / f"ready-{port}.log"
    out: dict = {"mode": mode, "load_average": loadavg()}
    with log_path.open("wb") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "assistant", "serve"], cwd=str(work), env=env,
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            if not wait_http(base + "/", proc, timeout, poll=0.02):
                raise RuntimeError(f"assistant serve did not come up; log: {log_path.read_text()[-2000:]}")
            out["ready_seconds"] = round(time.perf_counter() - t0, 2)
            out["cpu_seconds_ready"] = _cpu_seconds(proc.pid)
            out["rss_ready_mb"] = round((proc_status_kb(proc.pid, "VmRSS") or 0) / 1024, 1)
            out["peak_rss_ready_mb"] = round((proc_status_kb(proc.pid, "VmHWM") or 0) / 1024, 1)
            out["first_search_ms"] = _post(base + "/v1/search", {"query": QUESTION})
            out["first_answer_ms"] = _post(base + "/v1/chat/completions",
                                           {"model": "byledelse-qa", "messages": [{"role": "user", "content": QUESTION}]})
            out["peak_rss_mb"] = round((proc_status_kb(proc.pid, "VmHWM") or 0) / 1024, 1)
            if mode == "cold":  # the sentence vectors are added after ready, in a thread: let it finish
                out["sentences_added_seconds"] = _wait_for_sentences(data, proc, timeout)
                out["peak_rss_with_sentences_mb"] = round((proc_status_kb(proc.pid, "VmHWM") or 0) / 1024, 1)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    files = list(data.glob("retrieval-snapshot-*"))  # the snapshot and its sentence vectors
    out["snapshot_mb"] = round(sum(f.stat().st_size for f in files) / 1e6, 1) if files else None
    return out


def measure_ready(index_dir: Path, work: Path, rounds: int = 1) -> dict:
    """off, cold and warm starts on one copy of `index_dir`, `rounds` times in turn; each mode's
    median start (by ready time) and every ready time."""
    data = work / f"ready-data-{index_dir.name}"
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(index_dir, data, ignore=shutil.ignore_patterns("retrieval-snapshot-*"))
    runs: dict[str, list[dict]] = {m: [] for m in SNAPSHOT_MODES}
    try:
        for _ in range(rounds):
            for mode in SNAPSHOT_MODES:
                runs[mode].append(start_once(data, work, mode))
    finally:
        shutil.rmtree(data, ignore_errors=True)
    out: dict = {}
    for mode, rs in runs.items():
        mid = sorted(rs, key=lambda r: r["ready_seconds"])[(len(rs) - 1) // 2]
        out[mode] = {**mid, "all_ready_seconds": [r["ready_seconds"] for r in rs]}
    return out


if __name__ == "__main__":  # python -m bench.ready INDEX_DIR [ROUNDS]
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench-ready-") as tmp:
        result = measure_ready(Path(sys.argv[1]), Path(tmp), int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    print(json.dumps(result, indent=2))
