"""The HTTP API under `/v1`: OpenAI-compatible chat with sources, search, ingest and health (issue 21).

Other tools already speak OpenAI's protocol (the `openai` client, Open WebUI, evaluation
harnesses), so the assistant answers in it instead of making them learn Gradio's generated
handler names. `assistant serve` mounts this app on the same port as the browser interface
(`assistant/web/shell.py`); the same answer engine, grounding and refusal rules apply.

- `POST /v1/chat/completions`: `model` names a mode (`byledelse-qa`, `byledelse-reflect`); the
  answer's citations, whether it refused or declined, and (when asked) the whole answer record
  are in the extension object `byledelse`, on the response and on the final stream chunk.
- `GET /v1/models`, `POST /v1/search`, `POST /v1/ingest` (facilitators), `GET /v1/health`.
- Its own OpenAPI schema (`/v1/openapi.json`) and a docs page of its own (`/v1/docs`: plain HTML
  rendered from that schema, since the content security policy loads nothing from elsewhere).

Who may call it: with a users file, a per-user API key (`assistant user NAME --api-key`) as
`Authorization: Bearer …`, with the user's role; without one (local mode), callers on this
machine only. Each key has a rate limit per minute (429). Conversations are stored only when the
request says `byledelse.store`, and then in the key owner's own journal; no message text is ever
logged (the server's output passes `assistant/core/logsafe.py`). Every error has OpenAI's shape
(`assistant/web/api_errors.py`).
"""

from __future__ import annotations

import hashlib
import html
import json
import secrets
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant.core.provenance import DEFAULT_PROVENANCE, PROVENANCES
from assistant.app.api_keys import ApiKeys, KeyOwner
from assistant.app.auth import LOCAL_USER, UserStore
from assistant.app.chat import UPLOAD_KINDS, UPLOAD_SUFFIXES, ChatService, safe_filename
from assistant.app.journal import NotFound
from assistant.core.errors import AssistantError
from assistant.core.llm import ChatMessage
from assistant.core.records import Answer
from assistant.core.safety import InputRejected, clean_user_text
from assistant.core.settings import ComponentConfig
from assistant.web.api_errors import ApiError
from assistant.web.shell import is_loopback
from assistant.web.slots import FairSlots
from assistant.web.api_models import (
    MODEL_DESCRIPTIONS,
    MODELS,
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChunkChoice,
    ComponentStatus,
    Delta,
    Extension,
    Health,
    IngestResponse,
    ModelCard,
    ModelList,
    SearchHit,
    SearchRequest,
    SearchResponse,
)

HISTORY_TURNS = 8  # earlier messages the engine sees, as in the chat (assistant/app/chat.py)
_CREATED = int(time.time())


class ApiConfig(ComponentConfig):
    """What the API reads: message and upload limits, the per-key rate, parallel answers."""

    max_message_chars: int
    max_upload_mb: float
    api_rate_per_minute: int
    concurrency: int


