"""Language-model backends: one protocol, two real backends behind LangChain.

- `OpenAICompatibleChatModel`: any OpenAI-compatible server (llama.cpp server,
  vLLM, Ollama, OpenAI) through `langchain_openai.ChatOpenAI`, streamed on a
  worker thread so the whole answer has one wall-clock deadline
  (`llm_timeout_s`), however slowly the server trickles or stalls.
- `LlamaCppChatModel`: a user-supplied GGUF file run in-process through
  `langchain_community.chat_models.ChatLlamaCpp` (extra `[llamacpp]`).

`build_chat_model` returns None for the extractive mode (no model at all).
Nothing is imported, loaded or connected until the first `stream()`; every
failure, including an incomplete configuration, surfaces there as `LLMError`
with a one-line message in bokmål for the end user. No LangChain types leave
this module: callers pass `ChatMessage`s and get text deltas back.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Literal, Protocol, runtime_checkable

from pydantic import SecretStr

from assistant.core.errors import ServiceError
from assistant.core.settings import ComponentConfig, Settings

_FALLBACK_HINT = "eller bytt til ASSISTANT_LLM_BACKEND=extractive"


@dataclass(frozen=True)
class ChatMessage:
    role: Literal["system", "user", "assistant"]
    content: str


class LLMError(ServiceError, RuntimeError):
    """The model could not answer; str(exc) is a clear one-line message in bokmål for the end user
    (what happened and what to do), e.g. 'Språkmodellen på http://127.0.0.1:8080/v1 svarer ikke
    (tidsavbrudd etter 5 s). Sjekk at tjeneren kjører, eller bytt til ASSISTANT_LLM_BACKEND=extractive.'"""


@runtime_checkable
class ChatModel(Protocol):
    name: str  # e.g. "openai:<model>@<base_url>" or "llamacpp:<gguf file name>"

    def stream(self, messages: list[ChatMessage]) -> Iterator[str]: ...  # yields text deltas; raises LLMError


class LLMConfig(ComponentConfig):
    """What the model backends read: where the model is, how long to wait, and how to sample."""

    llm_base_url: str | None
    llm_model: str
    llm_api_key: SecretStr
    llm_gguf_path: Path | None
    llm_timeout_s: float
    llm_max_retries: int
    llm_max_tokens: int
    llm_temperature: float


def build_chat_model(settings: Settings) -> ChatModel | None:
    """None when settings.llm_backend == "extractive"; otherwise the configured backend, built
    with its `LLMConfig` (nothing loaded/connected until first stream; configuration problems
    such as a missing ASSISTANT_LLM_BASE_URL or GGUF file are raised as LLMError by the first
    `stream()`)."""
    if settings.llm_backend == "extractive":
        return None
    if settings.llm_backend == "openai":
        return OpenAICompatibleChatModel(LLMConfig.from_settings(settings))
    if settings.llm_backend == "llamacpp":
        return LlamaCppChatModel(LLMConfig.from_settings(settings))
    raise LLMError(  # unreachable with validated settings
        f"Ukjent ASSISTANT_LLM_BACKEND={settings.llm_backend!r}. Bruk extractive, openai eller llamacpp."
    )


# --- helpers -----------------------------------------------------------------


def _to_langchain(messages: list[ChatMessage]) -> list[Any]:
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    out = []
    for m in messages:
        if m.role not in kinds:
            raise LLMError(f"Intern feil: ukjent meldingsrolle {m.role!r} (bruk system, user eller assistant).")
        out.append(kinds[m.role](content=m.content))
    return out


def _chunk_text(chunk: Any) -> str:
    """Text of a LangChain message chunk (content is a str or a list of content blocks)."""
    content = getattr(chunk, "content", "")
    if isinstance(content, str):
        return content
    parts = []
    for block in content or []:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "".join(parts)


def _one_line(text: object, limit: int = 200) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _seconds(value: float) -> str:
    return f"{value:g} s"


# --- OpenAI-compatible server ----------------------------------------------------


