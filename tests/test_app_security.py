"""Access control, file routes and outbound network for the running app."""

from __future__ import annotations

import http.client
import http.server
import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.cookiejar import CookieJar

import pytest

from .conftest import start_signed_in_app, stop_app

# Served without sign-in by design: the login page shell, static front-end assets with no data,
# the route schema (no data), and endpoints that only say whether sign-in is needed.
PUBLIC = re.compile(
    r"^/($|healthz$|login/?$|logout$|config/?$|favicon\.ico$|theme\.css$|robots\.txt$|manifest\.json$|openapi\.json$|pwa_icon|assets/|static/|svelte/|"
    r"gradio_api/(theme\.css|login_check/?|app_id/?|startup-events|upload_progress|queue/status|heartbeat/))"
)


def app_routes(app) -> list[tuple[str, str]]:
    """(method, path) for every route, including those of included routers."""
    out: list[tuple[str, str]] = []

    def walk(routes, prefix=""):
        for r in routes:
            nested = getattr(r, "effective_candidates", None)
            if nested is not None:
                cands = nested() if callable(nested) else nested
                walk([c[0] if isinstance(c, tuple) else c for c in cands], prefix)
            elif hasattr(r, "routes") and not hasattr(r, "endpoint"):
                walk(r.routes, prefix + getattr(r, "path", ""))
            elif hasattr(r, "path"):
                for m in sorted(getattr(r, "methods", None) or {"GET"}):
                    if m != "HEAD":
                        out.append((m, prefix + r.path))

    walk(app.routes)
    return sorted(set(out))


@pytest.fixture(scope="module")
def secured_app(indexed_data_copy):
    data = indexed_data_copy("secured")
    proc, url = start_signed_in_app(data, {"kari": ("participant", "kari-passord")})
    yield url, data
    stop_app(proc)


def request(url: str, method: str = "GET", opener=None, data: bytes | None = None):
    req = urllib.request.Request(url, method=method, data=data if method == "POST" else None)
    if method == "POST":
        req.add_header("Content-Type", "application/json")
    try:
        with (opener or urllib.request.build_opener()).open(req, timeout=5) as resp:
            return resp.status, resp.read(200_000)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(2000)


@dataclass
class Probe:
    """What a route sent within the time limit: status line and headers (if any), body bytes."""

    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    timed_out: bool = False  # the route held the connection open past the limit


