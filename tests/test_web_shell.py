"""The app shell (assistant/web/shell.py) against the attacks found on the web face (issue 16), with raw
HTTP on a running `assistant serve`: each test is an attack that used to get through.

Browser-side attacks (a page on another origin, a hostile document, storage after erase) are in
tests/test_browser_attacks.py."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import httpx
import pytest

from assistant.app.auth import UserStore, hash_password
from assistant.app.exports import ExportStore
from assistant.core.settings import Settings
from assistant.web.shell import COOKIE, LoginThrottle, ShellConfig, allowed_hosts, host_name

from .appclient import AppClient
from .conftest import start_app, start_signed_in_app, stop_app

USERS = {"kari": ("participant", "kari-passord"), "ola": ("participant", "ola-passord"), "fasi": ("facilitator", "fasi-passord")}
MARKER = "KARIS-HEMMELIGHET-7f3a"


# --- units --------------------------------------------------------------------------------------
def test_gradio_is_imported_without_regenerating_its_stubs():
    """`assistant.web` switches off Gradio's per-import stub rewrite (assistant/web/gradio_import.py)
    before Gradio loads; the web face still builds its components."""
    probe = ("import assistant.web.ui, gradio as gr; from assistant.web import gradio_import; "
             "gr.Blocks().__enter__(); gr.Textbox(label='x'); print(gradio_import.active())")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "True"
    # This Gradio has the function (a version without it would make the switch a silent no-op).
    plain = subprocess.run([sys.executable, "-c", "import gradio.component_meta as m; print(m.create_or_modify_pyi.__module__)"],
                           capture_output=True, text=True, check=True)
    assert plain.stdout.strip().splitlines()[-1] == "gradio.component_meta"


def test_throttle_backs_off_after_free_attempts_and_clears_on_success():
    now = [1000.0]
    t = LoginThrottle(free_attempts=3, max_wait_s=60, clock=lambda: now[0])
    for _ in range(2):
        t.failed("user:kari", "addr:1")
    assert t.wait_s("user:kari") == 0  # two failures are free
    t.failed("user:kari", "addr:1")
    assert t.wait_s("user:kari") == pytest.approx(1.0) and t.wait_s("addr:1") == pytest.approx(1.0)
    t.failed("user:kari")
    assert t.wait_s("user:kari", "addr:1") == pytest.approx(2.0)  # doubles, the worse key counts
    for _ in range(20):
        t.failed("user:kari")
    assert t.wait_s("user:kari") == pytest.approx(60.0)  # capped
    now[0] += 61
    assert t.wait_s("user:kari") == 0
    t.succeeded("user:kari")
    t.failed("user:kari")
    assert t.wait_s("user:kari") == 0  # the count started over


def test_unknown_and_known_names_cost_one_scrypt_run_each(monkeypatch):
    import hashlib

    store = UserStore({"kari": {"role": "participant", "password": hash_password("kari-passord")}})
    store.check("nobody", "x")  # the stand-in hash is made once, on first use (the shell makes it at start)
    calls = []
    real = hashlib.scrypt
    monkeypatch.setattr(hashlib, "scrypt", lambda *a, **k: calls.append(1) or real(*a, **k))
    for name in ("kari", "nobody", "someone-else"):
        calls.clear()
        assert not store.check(name, "wrong-password")
        assert len(calls) == 1, name


def test_host_names():
    assert host_name("Example.org:7860") == "example.org" and host_name("[::1]:7860") == "::1" and host_name("localhost") == "localhost"
    s = Settings(_env_file=None)
    assert allowed_hosts(ShellConfig.from_settings(s)) == {"127.0.0.1", "localhost", "::1"}
    public = s.model_copy(update={"host": "0.0.0.0", "allowed_hosts": ["chat.example.org"]})
    assert allowed_hosts(ShellConfig.from_settings(public)) == {"chat.example.org"}


def test_exports_are_served_to_their_owner_only(tmp_path):
    f = tmp_path / "kari" / "refleksjon.md"
    f.parent.mkdir()
    f.write_text(MARKER, encoding="utf-8")
    store = ExportStore()
    token = store.register("kari", f)
    assert store.get(token, "kari")[1] == MARKER.encode() and store.get(token, "ola") is None
    assert str(tmp_path) not in token
    store.forget_user("kari")
    assert store.get(token, "kari") is None


# --- the running app ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def app(indexed_data_copy):
    data = indexed_data_copy("shell")
    proc, url = start_signed_in_app(data, USERS)
    yield url.rstrip("/"), data
    stop_app(proc)


def status(client: httpx.Client, method: str, path: str, **kwargs) -> int:
    """The status line only: a stream that would stay open (queue/data) is not read."""
    with client.stream(method, path, **kwargs) as r:
        return r.status_code


def kari_reflecting(url: str, text: str) -> AppClient:
    """Kari, signed in, in a reflection where she has written `text`."""
    kari = AppClient(url, "kari", "kari-passord")
    kari.predict("reflect", api_name="/start_conversation")
    kari.predict(text, [], "reflect", [], api_name="/send_advance")
    return kari


def signed_in(url: str, user: str) -> httpx.Client:
    c = httpx.Client(base_url=url, timeout=30, follow_redirects=False)
    r = c.post("/login", data={"username": user, "password": USERS[user][1]})
    assert r.status_code == 303 and COOKIE in c.cookies, r.text
    return c


@pytest.mark.integration
def test_cookie_is_httponly_and_strict(app):
    url, _ = app
    r = httpx.post(url + "/login", data={"username": "kari", "password": "kari-passord"})
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # plain http on loopback; set when served over https


@pytest.mark.integration
def test_a_foreign_host_name_reaches_nothing(app):
    """DNS rebinding: a name the attacker controls, resolved to loopback, arrives with its own Host."""
    url, _ = app
    kari = signed_in(url, "kari")
    port = url.rsplit(":", 1)[1]
    for path in ("/", "/login", "/config", "/gradio_api/queue/data?session_hash=x"):
        assert status(kari, "GET", path, headers={"Host": f"evil.test:{port}"}) == 400, path
    assert kari.get("/config", headers={"Host": f"localhost:{port}"}).status_code == 200


@pytest.mark.integration
def test_another_origin_cannot_read_or_write(app):
    url, _ = app
    kari = signed_in(url, "kari")
    port = url.rsplit(":", 1)[1]
    foreign = [{"Origin": "http://localhost:9999"}, {"Origin": f"http://evil.test:{port}"}, {"Origin": "null"},
               {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}, {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "cors"}]
    for headers in foreign:
        r = kari.get("/config", headers=headers)
        assert r.status_code == 403 and "access-control-allow-origin" not in r.headers, headers
        r = kari.post("/gradio_api/queue/join", json={"session_hash": "abc", "fn_index": 0, "data": []}, headers=headers)
        assert r.status_code == 403, headers
        r = kari.options("/gradio_api/queue/join", headers={**headers, "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in r.headers and "access-control-allow-credentials" not in r.headers
    # The app's own page: same origin.
    own = kari.get("/config", headers={"Origin": url, "Sec-Fetch-Site": "same-origin"})
    assert own.status_code == 200 and "access-control-allow-origin" not in own.headers
    # A link from elsewhere still opens the app (a navigation), but reads nothing cross-origin.
    nav = kari.get("/", headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"})
    assert nav.status_code == 200
    assert "frame-ancestors 'none'" in nav.headers["content-security-policy"] and nav.headers["x-frame-options"] == "DENY"


@pytest.mark.integration
def test_gradio_routes_the_app_does_not_use_are_closed(app):
    url, data = app
    kari = signed_in(url, "kari")
    for path in ("/gradio_api/token", "/gradio_api/deep_link?deep_link=x", "/gradio_api/info", "/gradio_api/openapi.json",
                 f"/gradio_api/file={data}/journal.sqlite3", "/gradio_api/file=/etc/passwd", "/gradio_api/runs",
                 "/gradio_api/call/on_refresh", "/gradio_api/user", "/docs", "/openapi.json", "/monitoring"):
        assert kari.get(path).status_code == 404, path
    for path in ("/gradio_api/run/on_refresh", "/gradio_api/api/on_refresh", "/gradio_api/call/on_refresh"):
        assert kari.post(path, json={"data": []}).status_code == 404, path


@pytest.mark.integration
def test_logout_is_a_post_from_the_app_itself(app):
    url, _ = app
    kari = signed_in(url, "kari")
    assert kari.get("/logout").status_code == 405  # an <img src=/logout> elsewhere does nothing
    assert kari.post("/logout", headers={"Origin": "http://localhost:9999"}).status_code == 403
    assert kari.get("/config").status_code == 200  # still signed in
    r = kari.post("/logout", headers={"Origin": url})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert '"storage"' in r.headers["clear-site-data"] and '"cookies"' in r.headers["clear-site-data"]
    assert kari.get("/config").status_code == 401
    assert httpx.post(url + "/logout").status_code == 401  # without a session: nothing to end


@pytest.mark.integration
def test_sign_in_from_another_origin_is_refused(app):
    """Login CSRF: another site cannot sign a visitor in to an account of its choosing."""
    url, _ = app
    r = httpx.post(url + "/login", data={"username": "kari", "password": "kari-passord"}, headers={"Origin": "http://evil.test"})
    assert r.status_code == 403 and "set-cookie" not in r.headers


@pytest.mark.integration
def test_another_user_cannot_use_a_session_hash(app):
    """B with their own cookie and A's session hash (it shows in URLs) gets nothing of A's session."""
    url, _ = app
    a = kari_reflecting(url, f"Byen vår vokser. {MARKER}")
    ola = signed_in(url, "ola")
    h = a.session_hash
    assert status(ola, "GET", "/gradio_api/queue/data", params={"session_hash": h}) == 403
    assert status(ola, "GET", f"/gradio_api/heartbeat/{h}") == 403
    fn = next(i for i, d in enumerate(a.config["dependencies"]) if d.get("api_name") == "on_refresh")
    joined = ola.post("/gradio_api/queue/join", json={"data": [], "fn_index": fn, "session_hash": h, "event_data": None, "trigger_id": None})
    assert joined.status_code == 403 and MARKER not in joined.text
    assert ola.post("/gradio_api/cancel", json={"session_hash": h, "fn_index": fn, "event_id": "x"}).status_code == 403
    # A keeps working in the same session.
    assert a.predict(api_name="/on_refresh")[0]["choices"]


@pytest.mark.integration
def test_exported_files_need_their_owner_and_show_no_path(app):
    url, data = app
    kari = kari_reflecting(url, f"Vi planlegger et nytt sentrum. {MARKER}")
    cid = kari.predict(api_name="/on_refresh")[0]["choices"][0][1]
    link, _ = kari.predict(cid, api_name="/on_export")
    html = link["value"] if isinstance(link, dict) else link
    href = re.search(r'href="(/export/[^"]+)"', html).group(1)
    assert str(data) not in html and "/tmp" not in html and "gradio_api/file" not in html
    own = kari.http.get(href)
    assert own.status_code == 200 and MARKER in own.text and "attachment" in own.headers["content-disposition"]
    assert signed_in(url, "ola").get(href).status_code == 404
    assert httpx.get(url + href).status_code == 401
    assert kari.http.get(href, headers={"Origin": "http://localhost:9999", "Sec-Fetch-Site": "cross-site"}).status_code == 403


@pytest.mark.integration
def test_oversized_requests_are_refused_before_they_are_read(app):
    url, _ = app
    kari = signed_in(url, "kari")
    big = b'{"data": ["' + b"x" * (2 * 1024 * 1024) + b'"], "session_hash": "s1"}'
    r = kari.post("/gradio_api/queue/join", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413

    def chunks():
        for _ in range(40):
            yield b"y" * 65536

    r = kari.post("/gradio_api/queue/join", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


@pytest.mark.integration
def test_sign_in_page_is_ours_in_every_language(app):
    url, _ = app
    nb = httpx.get(url + "/login")
    nn = httpx.get(url + "/login?lang=nn")
    en = httpx.get(url + "/login?lang=en")
    assert nb.status_code == 200 and '<html lang="nb">' in nb.text and "Brukernavn" in nb.text and 'method="post"' in nb.text
    assert '<html lang="nn">' in nn.text and "Brukarnamn" in nn.text and 'action="/login?lang=nn"' in nn.text
    assert '<html lang="en">' in en.text and "User name" in en.text
    assert "gradio" not in nb.text.lower()
    # Each page links to the others, each link named and marked in its own language.
    assert '<a href="/login?lang=nn" hreflang="nn" lang="nn">Norsk (nynorsk)</a>' in nb.text
    assert '<a href="/login?lang=en" hreflang="en" lang="en">English</a>' in nb.text and 'href="/login?lang=nb"' not in nb.text
    assert '<a href="/login?lang=nb" hreflang="nb" lang="nb">Norsk (bokmål)</a>' in nn.text
    assert '<html lang="nb">' in httpx.get(url + "/login?lang=xx").text  # an unknown language: the default


@pytest.mark.integration
def test_z_sign_in_is_throttled(app):
    """Runs last in this module: it locks the test's own address out for a while."""
    url, _ = app
    statuses = [httpx.post(url + "/login", data={"username": "ola", "password": f"feil-{i}"}).status_code for i in range(7)]
    assert statuses[:5] == [401] * 5 and statuses[-1] == 429, statuses
    locked = httpx.post(url + "/login", data={"username": "ola", "password": "ola-passord"})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1 and "Vent" in locked.text