class OpenAICompatibleChatModel:
    """Any OpenAI-compatible chat-completions server, streamed with one overall deadline."""

    def __init__(self, config: LLMConfig) -> None:
        self.config = config
        self.base_url = (config.llm_base_url or "").strip().rstrip("/") or None
        self.model = config.llm_model
        self.timeout_s = float(config.llm_timeout_s)
        self.name = f"openai:{self.model}@{self.base_url or '(ASSISTANT_LLM_BASE_URL mangler)'}"
        self._client: Any = None
        self._client_lock = threading.Lock()

    def _chat_model(self) -> Any:
        if self.base_url is None:
            raise LLMError(
                "Språkmodell-tjeneren er ikke satt opp: sett ASSISTANT_LLM_BASE_URL "
                f"(f.eks. http://127.0.0.1:8080/v1), {_FALLBACK_HINT}."
            )
        with self._client_lock:
            if self._client is None:
                try:
                    from langchain_openai import ChatOpenAI
                except ImportError as exc:  # pragma: no cover - core dependency
                    raise LLMError("langchain-openai er ikke installert: pip install langchain-openai") from exc
                s = self.config
                self._client = ChatOpenAI(
                    base_url=self.base_url,
                    api_key=s.llm_api_key.get_secret_value(),
                    model=self.model,
                    timeout=s.llm_timeout_s,
                    max_retries=s.llm_max_retries,
                    max_tokens=s.llm_max_tokens,
                    temperature=s.llm_temperature,
                    streaming=True,
                    # ChatOpenAI sends the limit only as `max_completion_tokens`, which
                    # llama.cpp's server (and other older OpenAI-compatible servers)
                    # silently ignore, generating until the context is full. Send the
                    # classic field too; OpenAI itself gets only the new one.
                    extra_body=None if self._is_openai_cloud() else {"max_tokens": s.llm_max_tokens},
                )
            return self._client

    def _is_openai_cloud(self) -> bool:
        return "api.openai.com" in (self.base_url or "")

    def stream(self, messages: list[ChatMessage]) -> Iterator[str]:
        client = self._chat_model()
        lc_messages = _to_langchain(messages)
        events: queue.Queue[tuple[str, Any]] = queue.Queue()
        stop = threading.Event()

        def worker() -> None:
            source = None
            try:
                source = client.stream(lc_messages)
                for chunk in source:
                    if stop.is_set():
                        return
                    text = _chunk_text(chunk)
                    if text:
                        events.put(("delta", text))
                events.put(("done", None))
            except Exception as exc:  # noqa: BLE001 - handed to the consumer and translated there
                events.put(("error", exc))
            finally:
                if source is not None:
                    try:
                        source.close()  # closes the HTTP response when we stop early
                    except Exception:  # noqa: BLE001
                        pass

        # The worker is a daemon: if the server stalls, it is left blocked on a read
        # that the client's own timeout ends; the caller is not kept waiting for it.
        threading.Thread(target=worker, name="llm-stream", daemon=True).start()
        deadline = time.monotonic() + self.timeout_s
        received = False
        try:
            while True:
                remaining = deadline - time.monotonic()
                try:
                    if remaining <= 0:
                        raise queue.Empty
                    kind, payload = events.get(timeout=remaining)
                except queue.Empty:
                    raise self._deadline_error(received) from None
                if kind == "delta":
                    received = True
                    yield payload
                elif kind == "done":
                    return
                else:
                    raise self._translate(payload, received) from payload
        finally:
            stop.set()

    # --- error messages ----------------------------------------------------

    def _deadline_error(self, received: bool) -> LLMError:
        if received:
            return LLMError(
                f"Språkmodellen på {self.base_url} ble ikke ferdig med svaret innen {_seconds(self.timeout_s)} "
                f"(ASSISTANT_LLM_TIMEOUT_S). Prøv igjen, øk ASSISTANT_LLM_TIMEOUT_S eller senk "
                f"ASSISTANT_LLM_MAX_TOKENS, {_FALLBACK_HINT}."
            )
        return LLMError(
            f"Språkmodellen på {self.base_url} svarer ikke (tidsavbrudd etter {_seconds(self.timeout_s)}). "
            f"Sjekk at tjeneren kjører, {_FALLBACK_HINT}."
        )

    def _translate(self, exc: BaseException, received: bool) -> LLMError:
        if isinstance(exc, LLMError):
            return exc
        url = self.base_url
        try:
            import openai
        except ImportError:  # pragma: no cover - dependency of langchain-openai
            openai = None  # type: ignore[assignment]
        if openai is not None:
            if isinstance(exc, openai.APITimeoutError):
                return self._deadline_error(received)
            if isinstance(exc, openai.APIConnectionError):
                if received:
                    return LLMError(
                        f"Forbindelsen til språkmodellen på {url} ble brutt midt i svaret. "
                        f"Prøv igjen om litt; sjekk at tjeneren kjører, {_FALLBACK_HINT}."
                    )
                return LLMError(
                    f"Får ikke kontakt med språkmodellen på {url} ({_one_line(_root_cause(exc), 120)}). "
                    f"Sjekk at tjeneren kjører og at ASSISTANT_LLM_BASE_URL stemmer, {_FALLBACK_HINT}."
                )
            if isinstance(exc, openai.APIStatusError):
                return LLMError(self._status_message(exc.status_code, _server_message(exc)))
            if isinstance(exc, openai.APIError):
                return LLMError(
                    f"Språkmodellen på {url} meldte en feil: {_one_line(exc.message)}. "
                    f"Prøv igjen, {_FALLBACK_HINT}."
                )
        return LLMError(
            f"Språkmodellen på {url} feilet ({type(exc).__name__}: {_one_line(exc, 150)}). "
            f"Prøv igjen, {_FALLBACK_HINT}."
        )

    def _status_message(self, status: int, detail: str) -> str:
        head = f"Språkmodellen på {self.base_url} svarte med HTTP {status}"
        head += f" ({detail})." if detail else "."
        if status in (401, 403):
            return f"{head} Sjekk ASSISTANT_LLM_API_KEY."
        if status == 404:
            return f"{head} Sjekk ASSISTANT_LLM_BASE_URL (ofte med /v1 til slutt) og ASSISTANT_LLM_MODEL."
        if status in (400, 413, 422):
            return f"{head} Forespørselen ble avvist; still et kortere spørsmål eller sjekk ASSISTANT_LLM_MODEL."
        if status == 429:
            return f"{head} Tjeneren er overbelastet; vent litt og prøv igjen."
        return f"{head} Feilen ligger hos tjeneren; prøv igjen, {_FALLBACK_HINT}."


