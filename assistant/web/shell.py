"""The app shell: a Starlette/FastAPI application of our own, with the Gradio UI mounted in it.

Gradio serves the interface; the shell decides who reaches it and from where (issue 16,
docs/reliability.md "The web face"):

- **Host allowlist.** A request whose `Host` is not the app's own name is refused (400), so a
  hostname an attacker maps to loopback (DNS rebinding) reaches nothing.
- **Same origin only.** A request that a browser marks as coming from another origin (`Origin`
  header, or `Sec-Fetch-Site: cross-site/same-site`) is refused (403), reads included, except a
  plain navigation to a page. No CORS headers are ever sent (Gradio's own CORS, which reflects
  any origin with credentials, is switched off by the shell's own `CORSMiddleware`).
- **Sign-in of our own.** `/login` (a form in the interface language) and `/logout` (POST only,
  with `Clear-Site-Data`). The session cookie is `HttpOnly`, `SameSite=Strict`, `Secure` over
  HTTPS. Failed sign-ins back off per user name and per address; unknown and known users cost
  the same (one scrypt run).
- **Sessions any replica can check** (`assistant/web/sessions.py`): the cookie is signed with a
  shared secret, expires when idle (renewed as it is used), and sign-out ends it on every replica.
  A Gradio `session_hash` belongs to the first user who uses it; another user presenting it is
  refused.
- **Closed routes.** Gradio routes the app does not use (`/gradio_api/token`, `deep_link`, its own
  login and logout, the run history, the API docs and MCP) answer 404.
- **Request-size limits** before a body is read.
- **Headers** on every response: a content security policy that lets the page load images and
  connect only to itself, no framing, the referrer only within the app.
- **The HTTP API** (`assistant/web/api.py`) is mounted at `/v1`. The host and origin rules and the
  size limits hold for it too (its refusals in OpenAI's JSON error shape); it signs callers in by
  API key itself, so the browser's session cookie neither opens nor is needed for it.
"""

from __future__ import annotations

import html
import ipaddress
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from assistant.app.auth import LOCAL_USER, UserStore
from assistant.core.errors import ConfigError
from assistant.core.i18n import LANGUAGES, bilingual, tr
from assistant.core.settings import ComponentConfig
from assistant.web.api_errors import SHELL_REFUSALS, error_body
from assistant.web.sessions import Sessions

COOKIE = "assistant_session"
API_PREFIX = "/v1"  # the HTTP API (assistant/web/api.py): key-authenticated, JSON errors
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")

# Gradio routes the interface never needs: refused before Gradio sees them.
CLOSED_PREFIXES = (
    "/gradio_api/token",
    "/gradio_api/deep_link",
    "/gradio_api/runs",
    "/gradio_api/mcp",
    "/gradio_api/docs",
    "/gradio_api/openapi.json",
    "/gradio_api/info",
    "/gradio_api/api_info",
    "/gradio_api/monitoring",
    "/gradio_api/vibe",
    "/gradio_api/login",
    "/gradio_api/logout",
    "/gradio_api/file",  # exports are served by the shell's owner-checked /export route
    "/gradio_api/proxy",
    "/gradio_api/run/",
    "/gradio_api/api/",
    "/gradio_api/call/",
    "/gradio_api/stream/",
    "/gradio_api/dev/",
    "/gradio_api/custom_component",
    "/gradio_api/run-history",
    "/gradio_api/login_check",
    "/gradio_api/app_id",
    "/gradio_api/user",
    "/login/",
    "/logout/",
    "/docs",
    "/redoc",
    "/openapi.json",
    "/monitoring",
)
# Reachable without a session (the sign-in page needs nothing else).
PUBLIC_PATHS = ("/login", "/healthz", "/favicon.ico")

CSP = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; font-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
    "connect-src 'self'; frame-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'; "
    "object-src 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    # Not no-referrer: a form POST would then carry "Origin: null" and be refused as foreign.
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


class ShellConfig(ComponentConfig):
    """What the shell reads: the address it serves, the names it answers to, its limits and language."""

    host: str
    port: int
    allowed_hosts: tuple[str, ...]
    language: str
    max_request_kb: float
    max_upload_mb: float
    session_idle_hours: float


