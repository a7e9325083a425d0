"""The eval against a running assistant: `assistant eval --endpoint URL --api-key KEY` (issue 21).

An evaluator may not have the deployed assistant's index, only its address. `RemoteEngine` stands
in for `AnswerEngine` in the runner (`answer(...)` and `config.answer_chunks`) and asks the HTTP
API instead (`POST /v1/chat/completions` with `byledelse.include_answer`), which returns the same
answer record the engine made, and the chunks it was built from. The runner scores that record
with the same functions as in-process, so the numbers are the same when the server is
(tests/test_api.py runs both ways). What it needs of the index beyond those chunks, the corpus's
fingerprint and the engine's `answer_chunks`, comes from `GET /v1/health`.

The multi-turn reflection scripts drive the app's conversation flow and journal in-process
(`evals.reflection`); over HTTP they are not run, and the report says so in its filters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import httpx

from assistant.core.errors import ServiceError
from assistant.core.llm import ChatMessage
from assistant.core.records import Answer, Chunk


class RemoteError(ServiceError, RuntimeError):
    """The endpoint cannot be used for an eval; str() says why and what to do."""


@dataclass(frozen=True)
class RemoteConfig:
    answer_chunks: int


class RemoteEngine:
    """`AnswerEngine.answer` over HTTP. `chunks` fills with every chunk an answer was built from,
    so the runner can rank the documents each search returned, as it does in-process."""

    def __init__(self, url: str, api_key: str | None = None, *, timeout_s: float = 120) -> None:
        base = url.rstrip("/")
        base = base if base.endswith("/v1") else base + "/v1"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=base, headers=headers, timeout=timeout_s)
        try:
            r = self.http.get("/health")
        except httpx.HTTPError as exc:
            raise RemoteError(f"fant ingen assistent på {base} ({type(exc).__name__}); sjekk adressen og at den kjører") from None
        if r.status_code == 401:
            raise RemoteError(f"{base} krever en gyldig API-nøkkel: gi den med --api-key (lages med `assistant user NAVN --api-key`)")
        if r.status_code not in (200, 503) or "index" not in r.text:
            raise RemoteError(f"{base}/health svarte {r.status_code}; er dette assistentens API?")
        self.health = r.json()
        self.url = base
        self.chunks: dict[str, Chunk] = {}
        self.config = RemoteConfig(answer_chunks=int(self.health["engine"]["answer_chunks"]))

    @property
    def backend(self) -> str:
        return str(self.health["engine"]["backend"])

    def answer(self, question: str, *, mode: str = "qa", history: Sequence[ChatMessage] = (), stage: str | None = None) -> Answer:
        messages = [{"role": m.role, "content": m.content} for m in history] + [{"role": "user", "content": question}]
        r = self.http.post("/chat/completions", json={
            "model": f"byledelse-{mode}", "messages": messages, "byledelse": {"stage": stage, "include_answer": True},
        })
        if r.status_code != 200:
            try:
                message = r.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = r.text[:200]
            raise RemoteError(f"HTTP {r.status_code}: {message}")
        extension = r.json()["byledelse"]
        for chunk in extension.get("chunks") or ():
            record = Chunk.model_validate(chunk)
            self.chunks[record.id] = record
        return Answer.model_validate(extension["answer"])