def _root_cause(exc: BaseException) -> str:
    seen = exc
    while seen.__cause__ is not None and seen.__cause__ is not seen:
        seen = seen.__cause__
    text = str(seen) or type(seen).__name__
    if "refused" in text.lower():
        return "tilkoblingen ble avvist"
    return text


def _server_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return _one_line(inner["message"])
        if isinstance(inner, str):
            return _one_line(inner)
        if body.get("detail"):
            return _one_line(body["detail"])
    return _one_line(getattr(exc, "message", "") or "")


# --- in-process llama.cpp -------------------------------------------------------


class LlamaCppChatModel:
    """A local GGUF file run in-process with llama.cpp; loaded on first use, then reused."""

    n_ctx = 4096
    n_threads = 2
    n_batch = 256  # prompt tokens per evaluation step (ChatLlamaCpp's default of 8 makes long prompts slow)

    def __init__(self, config: LLMConfig) -> None:
        self.config = config
        self.path: Path | None = Path(config.llm_gguf_path).expanduser() if config.llm_gguf_path else None
        self.name = f"llamacpp:{self.path.name if self.path else '(ASSISTANT_LLM_GGUF_PATH mangler)'}"
        self._model: Any = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()  # one generation at a time on the shared llama.cpp context

    def _chat_model(self) -> Any:
        if self.path is None:
            raise LLMError(
                f"Ingen modellfil er valgt: sett ASSISTANT_LLM_GGUF_PATH til en .gguf-fil, {_FALLBACK_HINT}."
            )
        with self._load_lock:
            if self._model is not None:
                return self._model
            if not self.path.is_file():
                raise LLMError(
                    f"Fant ikke modellfilen {self.path}. Sjekk ASSISTANT_LLM_GGUF_PATH, {_FALLBACK_HINT}."
                )
            try:
                from langchain_community.chat_models import ChatLlamaCpp
                import llama_cpp  # noqa: F401 - fail here with a clear message rather than inside LangChain
            except ImportError as exc:
                raise LLMError(
                    "llama.cpp-støtten er ikke installert: pip install -e '.[llamacpp]' "
                    f"(se README for byggeflaggene), {_FALLBACK_HINT}."
                ) from exc
            s = self.config
            try:
                self._model = ChatLlamaCpp(
                    model_path=str(self.path),
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    n_batch=self.n_batch,
                    max_tokens=s.llm_max_tokens,
                    temperature=s.llm_temperature,
                    streaming=True,
                    verbose=False,
                )
            except Exception as exc:  # noqa: BLE001 - any load failure, with the path
                raise LLMError(
                    f"Kunne ikke laste modellfilen {self.path}. Sjekk at ASSISTANT_LLM_GGUF_PATH peker på en "
                    f"gyldig GGUF-fil og at maskinen har nok minne, {_FALLBACK_HINT}."
                ) from exc
            return self._model

    def stream(self, messages: list[ChatMessage]) -> Iterator[str]:
        model = self._chat_model()
        lc_messages = _to_langchain(messages)
        # Wait at most the timeout for another answer to finish (or for an abandoned
        # stream to be closed) rather than blocking forever.
        if not self._run_lock.acquire(timeout=float(self.config.llm_timeout_s)):
            raise LLMError(
                f"Modellen {self.path.name} er opptatt med et annet svar. Vent litt og prøv igjen, {_FALLBACK_HINT}."
            )
        try:
            source = model.stream(lc_messages)
            try:
                for chunk in source:
                    text = _chunk_text(chunk)
                    if text:
                        yield text
            except LLMError:
                raise
            except Exception as exc:  # noqa: BLE001 - llama.cpp raises ValueError/RuntimeError
                detail = _one_line(exc, 150)
                if "context window" in detail or "exceed" in detail:
                    raise LLMError(
                        f"Spørsmålet og utdragene er for lange for modellen {self.path.name} "
                        f"({self.n_ctx} tokens). Still et kortere spørsmål eller senk ASSISTANT_TOP_K."
                    ) from exc
                raise LLMError(
                    f"Modellen {self.path.name} feilet under svaret ({type(exc).__name__}: {detail}). "
                    f"Prøv igjen, {_FALLBACK_HINT}."
                ) from exc
            finally:
                source.close()
        finally:
            self._run_lock.release()