def probe(url: str, method: str = "GET", data: bytes = b"{}", limit_s: float = 5.0,
          headers: dict[str, str] | None = None) -> Probe:
    """One request with a wall-clock limit; keeps whatever arrived before the limit."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=limit_s)
    deadline = time.monotonic() + limit_s
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    result = Probe(status=None)
    try:
        body = data if method == "POST" else None
        sent = {**({"Content-Type": "application/json"} if body else {}), **(headers or {})}
        conn.request(method, target, body=body, headers=sent)
        sock = conn.sock  # the response may take the socket over from the connection
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        resp = conn.getresponse()
        result.status, result.headers = resp.status, {k.lower(): v for k, v in resp.getheaders()}
        while len(result.body) < 200_000:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                result.timed_out = True
                break
            sock.settimeout(remaining)
            piece = resp.read1(65536)
            if not piece:
                break
            result.body += piece
    except (TimeoutError, socket.timeout):
        result.timed_out = True
    except http.client.IncompleteRead:  # a chunked stream whose next chunk did not come in time
        result.timed_out = time.monotonic() >= deadline - 0.1
    finally:
        conn.close()
    return result


def refuses(p: Probe) -> bool:
    """Did the route refuse a caller who is not signed in, and send nothing else?

    Refusals: an error or redirect status (401, 403, 404, a redirect to the login page, ...),
    the login shell ("auth_required": true), or "null" / no user. A route that held the
    connection open is a refusal only if its status line already said so: a 2xx stream that
    stays open (or a route that sends nothing at all) may be sending data to anyone.
    """
    if p.status is None:
        return False  # not even a status line before the limit
    if p.status >= 300:
        return True
    if p.timed_out:
        return False
    return b'"auth_required":true' in p.body or p.body.strip() in (b"null", b'{"token":null,"user":null}')


@pytest.fixture(scope="module")
def fake_routes():
    """A local server with a held-open 200 stream, a held-open 401, a closed 200 and a silent route."""
    release = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path == "/silent":
                release.wait(30)
                return
            event = b"data: {\"msg\": \"process_generating\"}\n\n"
            status, body = {"/held-200": (200, event), "/held-200-chunked": (200, event),
                            "/held-401": (401, b""), "/null": (200, b"null")}[self.path]
            self.send_response(status)
            self.send_header("Content-Type", "text/event-stream" if self.path.startswith("/held") else "application/json")
            if self.path.endswith("-chunked"):
                self.send_header("Transfer-Encoding", "chunked")
                body = f"{len(body):x}\r\n".encode() + body + b"\r\n"
            elif not self.path.startswith("/held"):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            if self.path.startswith("/held"):
                release.wait(30)  # keep the stream open, as a streaming route does

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    release.set()
    server.shutdown()
    server.server_close()


def test_route_check_does_not_take_a_held_open_stream_for_a_refusal(fake_routes):
    for route in ("/held-200", "/held-200-chunked"):
        held = probe(fake_routes + route, limit_s=1.5)
        assert held.status == 200 and held.timed_out and b"process_generating" in held.body, (route, held)
        assert not refuses(held), route
    silent = probe(fake_routes + "/silent", limit_s=1.5)
    assert silent.status is None and silent.timed_out and not refuses(silent)
    refused = probe(fake_routes + "/held-401", limit_s=1.5)
    assert refused.status == 401 and refused.timed_out and refuses(refused)
    closed = probe(fake_routes + "/null", limit_s=1.5)
    assert closed.status == 200 and not closed.timed_out and refuses(closed)


@pytest.mark.integration
def test_every_route_requires_sign_in(secured_app, settings):
    import gradio  # noqa: F401 - the app object below is built only to list its routes

    from assistant.core.answer import AnswerConfig, AnswerEngine
    from assistant.app.chat import ChatConfig, ChatService
    from assistant.app.journal import Journal
    from assistant.core.runtime import Runtime
    from assistant.web.ui import build_app

    url, _ = secured_app
    rt = Runtime.from_settings(settings)
    engine = AnswerEngine(AnswerConfig.from_settings(settings), rt.retriever, rt.embedder)
    demo = build_app(settings, ChatService(ChatConfig.from_settings(settings), rt, engine, Journal(settings.journal_path)), users=None)
    from assistant.web.shell import ShellConfig, create_app

    shell = create_app(ShellConfig.from_settings(settings), demo, users=None)  # the shell's own routes, with Gradio's mounted in it
    routes = app_routes(shell.app)
    assert ("GET", "/export/{token}") in routes and ("POST", "/logout") in routes
    assert len(routes) > 40
    open_routes = []
    for method, path in routes:
        if PUBLIC.match(path):
            continue
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        p = probe(urllib.parse.urljoin(url, concrete.lstrip("/")), method)
        if not refuses(p):
            open_routes.append((method, path, p.status, "held open" if p.timed_out else "closed", p.body[:120]))
    assert open_routes == []
    # The page itself sends a visitor to the login form, which says nothing about the data.
    status, body = request(url)
    assert status == 200 and b'action="/login' in body and b"journal" not in body.lower()


@pytest.mark.integration
def test_file_route_serves_nothing_outside_the_app(secured_app):
    url, data = secured_app
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = urllib.parse.urlencode({"username": "kari", "password": "kari-passord"}).encode()
    with opener.open(urllib.request.Request(urllib.parse.urljoin(url, "login"), data=form), timeout=10) as resp:
        assert resp.status == 200
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    assert probe(urllib.parse.urljoin(url, "config"), headers={"Cookie": cookie}).status == 200  # signed in
    for target in ["/etc/passwd", str(data / "users.json"), str(data / "journal.sqlite3"), "../../../../etc/passwd",
                   "%2e%2e/%2e%2e/etc/passwd"]:
        for route in ("gradio_api/file=", "gradio_api/file/"):
            p = probe(urllib.parse.urljoin(url, route + target), headers={"Cookie": cookie})
            secret = b"root:" in p.body or b"scrypt$" in p.body or b"SQLite" in p.body
            # An error status is a refusal; anything else must be a complete answer without the secrets.
            assert p.status is not None and (p.status >= 400 or not (p.timed_out or secret)), (route, target, p)


@pytest.mark.integration
def test_no_outbound_connections(tmp_path, bundled_settings):
    """Ingest, answer and serve with an audit hook that records every socket connect."""
    script = textwrap.dedent(
        f"""
        import json, sys, urllib.request
        seen = []
        def hook(event, args):
            if event == "socket.connect":
                addr = args[1]
                host = addr[0] if isinstance(addr, tuple) else str(addr)
                seen.append(str(host))
        sys.addaudithook(hook)
        from assistant.core.settings import Settings
        from assistant.core.runtime import Runtime
        from assistant.core.answer import AnswerConfig, AnswerEngine
        from ingest.pipeline import sync_corpus
        settings = Settings(_env_file=None, data_dir={str(tmp_path / "data")!r}, port=7860)
        rt = Runtime.from_settings(settings)
        sync_corpus(settings, rt.embedder, rt.store)
        AnswerEngine(AnswerConfig.from_settings(settings), rt.retriever, rt.embedder).answer("Hvilke kommuner deltok i piloten?")
        from assistant.web.ui import serve
        import socket
        s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
        settings = settings.model_copy(update={{"port": port}})
        server = serve(settings, prevent_thread_lock=True)
        urllib.request.urlopen(f"http://127.0.0.1:{{port}}/", timeout=10).read()
        server.close()
        # The server's own stdout lets no unknown line through (assistant/core/logsafe.py): the real one.
        sys.__stdout__.write(json.dumps(seen) + chr(10)); sys.__stdout__.flush()
        # Leave without interpreter teardown: native threads of the libraries (ONNX Runtime, Chroma)
        # still running at exit have aborted it ("terminate called without an active exception")
        # after everything this test checks had run.
        import os
        os._exit(0)
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    outside = [h for h in seen if not (h.startswith("127.") or h in ("::1", "localhost", "0.0.0.0") or h.startswith("/"))]
    assert seen and outside == []
