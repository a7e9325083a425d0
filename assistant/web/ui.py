"""The Gradio app: `build_app(settings, service, users)` returns the Blocks; `serve` launches it.

This module imports gradio, so only `assistant serve` imports it. The page holds one module per
tab (`chat_tab`, `journal_tab`, `facilitator_tab`); what they share, and the decorator that gives
each handler the signed-in user and turns the project's errors into messages, is in `context`.
No framework object is rebuilt inside a handler.
"""

from __future__ import annotations

import html
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path

import gradio as gr

from assistant.app.auth import UserStore
from assistant.app.chat import ChatConfig, ChatService
from assistant.app.exports import ExportStore
from assistant.app.journal import NotFound
from assistant.core.i18n import LANGUAGES, language_choices, tr
from assistant.core.settings import Settings
from assistant.web.chat_tab import ChatTab, client_script, kind_choices, mode_choices
from assistant.web.context import UiContext, Who, handler, sources_html, stage_text
from assistant.web.facilitator_tab import FacilitatorTab, provenance_choices
from assistant.web.journal_tab import JournalTab

logger = logging.getLogger(__name__)

# Sign-out is a POST to the shell (assistant.web.shell): a link or an image elsewhere cannot sign anyone out.
LOGOUT_FORM = '<form method="post" action="/logout" id="logout-form"><button type="submit" class="logout">{}</button></form>'

CSS = """
/* WCAG AA contrast for white text on buttons (Gradio's default orange is 2.8:1). */
:root, .dark {
  --button-primary-background-fill: #c2410c; --button-primary-background-fill-hover: #9a3412;
  --button-primary-border-color: #c2410c; --button-cancel-background-fill: #b91c1c;
  --button-cancel-background-fill-hover: #991b1b;
}
/* The "- or -" text of Gradio's upload zone is too light for AA. */
#upload-files .or, #upload-files .or * { color: #374151 !important; }
.dark #upload-files .or, .dark #upload-files .or * { color: #d1d5db !important; }
/* Short status texts are not scroll regions (axe: scrollable-region-focusable). */
#stage, #stage *, #who, #who *, #erase-status, #erase-status *, #message-count, #message-count * { overflow: visible !important; max-height: none !important; }
/* Phones: nothing wider than the screen. */
@media (max-width: 600px) {
  .gradio-container { padding: 4px !important; }
  .sources blockquote { overflow-wrap: anywhere; }
  #stage-buttons { flex-direction: row !important; flex-wrap: wrap !important; }
  #stage-buttons button { flex: 1 1 40% !important; min-width: 0 !important; }
}
/* Touch targets at least 44 px tall (WCAG 2.5.5): buttons, tabs, radio and checkbox choices. */
.gradio-container button.lg, .gradio-container button.md, .gradio-container button.sm,
.gradio-container [role=tab], #logout-form button {
  min-height: 44px; }
.gradio-container label:has(> input[type=radio]), .gradio-container label:has(> input[type=checkbox]) {
  min-height: 44px; display: flex; align-items: center; }
/* AA contrast for the text under the message box's label, and for the tabs on any background. */
#message .info-text, #message .info-text * { color: #374151 !important; }
.dark #message .info-text, .dark #message .info-text * { color: #d1d5db !important; }
.gradio-container [role=tab] { color: #1f2937; background: var(--background-fill-primary); }
.gradio-container [role=tab][aria-selected=true] { color: #9a3412; }
.dark .gradio-container [role=tab] { color: #e5e7eb; }
.dark .gradio-container [role=tab][aria-selected=true] { color: #fdba74; }
/* The stage sits above the chat: a short line, not a block of space. */
#stage { min-height: 0; }
#stage p { margin: 0; }
/* The live character count under the message box (assistant/web/chat_tab.py). */
#message-count { padding: 0 !important; min-height: 0 !important; }
#message-count .count { margin: 0; font-size: 0.9em; color: #374151; }
.dark #message-count .count { color: #d1d5db; }
#message-count .count.over { color: #b91c1c; font-weight: 600; }
.dark #message-count .count.over { color: #fca5a5; }
.sources details { border: 1px solid var(--border-color-primary); border-radius: 6px; padding: 6px 10px; margin: 6px 0; }
.sources summary { cursor: pointer; font-weight: 600; }
.sources summary:focus-visible, button:focus-visible, textarea:focus-visible, input:focus-visible {
  outline: 3px solid #1a56db; outline-offset: 2px; }
.sources .where { color: #374151; font-size: 0.9em; margin: 4px 0; }
.dark .sources .where { color: #d1d5db; }
.sources blockquote { white-space: pre-wrap; margin: 6px 0 0 0; }
"""