@pytest.mark.integration
def test_local_mode_cannot_be_driven_by_another_local_page(indexed_data_copy):
    data = indexed_data_copy("local-shell")
    proc, url = start_app(data)
    try:
        url = url.rstrip("/")
        c = httpx.Client(base_url=url, timeout=30)
        assert c.get("/config").status_code == 200  # local mode: no sign-in from this machine
        for origin in ("http://localhost:8000", "http://127.0.0.1:1"):
            assert c.get("/config", headers={"Origin": origin}).status_code == 403
            assert c.post("/gradio_api/queue/join", json={"session_hash": "x", "fn_index": 0, "data": []},
                          headers={"Origin": origin}).status_code == 403
        port = url.rsplit(":", 1)[1]
        assert c.get("/config", headers={"Host": f"rebind.example:{port}"}).status_code == 400
    finally:
        stop_app(proc)


def test_serving_beyond_loopback_without_users_is_refused(tmp_path):
    env = {"ASSISTANT_DATA_DIR": str(tmp_path), "ASSISTANT_HOST": "0.0.0.0", "PATH": "/usr/bin:/bin"}
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "assistant", "serve"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "ASSISTANT_USERS_FILE" in proc.stderr, proc.stderr[-2000:]
    assert time.monotonic() - started < 120