class RateLimit:
    """At most `per_minute` requests per key in any sliding minute. The answer for one over the
    limit is how long until the oldest request in the window leaves it."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_s(self, key: str) -> float:
        """0 when the request may go ahead (it is then counted), else seconds to wait."""
        now = self.clock()
        with self._lock:
            window = self._seen.setdefault(key, deque())
            while window and now - window[0] >= 60.0:
                window.popleft()
            if len(window) >= self.per_minute:
                return 60.0 - (now - window[0])
            window.append(now)
            return 0.0


def corpus_digest(pairs: list[tuple[str, str]]) -> str:
    """The index's fingerprint from (chunk id, content hash) pairs: the formula the eval report
    uses for its corpus (evals/runner.py `corpus_fingerprint`), so a remote eval names the corpus it
    ran against the same way (tests/test_api.py checks they agree)."""
    return hashlib.sha256("\n".join(f"{i}:{h}" for i, h in sorted(pairs)).encode()).hexdigest()[:16]


def create_api(config: ApiConfig, service: ChatService, users: UserStore | None, keys: ApiKeys | None = None,
               *, clock: Callable[[], float] = time.monotonic) -> FastAPI:
    """The `/v1` app (mounted by the shell; tests may serve it alone). `users` None is local mode."""
    runtime = service.runtime
    keys = keys if keys is not None else ApiKeys({})
    limiter = RateLimit(config.api_rate_per_minute, clock)
    working = FairSlots(config.concurrency)  # in arrival order (assistant/web/slots.py)
    api = FastAPI(
        title="Refleksjonsassistent API", version="1",
        summary="OpenAI-compatible chat with sources, search, ingest and health for the Bærekraftig strategisk byledelse assistant.",
        docs_url=None, redoc_url=None, openapi_url=None,  # both served below, behind the key like every route
    )

    # -- errors: all in OpenAI's shape --------------------------------------------------------------
    @api.exception_handler(AssistantError)
    async def _project_error(request: Request, exc: AssistantError):
        # The service's own checks (a role, an input, the index) behind the API's: their message, OpenAI's shape.
        error = exc if isinstance(exc, ApiError) else _as_api_error(exc)
        return JSONResponse(error.body(), status_code=error.status, headers={"Cache-Control": "no-store", **error.headers})

    @api.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        # Field names and pydantic's reason only: the values sent (a message, say) are not echoed.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e.get('msg', 'invalid')}"
            for e in exc.errors()[:5]
        )
        return JSONResponse(ApiError(f"The request is not valid: {problems}. See /v1/docs for the request's fields.", 400,
                                     code="invalid_request").body(), status_code=400)

    @api.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404:
            error = ApiError("Not found. See /v1/docs for the API's routes.", 404, code="not_found")
        elif exc.status_code == 405:
            error = ApiError(f"{request.method} is not allowed here. See /v1/docs for each route's method.", 405, code="method_not_allowed")
        else:
            error = ApiError("The request could not be handled. See /v1/docs.", exc.status_code, code="http_error")
        return JSONResponse(error.body(), status_code=error.status)

    @api.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception):
        return JSONResponse(ApiError("The assistant failed on this request. Try again; if it keeps failing, "
                                     "tell whoever runs the server (the server log has the details).", 500,
                                     "server_error", "internal_error").body(), status_code=500)

    # -- who is calling ------------------------------------------------------------------------------
    def caller(request: Request) -> KeyOwner:
        if users is None:
            host = request.client.host if request.client else ""
            if not is_loopback(host):
                raise ApiError("This assistant runs in local mode (no users file) and answers API calls from this "
                               "machine only. Call it on 127.0.0.1, or add users and API keys (assistant user NAME "
                               "--api-key) and start it with ASSISTANT_USERS_FILE.", 403, "permission_error", "local_only")
            owner = KeyOwner(user=LOCAL_USER, role="facilitator", key_id="local")
        else:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            owner = keys.owner(token.strip()) if scheme.lower() == "bearer" else None
            if owner is None:
                raise ApiError("Invalid or missing API key. Send 'Authorization: Bearer <key>'; a key is made with "
                               "`assistant user NAME --api-key` and shown once.", 401, "invalid_request_error",
                               "invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
        wait = limiter.wait_s(owner.key_id)
        if wait > 0:
            seconds = int(wait) + 1
            raise ApiError(f"Rate limit reached: at most {config.api_rate_per_minute} requests per minute for one key. "
                           f"Wait {seconds} s and try again.", 429, "rate_limit_error", "rate_limit_exceeded",
                           headers={"Retry-After": str(seconds)})
        return owner

    # -- routes ------------------------------------------------------------------------------------
    @api.get("/models", response_model=ModelList, summary="The assistant's modes, as models")
    def models(owner: KeyOwner = Depends(caller)) -> ModelList:
        return ModelList(data=[ModelCard(id=m, created=_CREATED, description=MODEL_DESCRIPTIONS[m]) for m in MODELS])

    @api.post("/chat/completions", response_model=ChatCompletion, summary="A grounded, cited answer (OpenAI wire format)",
              responses={200: {"description": "A chat.completion, or with `stream` server-sent chat.completion.chunk events; "
                                              "`byledelse` holds the citations and the refusal flag."}})
    def chat_completions(body: ChatCompletionRequest, owner: KeyOwner = Depends(caller)):
        mode = MODELS.get(body.model)
        if mode is None:
            raise ApiError(f"Unknown model. Use one of: {', '.join(MODELS)} (GET /v1/models).", 404, code="model_not_found")
        opts = body.byledelse
        conversation = [m for m in body.messages if m.role in ("user", "assistant")]
        if not conversation or conversation[-1].role != "user":
            raise ApiError("The last message must be the user's question (role 'user').", 400, code="no_user_message")
        try:
            question = clean_user_text(conversation[-1].text(), config.max_message_chars, "en")
        except InputRejected as exc:
            raise ApiError(f"{exc} Send a question of at most {config.max_message_chars} characters.", 400,
                           code="invalid_message") from None
        history = [ChatMessage(m.role, m.text()) for m in conversation[:-1]][-HISTORY_TURNS:]
        stored = _open_conversation(owner, mode, question, opts) if opts.store else None
        asked, shown = (), ()
        if stored is not None and mode == "reflect":
            conv = service.journal.get(owner.user, stored)
            asked = tuple(q for m in conv.messages if m.role == "assistant" for q in m.questions)
            shown = tuple(i.text for m in conv.messages if m.role == "assistant" for i in m.insights)
        kwargs = dict(mode=mode, history=history, language=opts.language, kinds=tuple(opts.kinds))
        if mode == "reflect":
            kwargs.update(stage=opts.stage, asked=asked, shown=shown)
        completion_id = f"chatcmpl-{secrets.token_hex(12)}"
        created = int(time.time())

        def finish(answer: Answer) -> Extension:
            if answer.error:
                raise ApiError(f"The model backend failed: {answer.error}", 502, "server_error", "model_backend_error")
            if stored is not None:
                _store_answer(owner, stored, question, answer, opts.stage)
            return _extension(answer, mode, stored, opts.include_answer)

        if not body.stream:
            with within_concurrency():
                answer = service.engine.answer(question, **kwargs)
            ext = finish(answer)
            return ChatCompletion(id=completion_id, created=created, model=body.model, byledelse=ext,
                                  choices=[Choice(message=AssistantMessage(content=answer.text))])

        def events() -> Iterator[str]:
            def chunk(delta: Delta, finish_reason=None, ext: Extension | None = None) -> str:
                record = ChatCompletionChunk(id=completion_id, created=created, model=body.model,
                                             choices=[ChunkChoice(delta=delta, finish_reason=finish_reason)], byledelse=ext)
                return f"data: {record.model_dump_json(exclude_none=True)}\n\n"

            with within_concurrency():
                yield chunk(Delta(role="assistant", content=""))
                try:
                    stream = service.engine.stream(question, **kwargs)
                    for piece in stream:
                        yield chunk(Delta(content=piece))
                    ext = finish(stream.answer)
                except ApiError as exc:
                    yield f"data: {json.dumps(exc.body())}\n\n"
                    return
                except AssistantError as exc:
                    yield f"data: {json.dumps(_as_api_error(exc).body())}\n\n"
                    return
                yield chunk(Delta(), "stop", ext)
                yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    @api.post("/search", response_model=SearchResponse, summary="Retrieval only: hits with scores and where they are")
    def search(body: SearchRequest, owner: KeyOwner = Depends(caller)) -> SearchResponse:
        try:
            query = clean_user_text(body.query, config.max_message_chars, "en")
        except InputRejected as exc:
            raise ApiError(f"{exc} Send a query of at most {config.max_message_chars} characters.", 400, code="invalid_query") from None
        with within_concurrency():
            hits = runtime.retriever.search(query, k=body.k, kinds=tuple(body.kinds), mode=body.mode)
        return SearchResponse(query=query, hits=[
            SearchHit(rank=h.rank, score=round(h.score, 6), dense=None if h.dense is None else round(h.dense, 4),
                      lexical=None if h.lexical is None else round(h.lexical, 4), id=h.chunk.id, source=h.chunk.meta.source,
                      title=h.chunk.meta.title, kind=h.chunk.meta.kind, language=h.chunk.meta.language, page=h.chunk.page,
                      slide=h.chunk.slide, section=h.chunk.section, locator=h.chunk.locator("en"), text=h.chunk.text,
                      provenance=h.chunk.provenance)
            for h in hits
        ])

    @api.post("/ingest", response_model=IngestResponse, summary="Facilitators: upload documents into the shared index",
              responses={422: {"description": "A file could not be read: not kept, the index unchanged; `ingest` holds the report."}})
    def ingest(files: list[UploadFile] = File(description="PDF, Markdown, text, Word (.docx) or PowerPoint (.pptx)"),
               kind: str = Form("programme", description="programme, leadership or question"),
               provenance: str = Form(DEFAULT_PROVENANCE, description="Where the content comes from: programme "
                                      "(default), literature or assistant (docs/retrieval.md)"),
               owner: KeyOwner = Depends(caller)) -> IngestResponse:
        if owner.role != "facilitator":
            raise ApiError("Only facilitators can upload documents. Ask a facilitator, or use a facilitator's API key.", 403,
                           "permission_error", "facilitators_only")
        if kind not in UPLOAD_KINDS:
            raise ApiError(f"Unknown kind of document. Use one of: {', '.join(UPLOAD_KINDS)}.", 400, code="invalid_kind")
        if provenance not in PROVENANCES:
            raise ApiError(f"Unknown provenance. Use one of: {', '.join(PROVENANCES)}.", 400, code="invalid_provenance")
        limit = config.max_upload_mb * 1024 * 1024
        with tempfile.TemporaryDirectory(prefix="api-upload-") as tmp:
            paths: list[Path] = []
            for f in files:
                name = safe_filename(f.filename or "dokument")
                if not name.lower().endswith(UPLOAD_SUFFIXES):
                    raise ApiError(f"{name}: this type of file is not accepted. Upload PDF, Markdown, text, Word (.docx) "
                                   "or PowerPoint (.pptx).", 415, code="unsupported_file_type")
                data = f.file.read(int(limit) + 1)
                if len(data) > limit:
                    raise ApiError(f"{name}: larger than {config.max_upload_mb:g} MB (ASSISTANT_MAX_UPLOAD_MB). "
                                   "Split it or raise the limit.", 413, code="file_too_large")
                path = Path(tmp) / name
                path.write_bytes(data)
                paths.append(path)
            with within_concurrency():
                report, problems = service.upload(owner.role, paths, kind, provenance)
        stored = [f"{kind}/{p.name}" for p in paths]
        payload = report.model_dump(mode="json")
        if report.failed or problems:
            names = ", ".join(i.source for i in report.failed) or ", ".join(p.split(":")[0] for p in problems)
            raise ApiError(f"Could not read {names}: not kept, and the index is as it was. The reason for each file is "
                           "in ingest.failed; fix the file (or export it again as PDF or .docx) and upload it again.", 422,
                           code="unreadable_file", extra={"ingest": payload})
        return IngestResponse(files=stored, report=payload)

    @api.get("/health", response_model=Health, summary="Index size, embedder, store and model backend status",
             responses={503: {"description": "A component is not working; the body says which."}})
    def health(owner: KeyOwner = Depends(caller)):
        index: dict = {}
        try:
            revision = runtime.store.revision()
            chunks = runtime.retriever.chunks
            index = {"chunks": len(chunks), "documents": len({c.meta.source for c in chunks.values()}),
                     "fingerprint": corpus_digest([(c.id, c.content_hash) for c in chunks.values()]),
                     "embedding_model": runtime.embedder.model_id, "revision": revision}
            store = ComponentStatus(ok=True, detail="chroma server" if runtime.settings.uses_chroma_server else "embedded chroma")
        except Exception as exc:  # noqa: BLE001 - reported as the store's status
            store = ComponentStatus(ok=False, detail=_detail(exc))
        try:
            runtime.embedder.embed_queries(["health"])
            embedder = ComponentStatus(ok=True, detail=runtime.embedder.model_id)
        except Exception as exc:  # noqa: BLE001
            embedder = ComponentStatus(ok=False, detail=_detail(exc))
        model = _model_status(runtime)
        ok = store.ok and embedder.ok and model.ok
        record = Health(ok=ok, index=index, embedder=embedder, store=store, model=model, auth="local" if users is None else "api_key",
                        engine={"backend": runtime.settings.llm_backend, "answer_chunks": service.engine.config.answer_chunks})
        return JSONResponse(record.model_dump(mode="json"), status_code=200 if ok else 503)

    @api.get("/openapi.json", include_in_schema=False)
    def openapi_schema(owner: KeyOwner = Depends(caller)) -> JSONResponse:
        return JSONResponse(api.openapi())

    @api.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs(owner: KeyOwner = Depends(caller)) -> HTMLResponse:
        return HTMLResponse(docs_page(api.openapi()))

    # -- helpers ---------------------------------------------------------------------------------------
    class within_concurrency:
        """At most `concurrency` answers, searches or ingests at once, as in the browser app."""

        def __enter__(self):
            if not working.acquire(timeout=120):
                raise ApiError("The assistant is busy. Try again in a minute.", 503, "server_error", "busy")

        def __exit__(self, *exc):
            working.release()

    def _open_conversation(owner: KeyOwner, mode: str, question: str, opts) -> str:
        if opts.conversation_id:
            try:
                conv = service.journal.get(owner.user, opts.conversation_id)
            except NotFound:
                raise ApiError("No such conversation for this key's user. Leave out conversation_id to start a new one.", 404,
                               code="conversation_not_found") from None
            return conv.id
        words = question.split()
        title = " ".join(words[:8]) + ("…" if len(words) > 8 else "")
        return service.journal.create(owner.user, mode=mode, title=title, stage=opts.stage)

    def _store_answer(owner: KeyOwner, cid: str, question: str, answer: Answer, stage: str | None) -> None:
        journal = service.journal
        journal.add_message(owner.user, cid, "user", question, stage=stage)
        journal.add_message(owner.user, cid, "assistant", answer.text, list(answer.citations), stage=stage,
                            questions=answer.reflection_questions, insights=answer.insights, kind="answer")
        if answer.mode == "reflect":
            asked = answer.reflection_questions
            journal.update(owner.user, cid, stage=stage, open_question=asked[-1] if asked else None)

    def _extension(answer: Answer, mode: str, stored: str | None, include_answer: bool) -> Extension:
        chunks = None
        if include_answer:
            known = runtime.retriever.chunks
            chunks = [known[i] for i in dict.fromkeys((*answer.retrieved, *answer.asked_from)) if i in known]
        return Extension(mode=mode, language=answer.language, citations=list(answer.citations), refused=answer.refused or answer.declined,
                         declined=answer.declined, backend=answer.backend, stored=stored is not None, conversation_id=stored,
                         answer=answer if include_answer else None, chunks=chunks)

    return api


def _as_api_error(exc: AssistantError) -> ApiError:
    """A project error from behind the API (the service, the index, the engine) in the API's shape.
    The API speaks English; the service's own messages are bokmål, so they follow as details."""
    from assistant.core.errors import AccessError, InputError

    if isinstance(exc, InputError):
        return ApiError(f"The input cannot be used ({exc.user_message}). Check what was sent; see /v1/docs.", 400,
                        code="invalid_input")
    if isinstance(exc, AccessError):
        return ApiError(f"Your role does not allow this ({exc.user_message}). Use a key of a user who may, e.g. a "
                        "facilitator's for ingest.", 403, "permission_error", "forbidden")
    return ApiError(f"A part the assistant needs is not available ({exc.user_message}). Try again shortly; if it "
                    "persists, tell whoever runs the server.", 503, "server_error", "service_unavailable")