class Page:
    """The page around the tabs: who is signed in, sign-out, the language switch, and the tabs."""

    def __init__(self, ctx: UiContext) -> None:
        self.ctx = ctx
        self.lang = gr.State(ctx.settings.language)
        self.conv_id = gr.State(None)
        # The open conversation's id, kept in this browser so that a reload reopens it (the
        # conversation itself is in the journal; erase clears this storage too).
        self.saved_conv = gr.BrowserState(None, storage_key="reflection-conversation")
        self.chat = ChatTab(ctx, self.lang, self.conv_id)
        self.journal = JournalTab(ctx, self.lang, self.conv_id)
        self.facilitator = FacilitatorTab(ctx, self.lang)

    def build(self, lang: str) -> None:
        self.header = gr.Markdown(f"# {tr(lang, 'ui.title')}\n{tr(lang, 'ui.intro')}")
        self.who = gr.Markdown(elem_id="who")
        self.logout = gr.HTML(LOGOUT_FORM.format(html.escape(tr(lang, "ui.logout"))), visible=self.ctx.users is not None,
                              elem_id="logout")
        self.lang_radio = gr.Radio(language_choices(), value=lang, label=tr(lang, "ui.language"))
        with gr.Tabs() as self.tabs:
            for tab in (self.chat, self.journal, self.facilitator):
                tab.build(lang)
        # Every text built from the catalogue, so that the switch relabels all of them.
        self.texts = [*self.chat.texts(), *self.journal.texts(), *self.facilitator.texts(),
                      (self.lang_radio, "label", "ui.language", "{}"), (self.logout, "value", "ui.logout", LOGOUT_FORM)]
        self.relabelled = list(dict.fromkeys(component for component, *_ in self.texts))
        self.empty_sources = {sources_html([], code) for code in LANGUAGES}

    def wire(self, demo: gr.Blocks, lang: str) -> None:
        self.chat.wire()
        self.journal.wire(self.chat, self.tabs)
        self.facilitator.wire()
        chat = self.chat
        self.conv_id.change(lambda cid: cid, [self.conv_id], [self.saved_conv])
        demo.load(self.on_load, [self.saved_conv], [self.who, self.facilitator.tab, chat.mode, self.journal.journal_list,
                                                     self.conv_id, chat.chatbot, chat.stage_md, chat.sources])
        demo.load(None, None, None, js=f"() => {{ document.documentElement.lang = '{lang}'; document.title = '{tr(lang, 'ui.title')}'; }}")
        demo.load(None, None, None, js=client_script(self.ctx.settings.max_message_chars))
        chat = self.chat
        self.lang_radio.change(
            self.on_language,
            [self.lang_radio, chat.mode, chat.kinds, chat.sources, self.conv_id],
            [self.lang, self.header, self.who, chat.sources, chat.stage_md, *self.relabelled],
            js="(...inputs) => { document.documentElement.lang = inputs[0]; return inputs; }",
        )

    @handler()
    def on_load(self, who: Who, saved_conv):
        """The page for the signed-in user; after a reload, the conversation that was open, with
        its stage and sources (an id that is not theirs, or no longer there, is ignored)."""
        lang = self.ctx.settings.language
        default_mode = "qa" if (who.role == "facilitator" and self.ctx.users is not None) else "reflect"
        restored = (gr.update(),) * 4
        if saved_conv:
            try:
                chat, stage, sources, default_mode = self.chat.restored(who.user, saved_conv, lang)
                restored = (saved_conv, chat, stage, sources)
            except NotFound:
                pass
        return (
            self.ctx.greeting(lang, who),
            gr.update(visible=who.role == "facilitator"),
            gr.update(value=default_mode),
            gr.update(choices=self.ctx.journal_choices(who.user), value=None),
            *restored,
        )

    @handler()
    def on_language(self, who: Who, new_lang, current_mode, current_kinds, current_sources, cid):
        updates: dict = {component: {} for component in self.relabelled}
        for component, attr, key, fmt in self.texts:
            updates[component][attr] = fmt.format(tr(new_lang, key))
        updates[self.chat.mode].update(choices=mode_choices(new_lang), value=current_mode)
        updates[self.chat.kinds].update(choices=kind_choices(new_lang), value=current_kinds)
        updates[self.facilitator.upload_kind].update(choices=kind_choices(new_lang))
        updates[self.facilitator.upload_provenance].update(choices=provenance_choices(new_lang))
        stage = gr.update()
        if cid:
            try:
                conv = self.ctx.service.conversation(who.user, cid)
                stage = stage_text(conv.stage if conv.mode == "reflect" else None, new_lang)
            except NotFound:
                pass
        return (
            new_lang,
            f"# {tr(new_lang, 'ui.title')}\n{tr(new_lang, 'ui.intro')}",
            self.ctx.greeting(new_lang, who),
            sources_html([], new_lang) if current_sources in self.empty_sources else gr.update(),
            stage,
            *(gr.update(**updates[component]) for component in self.relabelled),
        )


def build_app(
    settings: Settings,
    service: ChatService,
    users: UserStore | None,
    exports: ExportStore | None = None,
    forget_other_sessions: Callable[[str, str], None] | None = None,
):
    """The Blocks. `exports` serves downloads to their owner; `forget_other_sessions(user, keep)`
    drops the server-side state of the user's other open sessions (after erase)."""
    ctx = UiContext(settings, service, users, exports if exports is not None else ExportStore(), forget_other_sessions)
    lang = settings.language
    # Gradio's temporary files (uploads on their way to the index) are deleted after an hour.
    with gr.Blocks(title=tr(lang, "ui.title"), analytics_enabled=False, delete_cache=(900, 3600)) as demo:
        page = Page(ctx)
        page.build(lang)
        page.wire(demo, lang)
    demo.queue(max_size=settings.queue_size, default_concurrency_limit=settings.concurrency)
    return demo