class ServeRefused(ConfigError, RuntimeError):
    """The app will not start with these settings; str() says what to do."""


def check_exposure(config: ShellConfig, users: UserStore | None) -> None:
    """Serving beyond this machine without sign-in would give everyone on the network one shared,
    facilitator-capable user: refused."""
    if users is None and not is_loopback(config.host):
        raise ServeRefused(
            f"Vil ikke lytte på {config.host} uten innlogging: da kan alle på nettet lese og slette journalen. "
            "Legg til brukere (assistant user NAVN --role participant) og start med ASSISTANT_USERS_FILE, "
            "eller lytt bare lokalt (ASSISTANT_HOST=127.0.0.1). / Refusing to serve on a non-loopback address "
            "without sign-in: add users and set ASSISTANT_USERS_FILE, or keep ASSISTANT_HOST=127.0.0.1."
        )


def is_loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(config: ShellConfig) -> frozenset[str]:
    """Host names (without port) the app answers to: the configured ones, else loopback and the
    address it listens on."""
    names = set(h.strip().lower() for h in config.allowed_hosts if h.strip())
    if not names:
        names = set(LOOPBACK_NAMES)
        if config.host not in ("0.0.0.0", "::"):
            names.add(config.host.lower())
    return frozenset(n.strip("[]") for n in names)