def _model_status(runtime) -> ComponentStatus:
    settings = runtime.settings
    if settings.llm_backend == "extractive":
        return ComponentStatus(ok=True, detail="extractive (no language model)")
    try:
        model = runtime.chat_model
    except AssistantError as exc:
        return ComponentStatus(ok=False, detail=exc.user_message)
    if settings.llm_backend == "openai" and settings.llm_base_url:
        import httpx

        try:
            r = httpx.get(settings.llm_base_url.rstrip("/") + "/models", timeout=3)
            return ComponentStatus(ok=r.status_code < 500, detail=f"{getattr(model, 'name', 'openai')}: HTTP {r.status_code}")
        except httpx.HTTPError as exc:
            return ComponentStatus(ok=False, detail=f"{getattr(model, 'name', 'openai')}: unreachable ({type(exc).__name__})")
    return ComponentStatus(ok=True, detail=str(getattr(model, "name", settings.llm_backend)))


def _detail(exc: Exception) -> str:
    return exc.user_message if isinstance(exc, AssistantError) else type(exc).__name__


def docs_page(schema: dict) -> str:
    """The API's documentation as plain HTML from its OpenAPI schema: every route with its summary,
    request body and responses, then every record with its fields. No script: the page works under
    the app's content security policy and offline."""
    esc = html.escape
    parts = [f"<h1>{esc(schema['info']['title'])} v{esc(schema['info']['version'])}</h1>",
             f"<p>{esc(schema['info'].get('summary', ''))}</p>",
             "<p>Machine-readable: <a href=\"openapi.json\">openapi.json</a>. Extension fields and examples: docs/api.md "
             "in the repository. Every route needs <code>Authorization: Bearer &lt;key&gt;</code> when sign-in is on.</p>",
             "<h2>Routes</h2>"]
    for path, methods in schema.get("paths", {}).items():
        for method, op in methods.items():
            parts.append(f"<h3><code>{esc(method.upper())} /v1{esc(path)}</code></h3><p>{esc(op.get('summary', ''))}</p>")
            content = op.get("requestBody", {}).get("content", {})
            for media, spec in content.items():
                parts.append(f"<p>Body ({esc(media)}): <code>{esc(_ref_name(spec.get('schema', {})))}</code></p>")
            rows = "".join(f"<li>{esc(code)}: {esc(r.get('description', ''))}</li>" for code, r in op.get("responses", {}).items())
            parts.append(f"<ul>{rows}</ul>")
    parts.append("<h2>Records</h2>")
    for name, spec in schema.get("components", {}).get("schemas", {}).items():
        rows = "".join(
            f"<tr><td><code>{esc(field)}</code></td><td>{esc(_type_name(f))}</td><td>{esc(f.get('description', ''))}</td></tr>"
            for field, f in spec.get("properties", {}).items()
        )
        parts.append(f"<h3 id=\"{esc(name)}\">{esc(name)}</h3><p>{esc(spec.get('description', '') or '')}</p>"
                     f"<table><tr><th>field</th><th>type</th><th>meaning</th></tr>{rows}</table>")
    style = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#0f172a}"
             "table{border-collapse:collapse}td,th{border:1px solid #cbd5e1;padding:.3rem .5rem;text-align:left;vertical-align:top}")
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{esc(schema['info']['title'])}</title>"
            f"<style>{style}</style></head><body><main>{''.join(parts)}</main></body></html>")


def _ref_name(spec: dict) -> str:
    ref = spec.get("$ref", "")
    return ref.rsplit("/", 1)[-1] if ref else spec.get("type", "object")


def _type_name(spec: dict) -> str:
    if "$ref" in spec:
        return _ref_name(spec)
    if "anyOf" in spec:
        return " | ".join(_type_name(s) for s in spec["anyOf"])
    if spec.get("type") == "array":
        return f"list[{_type_name(spec.get('items', {}))}]"
    if "enum" in spec:
        return " | ".join(json.dumps(v) for v in spec["enum"])
    if "const" in spec:
        return json.dumps(spec["const"])
    return str(spec.get("type", "any"))