def theme():
    """Gradio's default theme with AA contrast on buttons; applies to the login page too."""
    return gr.themes.Default().set(
        button_primary_background_fill="#c2410c",
        button_primary_background_fill_hover="#9a3412",
        button_primary_border_color="#c2410c",
        button_primary_text_color="#ffffff",
        button_cancel_background_fill="#b91c1c",
        button_cancel_background_fill_hover="#991b1b",
        button_cancel_text_color="#ffffff",
    )


def serve(settings: Settings, *, prevent_thread_lock: bool = False):
    """Build everything from settings and serve on settings.host:settings.port. With
    `prevent_thread_lock`, returns the running server (`close()` stops it); else blocks."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("GRADIO_TEMP_DIR", str((settings.data_dir / "gradio-tmp").resolve()))
    Path(os.environ["GRADIO_TEMP_DIR"]).mkdir(parents=True, exist_ok=True)
    from assistant.app.journal import Journal
    from assistant.core.runtime import Runtime

    from assistant.core.logsafe import protect_process_output
    from assistant.app.session_secret import session_secret
    from assistant.app.signouts import FileSignOuts
    from assistant.web.sessions import Sessions
    from assistant.web.shell import ShellConfig, check_exposure, create_app, drop_gradio_state
    from assistant.app.api_keys import ApiKeys
    from assistant.web.api import ApiConfig, create_api

    users = UserStore.load(settings.users_file, settings.users)
    shell = ShellConfig.from_settings(settings)
    check_exposure(shell, users)
    protect_process_output()  # no user text in the server log, whatever a library prints (assistant/core/logsafe.py)
    runtime = Runtime.from_settings(settings)
    runtime.retriever.warm_up()
    service = ChatService(ChatConfig.from_settings(settings), runtime, runtime.engine, Journal(settings.resolved_database_url))
    service.apply_retention()
    # Replicas on one database share the download links; one process alone keeps them in memory.
    exports = ExportStore(service.journal.database if settings.uses_database_server else None)
    # Signed cookies: any replica with the same secret and sign-out record knows who is signed in.
    # Local mode has no sign-in: its Sessions only bind Gradio's hashes, with a key of its own.
    secret = settings.session_secret.get_secret_value() if settings.session_secret else None
    sessions = (Sessions(session_secret(secret, settings.data_dir), shell.session_idle_hours * 3600,
                         FileSignOuts(settings.signouts_path), users)
                if users is not None else Sessions(secrets.token_bytes(32), shell.session_idle_hours * 3600))

    def forget_other_sessions(user: str, keep: str) -> None:
        drop_gradio_state(demo, [h for h in sessions.hashes_of(user) if h != keep])

    demo = build_app(settings, service, users, exports, forget_other_sessions)
    # The HTTP API (/v1) on the same port, with the same service: the same engine, journal and index.
    api = create_api(ApiConfig.from_settings(settings), service, users, ApiKeys.load(settings.users_file, settings.users))
    app = create_app(shell, demo, users, exports=exports, sessions=sessions, api=api, ui={
        "css": CSS, "theme": theme(),
        "js": "() => { document.documentElement.lang = '" + settings.language + "'; }",
    })
    # Load the embedder once the server listens, so that the first question does not wait for it;
    # not before, where it took about a second of the start's CPU (docs/performance.md).
    warm_up = getattr(runtime.embedder, "warm_up", None)
    return run_server(app, settings, prevent_thread_lock=prevent_thread_lock, on_started=warm_up)


def run_server(app, settings: Settings, *, prevent_thread_lock: bool = False, on_started=None):
    """Serve the shell with uvicorn on settings.host:settings.port (in a thread when asked not to
    block). `on_started` runs on a thread of its own once the server accepts connections."""
    import uvicorn

    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level="warning", access_log=False,
        proxy_headers=False, server_header=False, timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    if on_started is not None:
        threading.Thread(target=_when_started, args=(server, on_started), name="after-start", daemon=True).start()
    print(f"* Kjører på / Running on http://{'127.0.0.1' if settings.host in ('0.0.0.0', '::') else settings.host}:{settings.port}", flush=True)
    if prevent_thread_lock:
        thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
        thread.start()
        while not server.started and thread.is_alive():
            time.sleep(0.05)
        return RunningServer(server, thread)
    server.run()
    return None


def _when_started(server, fn) -> None:
    while not server.started and not server.should_exit:
        time.sleep(0.05)
    if server.started:
        try:
            fn()
        except Exception:  # noqa: BLE001 - advance work only: what needs it tries again and reports
            logger.warning("work after the server started failed (%s); it is tried again when needed", getattr(fn, "__qualname__", fn))


class RunningServer:
    """A server started with `prevent_thread_lock`: `close()` stops it."""

    def __init__(self, server, thread: threading.Thread) -> None:
        self.server, self.thread = server, thread

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
