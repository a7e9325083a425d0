"""Access control, file routes and outbound network for the running app."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

import pytest

from .conftest import start_signed_in_app, stop_app

pytestmark = pytest.mark.integration

# Served without sign-in by design: the login page shell, static front-end assets with no data,
# the route schema (no data), and endpoints that only say whether sign-in is needed.
PUBLIC = re.compile(
    r"^/($|login/?$|logout$|config/?$|favicon\.ico$|theme\.css$|robots\.txt$|manifest\.json$|openapi\.json$|pwa_icon|assets/|static/|svelte/|"
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
    except TimeoutError:
        return 0, b"(timed out: a stream that sent nothing)"


def test_every_route_requires_sign_in(secured_app, settings):
    import gradio  # noqa: F401 - the app object below is built only to list its routes
    from gradio.routes import App

    from assistant.answer import AnswerEngine
    from assistant.chat import ChatService
    from assistant.journal import Journal
    from assistant.runtime import Runtime
    from assistant.ui import build_app

    url, _ = secured_app
    rt = Runtime.from_settings(settings)
    demo = build_app(settings, ChatService(settings, rt, AnswerEngine(settings, rt.retriever, rt.embedder),
                                           Journal(settings.journal_path)), users=None)
    routes = app_routes(App.create_app(demo))
    assert len(routes) > 40
    open_routes = []
    for method, path in routes:
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        status, body = request(urllib.parse.urljoin(url, concrete.lstrip("/")), method, data=b"{}")
        if PUBLIC.match(path):
            continue
        # Without sign-in a route may answer with an error, the login shell, or "null" (no user).
        harmless = (
            status >= 300
            or status == 0
            or b'"auth_required":true' in body
            or body.strip() in (b"null", b'{"token":null,"user":null}')
        )
        if not harmless:
            open_routes.append((method, path, status, body[:120]))
    assert open_routes == []
    # The page itself shows only the login form, and says nothing about the data.
    status, body = request(url)
    assert status == 200 and b'"auth_required":true' in body and b"journal" not in body.lower()


def test_file_route_serves_nothing_outside_the_app(secured_app):
    url, data = secured_app
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = urllib.parse.urlencode({"username": "kari", "password": "kari-passord"}).encode()
    with opener.open(urllib.request.Request(urllib.parse.urljoin(url, "login"), data=form), timeout=10) as resp:
        assert resp.status == 200
    for target in ["/etc/passwd", str(data / "users.json"), str(data / "journal.sqlite3"), "../../../../etc/passwd",
                   "%2e%2e/%2e%2e/etc/passwd"]:
        for route in ("gradio_api/file=", "gradio_api/file/"):
            status, body = request(urllib.parse.urljoin(url, route + target), opener=opener)
            assert status >= 400 or (b"root:" not in body and b"scrypt$" not in body and b"SQLite" not in body), (route, target)


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
        from assistant.settings import Settings
        from assistant.runtime import Runtime
        from assistant.answer import AnswerEngine
        from ingest.pipeline import sync_corpus
        settings = Settings(_env_file=None, data_dir={str(tmp_path / "data")!r}, port=7860)
        rt = Runtime.from_settings(settings)
        sync_corpus(settings, rt.embedder, rt.store)
        AnswerEngine(settings, rt.retriever, rt.embedder).answer("Hvilke kommuner deltok i piloten?")
        from assistant.ui import serve
        import socket
        s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
        settings = settings.model_copy(update={{"port": port}})
        demo = serve(settings, prevent_thread_lock=True)
        urllib.request.urlopen(f"http://127.0.0.1:{{port}}/", timeout=10).read()
        demo.close()
        print(json.dumps(seen))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    outside = [h for h in seen if not (h.startswith("127.") or h in ("::1", "localhost", "0.0.0.0") or h.startswith("/"))]
    assert seen and outside == []
