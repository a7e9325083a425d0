"""`assistant serve` as users run it: time until it answers HTTP, peak RSS after a few chat requests.

The app is started as a subprocess against an already indexed data directory, with
the default models (the e5 embedder, extractive answers). Requests go to the app's HTTP API
(`POST /v1/chat/completions`, docs/api.md), which runs the same answer engine as the chat.
Peak RSS is the process's VmHWM from /proc.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.util import REPO, free_port, proc_status_kb, wait_http

QUESTIONS = [
    "Hvilke kommuner deltok i piloten?",
    "Hva er regenerativ ledelse?",
    "Which towns took part in the pilot?",
    "Hvordan kan jeg som leder håndtere målkonflikter?",
]


class ServedApp:
    """`python -m assistant serve` on a copy of an indexed data directory, on a free loopback port
    (local mode: the /v1 API answers loopback callers without a key). A context manager: the
    process is stopped and the copy removed on exit. `extra_env` adds settings (ASSISTANT_*)."""

    def __init__(self, data_dir: Path, work: Path, *, extra_env: dict[str, str] | None = None, timeout: float = 180,
                 command: list[str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # A copy of the data dir: the app writes its journal there.
        self.data = work / f"serve-data-{self.port}"
        self.source, self.work, self.timeout = data_dir, work, timeout
        self.command = command or [sys.executable, "-m", "assistant", "serve"]
        self.env = dict(os.environ)
        self.env.update({
            "ASSISTANT_DATA_DIR": str(self.data),
            "ASSISTANT_PORT": str(self.port),
            "ASSISTANT_HOST": "127.0.0.1",
            "GRADIO_ANALYTICS_ENABLED": "False",
            "ANONYMIZED_TELEMETRY": "False",
            "HF_HUB_OFFLINE": "1",
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
        })
        self.env.pop("ASSISTANT_USERS_FILE", None)
        self.env.pop("ASSISTANT_USERS", None)
        self.env.update(extra_env or {})
        self.log_path = work / f"serve-{self.port}.log"
        self.proc: subprocess.Popen | None = None
        self.ready_seconds: float | None = None

    def __enter__(self) -> "ServedApp":
        shutil.copytree(self.source, self.data)
        self._log = self.log_path.open("wb")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(self.command, cwd=str(self.work), env=self.env, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        if not wait_http(self.url + "/", self.proc, self.timeout):
            self.__exit__(None, None, None)
            raise RuntimeError(f"{' '.join(self.command[1:])} did not come up; log: {self.log_path.read_text()[-2000:]}")
        self.ready_seconds = time.perf_counter() - t0
        return self

    def status_mb(self, field: str) -> float:
        """VmRSS or VmHWM (peak RSS) of the server process, in MB."""
        return round((proc_status_kb(self.proc.pid, field) or 0) / 1024, 1)

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            if self.command[0] != sys.executable:  # a wrapper (a profiler): Ctrl+C lets it write its output
                self.proc.send_signal(signal.SIGINT)
            else:
                self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        shutil.rmtree(self.data, ignore_errors=True)


def chat_request(question: str, *, mode: str = "qa", history: list[dict] | None = None, stage: str | None = None) -> dict:
    """The body of one `POST /v1/chat/completions` (the OpenAI shape; docs/api.md)."""
    body: dict = {"model": f"byledelse-{mode}", "messages": [*(history or []), {"role": "user", "content": question}]}
    if stage:
        body["byledelse"] = {"stage": stage}
    return body


def measure_serve(data_dir: Path, work: Path, questions: list[str] = QUESTIONS, timeout: float = 180) -> dict:
    """Start `python -m assistant serve`, time readiness, send chat requests to /v1, read VmHWM."""
    import httpx

    with ServedApp(data_dir, work, timeout=timeout) as app:
        out: dict = {"port": app.port, "ready_seconds": round(app.ready_seconds, 2), "rss_ready_mb": app.status_mb("VmRSS")}
        latencies = []
        with httpx.Client(base_url=app.url, timeout=120) as client:
            for i, q in enumerate(questions):
                t1 = time.perf_counter()
                # Each request is a new conversation, through the API's chat route (the engine the chat uses).
                r = client.post("/v1/chat/completions", json=chat_request(q))
                r.raise_for_status()
                latencies.append(round((time.perf_counter() - t1) * 1000, 1))
                if i == 0:
                    out["first_answer_ms"] = latencies[-1]
                    out["first_answer_chars"] = len(r.json()["choices"][0]["message"]["content"])
        out["answer_ms"] = latencies
        out["peak_rss_mb"] = app.status_mb("VmHWM")
        out["rss_after_mb"] = app.status_mb("VmRSS")
    return out


def measure_import(env: dict | None = None) -> dict:
    """What importing the app costs, and whether a model comes with the import."""
    from bench.util import run_worker

    result, rss = run_worker(["import-check"], env=env)
    result["peak_rss_mb"] = round(rss / 1024, 1)
    return result


__all__ = ["ServedApp", "chat_request", "measure_serve", "measure_import", "QUESTIONS", "REPO"]