def host_name(host_header: str) -> str:
    """`example.org:7860` -> `example.org`; `[::1]:7860` -> `::1`."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


# --- sign-in state -------------------------------------------------------------------------------
class LoginThrottle:
    """Backoff after failed sign-ins, per user name and per client address: the first
    `free_attempts` failures cost nothing, then each further failure doubles the wait
    (1 s, 2 s, 4 s … up to `max_wait_s`). A success clears the user's count."""

    def __init__(self, free_attempts: int = 5, max_wait_s: float = 900.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.free_attempts = free_attempts
        self.max_wait_s = max_wait_s
        self.clock = clock
        self._failures: dict[str, tuple[int, float]] = {}  # key -> (failures, blocked until)
        self._lock = threading.Lock()

    def wait_s(self, *keys: str) -> float:
        now = self.clock()
        with self._lock:
            return max([0.0] + [until - now for k in keys if (entry := self._failures.get(k)) and (until := entry[1]) > now])

    def failed(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            for k in keys:
                n, _ = self._failures.get(k, (0, 0.0))
                n += 1
                wait = 0.0 if n < self.free_attempts else min(self.max_wait_s, 2.0 ** (n - self.free_attempts))
                self._failures[k] = (n, now + wait)
            if len(self._failures) > 100_000:  # bounded memory under a spray of names
                self._failures.clear()

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for k in keys:
                self._failures.pop(k, None)


# --- pages ----------------------------------------------------------------------------------------
def login_page(lang: str, message: str = "") -> str:
    esc = html.escape
    note = f'<p class="msg" role="alert">{esc(message)}</p>' if message else ""
    # The other languages, each link named in its own language and marked as such (WCAG 3.1.2).
    others = " · ".join(
        f'<a href="/login?lang={code}" hreflang="{code}" lang="{code}">{esc(tr(code, "language.full_name"))}</a>'
        for code in LANGUAGES if code != lang
    )
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(tr(lang, "login.title"))}</title>
<style>
body {{ font-family: system-ui, sans-serif; background: #f8fafc; color: #0f172a; margin: 0; }}
main {{ max-width: 26rem; margin: 8vh auto; background: #fff; padding: 2rem; border-radius: .75rem; box-shadow: 0 1px 4px #0002; }}
h1 {{ font-size: 1.35rem; margin-top: 0; }}
label {{ display: block; margin-top: 1rem; font-weight: 600; }}
input {{ width: 100%; box-sizing: border-box; padding: .6rem; font-size: 1rem; border: 1px solid #64748b; border-radius: .4rem; }}
button {{ margin-top: 1.4rem; width: 100%; padding: .7rem; font-size: 1rem; background: #c2410c; color: #fff; border: 0; border-radius: .4rem; cursor: pointer; }}
button:hover {{ background: #9a3412; }}
.msg {{ background: #fef2f2; color: #991b1b; padding: .6rem; border-radius: .4rem; }}
a {{ color: #9a3412; }}
</style></head>
<body><main>
<h1>{esc(tr(lang, "ui.title"))}</h1>
<p>{esc(tr(lang, "login.intro"))}</p>
{note}
<form method="post" action="/login?lang={lang}">
<label for="username">{esc(tr(lang, "login.user"))}</label>
<input id="username" name="username" autocomplete="username" required maxlength="64" autofocus>
<label for="password">{esc(tr(lang, "login.password"))}</label>
<input id="password" name="password" type="password" autocomplete="current-password" required maxlength="256">
<button type="submit">{esc(tr(lang, "login.button"))}</button>
</form>
<p>{others}</p>
</main></body></html>"""


# --- the application ---------------------------------------------------------------------------------
def create_app(config: ShellConfig, demo, users: UserStore | None, *, exports=None, sessions: Sessions | None = None,
               ui: dict | None = None, api=None):
    """The shell with `demo` (a Gradio Blocks) mounted at `/`. `exports` (an `ExportStore`) serves
    files a user exported, to that user only; `ui` holds Gradio's page options (css, theme, js);
    `api` (assistant/web/api.py) is mounted at `/v1`."""
    import gradio as gr

    if sessions is None:  # one process on its own (tests): a key of its own, sign-outs in memory
        sessions = Sessions(secrets.token_bytes(32), config.session_idle_hours * 3600, users=users)
    if users is not None:
        users.check("", "")  # makes the stand-in hash now: the first unknown name costs what a known one does
    throttle = LoginThrottle()
    hosts = allowed_hosts(config)

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    # An empty CORS policy of our own: Gradio then adds none (its own reflects any origin).
    app.add_middleware(CORSMiddleware, allow_origins=[], allow_credentials=False)

    def lang_of(request: Request) -> str:
        lang = request.query_params.get("lang", config.language)
        return lang if lang in LANGUAGES else config.language

    def current_user(request: Request) -> str | None:
        """Who is signed in: found once per request by `ShellGuard`, which runs in front."""
        return request.scope.get("state", {}).get(SCOPE_USER)

    @app.get("/healthz")
    def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.get("/login")
    def login_form(request: Request):
        if users is None or current_user(request):
            return RedirectResponse("/", status_code=303)
        return HTMLResponse(login_page(lang_of(request)), headers={"Cache-Control": "no-store"})

    @app.post("/login")
    async def login(request: Request):
        lang = lang_of(request)
        if users is None:
            return RedirectResponse("/", status_code=303)
        form = await request.form()
        name = str(form.get("username", ""))[:64].strip()
        password = str(form.get("password", ""))[:256]
        address = request.client.host if request.client else "?"
        keys = (f"user:{name.lower()}", f"addr:{address}")
        wait = throttle.wait_s(*keys)
        if wait > 0:
            return HTMLResponse(
                login_page(lang, tr(lang, "login.throttled", seconds=int(wait) + 1)), status_code=429,
                headers={"Retry-After": str(int(wait) + 1), "Cache-Control": "no-store"},
            )
        if not users.check(name, password):
            throttle.failed(*keys)
            return HTMLResponse(login_page(lang, tr(lang, "login.failed")), status_code=401, headers={"Cache-Control": "no-store"})
        throttle.succeeded(*keys)
        response = RedirectResponse(f"/?lang={lang}" if lang != config.language else "/", status_code=303)
        response.headers.append("set-cookie", session_cookie(sessions.create(name), secure=request.url.scheme == "https"))
        return response

    @app.post("/logout")
    def logout(request: Request):
        user = sessions.end(request.cookies.get(COOKIE)) if users is not None else LOCAL_USER
        if user:
            drop_gradio_state(demo, sessions.hashes_of(user, forget=True))
        response = RedirectResponse("/login" if users is not None else "/", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        response.headers["Clear-Site-Data"] = '"cache", "cookies", "storage"'
        return response

    @app.get("/logout")
    def logout_get() -> Response:
        return PlainTextResponse(bilingual(config.language, "shell.logout_post"), status_code=405,
                                 headers={"Allow": "POST"})

    @app.get("/export/{token}")
    def export(token: str, request: Request):
        user = current_user(request)
        found = exports.get(token, user) if (exports is not None and user) else None
        if found is None:
            return PlainTextResponse(bilingual(config.language, "shell.file_not_found"), status_code=404)
        name, data, media = found
        quoted = urllib.parse.quote(name)
        return Response(data, media_type=media, headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quoted}", "Cache-Control": "no-store",
        })

    if api is not None:
        app.mount(API_PREFIX, api)
    gr.mount_gradio_app(
        app, demo, path="/", auth_dependency=current_user if users is not None else None,
        run_history=False, footer_links=[], show_error=False, ssr_mode=False, allowed_paths=[],
        max_file_size=f"{int(config.max_upload_mb)}mb", server_name=config.host, server_port=config.port,
        **(ui or {}),
    )
    return ShellGuard(app, config=config, hosts=hosts, sessions=sessions, users=users)


SCOPE_USER = "assistant_user"  # where ShellGuard leaves the signed-in user in the request's state


def session_cookie(value: str, *, secure: bool) -> str:
    """The `Set-Cookie` value of a session: script cannot read it, no other site sends it."""
    return f"{COOKIE}={value}; HttpOnly; Path=/; SameSite=strict" + ("; Secure" if secure else "")


def drop_gradio_state(demo, session_hashes: list[str]) -> None:
    """Forget Gradio's server-side state of these sessions (conversation ids, chat history)."""
    holder = getattr(demo, "state_holder", None)
    for h in session_hashes:
        try:
            if holder is not None:
                holder.delete_state(h)
        except Exception:  # noqa: BLE001 - best effort: the state also expires with the session
            pass


class ShellGuard:
    """Pure ASGI middleware in front of everything (Gradio included)."""

    def __init__(self, app, *, config: ShellConfig, hosts: frozenset[str], sessions: Sessions, users: UserStore | None) -> None:
        self.app = app
        self.hosts = hosts
        self.sessions = sessions
        self.users = users
        self.max_body = int(config.max_request_kb * 1024)
        self.max_upload = int(config.max_upload_mb * 1024 * 1024) + 64 * 1024
        self.language = config.language

    def notice(self, key: str) -> str:
        """A refusal's text: in the app's language and in English (whose request it is, and so
        its language, is not known yet)."""
        return bilingual(self.language, key)

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        path = scope.get("path", "")
        method = scope.get("method", "GET")
        api = path == API_PREFIX or path.startswith(API_PREFIX + "/")

        async def refuse(status: int, text: str, extra: list[tuple[bytes, bytes]] = ()) -> None:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            body, media = text.encode(), b"text/plain; charset=utf-8"
            if api and status in SHELL_REFUSALS:  # an API client reads OpenAI's error shape, in English
                body, media = error_body(*SHELL_REFUSALS[status]), b"application/json"
            await send({"type": "http.response.start", "status": status, "headers": [
                (b"content-type", media), (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"), *SECURITY_HEADERS, *extra]})
            await send({"type": "http.response.body", "body": body})

        if host_name(headers.get("host", "")) not in self.hosts:
            return await refuse(400, self.notice("shell.unknown_host"))
        if self._foreign(headers, method):
            return await refuse(403, self.notice("shell.foreign"))
        if any(path == p or path.startswith(p if p.endswith("/") else p + "/") or path.startswith(p + "=")
               for p in CLOSED_PREFIXES):
            return await refuse(404, "Not found")

        renewed = None  # a session cookie with its idle clock restarted, sent back with the response
        if api:
            user = None  # the API signs its callers in by key (assistant/web/api.py), never by the cookie
        elif self.users is None:
            user = LOCAL_USER
        else:
            user, renewed = self.sessions.resolve(_cookie(headers.get("cookie", ""), COOKIE))
        scope.setdefault("state", {})[SCOPE_USER] = user  # the routes and Gradio read it (`current_user`)
        if user is None and path not in PUBLIC_PATHS and not api:
            page = path == "/" or "text/html" in headers.get("accept", "")
            if method == "GET" and page and headers.get("sec-fetch-mode", "navigate") == "navigate" and "/gradio_api/" not in path:
                return await refuse(303, "", [(b"location", b"/login")])
            return await refuse(401, self.notice("shell.not_signed_in"))

        # Request size: known length checked before reading; a streamed body is counted.
        limit = self.max_upload if path.startswith("/gradio_api/upload") or path == API_PREFIX + "/ingest" else self.max_body
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return await refuse(413, self.notice("shell.too_large"))

        body_parts: list[bytes] = []
        # Gradio names the session in the JSON body of its POSTs (queue/join, cancel, reset).
        needs_body = (user is not None and method == "POST" and path.startswith("/gradio_api/")
                      and headers.get("content-type", "").startswith("application/json"))
        if needs_body:
            # Read the (small) request to see whose session it is for.
            size = 0
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    return await refuse(413, self.notice("shell.too_large"))
                body_parts.append(chunk)
                if not message.get("more_body"):
                    break
            session_hash = _json_field(b"".join(body_parts), "session_hash")
        else:
            session_hash = _query_field(scope.get("query_string", b""), "session_hash") or _hash_in_path(path)
        # Only facilitators upload documents: nobody else can fill the upload folder.
        if path.startswith("/gradio_api/upload") and self.users is not None and user is not None and method == "POST":
            if self.users.role(user) != "facilitator":
                return await refuse(403, self.notice("shell.upload_forbidden"))
        if user is not None and session_hash and not self.sessions.claim(session_hash, user):
            return await refuse(403, self.notice("shell.other_user"))

        if needs_body:
            replay = [b"".join(body_parts)]

            async def receive_again():
                if replay:
                    return {"type": "http.request", "body": replay.pop(), "more_body": False}
                return await receive()

            inner_receive = receive_again
        else:
            seen = 0

            async def inner_receive():
                nonlocal seen
                message = await receive()
                if message["type"] == "http.request":
                    seen += len(message.get("body", b""))
                    if seen > limit:
                        raise _TooLarge()
                return message

        extra = SECURITY_HEADERS
        if renewed is not None and scope["type"] == "http" and path != "/logout":
            extra = [*SECURITY_HEADERS, (b"set-cookie", session_cookie(renewed, secure=scope.get("scheme") == "https").encode())]

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if not k.lower().startswith(b"access-control-")]
                message = {**message, "headers": kept + extra}
            await send(message)

        try:
            await self.app(scope, inner_receive, send_with_headers)
        except _TooLarge:
            await refuse(413, self.notice("shell.too_large"))

    def _foreign(self, headers: dict[str, str], method: str) -> bool:
        """A browser request from another origin (reads included), other than a plain navigation."""
        origin = headers.get("origin")
        if origin is not None and origin != "null":
            parsed = urllib.parse.urlsplit(origin)
            own_host = headers.get("host", "").lower()
            if (parsed.netloc or "").lower() != own_host or host_name(parsed.netloc or "") not in self.hosts:
                return True
        elif origin == "null":
            return True
        site = headers.get("sec-fetch-site")
        if site in ("cross-site", "same-site"):
            navigation = method == "GET" and headers.get("sec-fetch-mode") == "navigate" and headers.get("sec-fetch-dest") == "document"
            return not navigation
        return False


class _TooLarge(Exception):
    """Control flow inside the shell, not an error anyone sees: raised from `receive` when a body
    passes the limit, caught around the mounted app and answered with 413. Deliberately not an
    AssistantError, so that no `except AssistantError` on the way can swallow it."""


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        k, _, v = part.strip().partition("=")
        if k == name:
            return v
    return None


def _query_field(query: bytes, name: str) -> str | None:
    values = urllib.parse.parse_qs(query.decode("latin-1")).get(name)
    return values[0] if values else None


def _hash_in_path(path: str) -> str | None:
    # /gradio_api/heartbeat/{session_hash}
    marker = "/heartbeat/"
    if marker in path:
        return path.split(marker, 1)[1].split("/", 1)[0] or None
    return None


def _json_field(body: bytes, name: str) -> str | None:
    try:
        value = json.loads(body or b"{}").get(name)
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None