@pytest.mark.integration
def test_malformed_requests_write_no_message_text_to_the_log(indexed_data_copy):
    """Malformed chat payloads (wrong types, wrong counts, huge ids) carry a marker; the server log
    has none of it, and no line is longer than a cut traceback line."""
    data = indexed_data_copy("log-shell")
    proc, url = start_signed_in_app(data, USERS)
    try:
        url = url.rstrip("/")
        client = AppClient(url, "kari", "kari-passord")
        deps = client.config["dependencies"]
        send_fn = next(i for i, d in enumerate(deps) if d.get("api_name") == "send_advance")
        open_fn = next(i for i, d in enumerate(deps) if d.get("api_name") == "on_open")
        payloads = [
            {"data": [{"text": MARKER}, MARKER, 42], "fn_index": send_fn},
            {"data": [MARKER], "fn_index": send_fn},
            {"data": [[MARKER] * 3, {"x": MARKER}, None, None, None, None, None], "fn_index": send_fn},
            {"data": ["x" * 1_000_000 + MARKER], "fn_index": open_fn},
            {"data": [MARKER + "x" * 200_000, None], "fn_index": open_fn},
            {"data": MARKER, "fn_index": send_fn},
            {"fn_index": MARKER},
        ]
        for i, body in enumerate(payloads):
            body = {**body, "session_hash": f"bad{i}", "event_data": None, "trigger_id": None}
            r = client.http.post("gradio_api/queue/join", json=body)
            if r.status_code == 200:
                with client.http.stream("GET", "gradio_api/queue/data", params={"session_hash": f"bad{i}"}) as s:
                    for line in s.iter_lines():
                        if "process_completed" in line or "close_stream" in line:
                            break
        client.http.post("gradio_api/queue/join", content=b'{"data": ["' + MARKER.encode() + b'", ', headers={"Content-Type": "application/json"})
        time.sleep(1)
    finally:
        stop_app(proc)
    log = (data / "serve.log").read_text(encoding="utf-8", errors="replace")
    assert MARKER not in log
    assert max((len(line) for line in log.splitlines()), default=0) <= 2000


def test_the_embedder_is_loaded_once_the_server_listens(tmp_path):
    """`serve` hands the embedder's warm-up to `run_server(on_started=…)`, which runs it after the
    server accepts connections, not during the start (where it slowed the first page)."""
    import socket
    import threading

    from assistant.web.ui import run_server

    from .conftest import free_port

    port = free_port()
    listening: list[bool] = []
    done = threading.Event()

    def warm_up() -> None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            listening.append(True)
        except OSError:
            listening.append(False)
        done.set()

    async def app(scope, receive, send):  # the smallest ASGI app: lifespan and 204s
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    settings = Settings(_env_file=None, data_dir=tmp_path, host="127.0.0.1", port=port)
    server = run_server(app, settings, prevent_thread_lock=True, on_started=warm_up)
    try:
        assert done.wait(10) and listening == [True]
    finally:
        server.close()
