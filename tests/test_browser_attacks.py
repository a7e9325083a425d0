"""Attacks on the web face in a real browser (headless Chromium), each one that got through before
the app shell (issue 16, docs/reliability.md "The web face"):

- a page on another origin (a second hostname mapped to loopback, or another localhost port)
  tries to read and change a signed-in user's data, and to sign them out;
- the app is opened under a hostname mapped to loopback (DNS rebinding);
- a hostile document uploaded by a facilitator tries to put links and images on participants'
  screens (an image request would reach a logging server on loopback);
- what remains in the browser after "erase everything" and sign-out.
"""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest

from .appclient import AppClient, handle_file
from .conftest import start_signed_in_app, stop_app
from .test_browser import ARGS, CHROMIUM, send, sign_in, wait_until_idle

pytestmark = pytest.mark.integration

MARKER = "ATTACK-MARKOR-3b9e"
USERS = {"kari": ("participant", "kari-passord"), "fasi": ("facilitator", "fasi-passord")}


class Attacker:
    """A web server on loopback that serves the attacker's page and logs every request it gets."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.page = b""
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.hits.append(self.path)
                body = outer.page if self.path.startswith("/attack") else b""
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def attacker():
    a = Attacker()
    yield a
    a.close()


@pytest.fixture(scope="module")
def app(indexed_data_copy):
    data = indexed_data_copy("attacks")
    proc, url = start_signed_in_app(data, USERS)
    yield url.rstrip("/"), data
    stop_app(proc)


@pytest.fixture(scope="module")
def browser(attacker):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: scripts/test.sh installs it")
    # Two hostile names for this machine, as an attacker's DNS would give them.
    rules = "MAP evil.test 127.0.0.1, MAP rebind.test 127.0.0.1"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[*ARGS, f"--host-resolver-rules={rules}"])
        yield b
        b.close()


ATTACK_PAGE = """<!doctype html><html><body><pre id="out"></pre>
<iframe name="sink" style="display:none"></iframe>
<form id="logout" method="post" action="{app}/logout" target="sink"></form>
<script>
const out = {{}};
async function attempt(name, f) {{
  try {{ const r = await f(); out[name] = 'status ' + r.status + ' ' + (await r.text()).slice(0, 200); }}
  catch (e) {{ out[name] = 'blocked ' + e.name; }}
}}
(async () => {{
  await attempt('config', () => fetch('{app}/config', {{credentials: 'include'}}));
  await attempt('token', () => fetch('{app}/gradio_api/token', {{credentials: 'include'}}));
  await attempt('join', () => fetch('{app}/gradio_api/queue/join', {{method: 'POST', credentials: 'include',
      headers: {{'Content-Type': 'application/json'}}, body: JSON.stringify({{data: [], fn_index: 0, session_hash: 'evil1'}})}}));
  await attempt('join-no-cors', () => fetch('{app}/gradio_api/queue/join', {{method: 'POST', mode: 'no-cors',
      credentials: 'include', body: JSON.stringify({{data: [], fn_index: 0, session_hash: 'evil2'}})}}));
  document.getElementById('logout').submit();
  await new Promise(r => setTimeout(r, 1500));
  document.getElementById('out').textContent = JSON.stringify(out);
  document.title = 'done';
}})();
</script></body></html>"""


@pytest.mark.parametrize("app_host,attacker_host", [("127.0.0.1", "evil.test"), ("localhost", "localhost")])
def test_a_page_on_another_origin_can_neither_read_nor_act(app, browser, attacker, app_host, attacker_host):
    url, _ = app
    port = url.rsplit(":", 1)[1]
    app_url = f"http://{app_host}:{port}"
    context, page = sign_in(browser, app_url, "kari", "kari-passord")
    attacker.page = ATTACK_PAGE.format(app=app_url).encode()
    evil = context.new_page()
    evil.goto(f"http://{attacker_host}:{attacker.port}/attack.html")
    evil.wait_for_function("() => document.title === 'done'", timeout=30000)
    import json

    seen = json.loads(evil.inner_text("#out"))
    for name in ("config", "token", "join"):
        assert seen[name].startswith("blocked"), (name, seen[name])  # nothing read across origins
    assert "status 0" in seen["join-no-cors"] or seen["join-no-cors"].startswith("blocked")  # opaque: nothing to read
    # Kari is still signed in: the cross-origin sign-out form was refused.
    assert page.request.get(f"{app_url}/config").status == 200
    context.close()


def test_the_app_under_a_rebound_hostname_shows_nothing(app, browser):
    url, _ = app
    port = url.rsplit(":", 1)[1]
    page = browser.new_context().new_page()
    response = page.goto(f"http://rebind.test:{port}/")
    assert response.status == 400 and "Refleksjon" not in page.content()
    page.context.close()


def test_a_hostile_document_puts_no_link_or_image_on_any_screen(app, browser, attacker, tmp_path):
    url, data = app
    log = f"http://127.0.0.1:{attacker.port}"
    doc = tmp_path / "sirkusbyen.md"
    doc.write_text(
        f"---\ntitle: Sirkusbyen [klikk]({log}/title-link) ![t]({log}/title.png)\n---\n\n"
        f"# Sirkusbyen ![h]({log}/heading.png)\n\n"
        f"Sirkusbyen er en by der ledere øver på sjonglering med mange hensyn samtidig. ![spor]({log}/pixel.png) "
        f"Les mer på [nettsiden]( //127.0.0.1:{attacker.port}/space-link) eller www.sirkusbyen-{attacker.port}.test "
        f"og <img src=\"{log}/html.png\"> <a href=\"{log}/html-link\">her</a>.\n\n"
        f"- Hvordan kan sjongleringen i sirkusbyen hjelpe deg å holde mange hensyn i byen din? ![q]({log}/question.png) [q]({log}/q)\n",
        encoding="utf-8",
    )
    fasi = AppClient(url, "fasi", "fasi-passord")
    for kind in ("programme", "question"):
        report = fasi.predict([handle_file(str(doc))], kind, api_name="/on_upload")
        assert "1 nye" in report or "1 endret" in report or "biter" in report, report
    attacker.hits.clear()

    context, page = sign_in(browser, url, "kari", "kari-passord")
    page.get_by_label("Spørsmål og svar").check()
    send(page, "Hva er sirkusbyen og sjonglering med mange hensyn?")
    page.wait_for_function("() => document.querySelector('#chat').innerText.includes('Sirkusbyen')", timeout=30000)
    page.locator("#sources details summary").first.click()
    page.get_by_label("Veiledet refleksjon").check()
    page.wait_for_function("() => document.querySelector('#chat').innerText.includes('Hvor er vi?')", timeout=30000)
    send(page, "Jeg føler meg som en sjonglør i sirkusbyen, med mange hensyn i lufta samtidig.")
    page.get_by_role("tab", name="Dagbok").click()
    wait_until_idle(page)
    page.locator("#journal-list input").click()
    page.get_by_role("option").first.click()
    # The conversation itself, not Gradio's progress text, which is as long while it loads.
    page.wait_for_function("() => document.querySelector('#journal-preview').innerText.includes('sjonglør')", timeout=30000)
    shown = page.inner_text("body")
    assert "Sirkusbyen" in shown or "sirkusbyen" in shown
    hostile = page.evaluate(
        """(port) => [...document.querySelectorAll('a[href], img[src], [src]')]
             .map(e => e.getAttribute('href') || e.getAttribute('src'))
             .filter(v => v.includes(port) || v.includes('sirkusbyen') || v.startsWith('//'))""",
        str(attacker.port),
    )
    assert hostile == []
    context.close()

    # The facilitator's preparation view shows the same document as text too.
    context, page = sign_in(browser, url, "fasi", "fasi-passord")
    page.get_by_role("tab", name="Fasilitator").click()
    page.fill("#prep-theme textarea, #prep-theme input", "sirkusbyen og sjonglering")
    page.click("#prep-button")
    page.wait_for_function("() => document.querySelector('#prep-out').innerText.length > 50", timeout=60000)
    wait_until_idle(page)
    assert page.evaluate("(port) => [...document.querySelectorAll('#prep-out a, #prep-out img')].length", str(attacker.port)) == 0
    context.close()
    assert attacker.hits == []  # no screen loaded anything from the document's addresses


def test_nothing_of_a_participant_remains_in_the_browser_after_erase(app, browser):
    url, _ = app
    context, page = sign_in(browser, url, "kari", "kari-passord")
    page.get_by_label("Spørsmål og svar").check()
    send(page, f"Hvilke kommuner deltok i piloten? {MARKER}")

    def stored() -> str:
        return page.evaluate("() => JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage})")

    assert MARKER not in stored() and "run-history" not in stored()  # run history is off
    page.get_by_role("tab", name="Dagbok").click()
    page.locator("#my-data").click()
    page.locator("#erase-confirm input").check()
    page.click("#erase")
    page.wait_for_function("() => /Slettet|Erased/.test(document.querySelector('#erase-status').innerText)", timeout=30000)
    wait_until_idle(page)
    page.wait_for_function("() => localStorage.length === 0 && sessionStorage.length === 0", timeout=10000)
    assert MARKER not in page.inner_text("body")
    # Signing out (the app's button: a POST) clears the site's storage and cookies as well.
    page.evaluate("() => localStorage.setItem('probe', 'x')")
    page.click("#logout button")
    page.wait_for_url("**/login**", timeout=15000)
    assert page.evaluate("() => localStorage.length") == 0
    assert not [c for c in context.cookies() if c["name"] == "assistant_session"]
    context.close()
