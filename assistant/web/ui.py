"""The Gradio app: `build_app(settings, service, users)` returns the Blocks; `serve` launches it.

This module imports gradio, so only `assistant serve` imports it.

Handlers are thin: they find the signed-in user, call `ChatService`, and render
what it returns. No framework object is rebuilt inside a handler.
"""

from __future__ import annotations

import html
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import gradio as gr

from assistant.app.auth import LOCAL_USER, UserStore
from assistant.app.chat import UPLOAD_KINDS, ChatService, Forbidden
from assistant.app.exports import ExportStore
from assistant.core.i18n import LANGUAGES, language_choices, tr
from assistant.app.journal import NotFound
from assistant.core.records import REFLECTION_STAGES, Citation
from assistant.core.safety import InputRejected, inline_code, safe_markdown
from assistant.core.settings import Settings
from assistant.core.text import strip_emphasis

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
#stage, #stage *, #who, #who *, #erase-status, #erase-status * { overflow: visible !important; max-height: none !important; }
/* Phones: nothing wider than the screen. */
@media (max-width: 600px) {
  .gradio-container { padding: 4px !important; }
  .sources blockquote { overflow-wrap: anywhere; }
}
.sources details { border: 1px solid var(--border-color-primary); border-radius: 6px; padding: 6px 10px; margin: 6px 0; }
.sources summary { cursor: pointer; font-weight: 600; }
.sources summary:focus-visible, button:focus-visible, textarea:focus-visible, input:focus-visible {
  outline: 3px solid #1a56db; outline-offset: 2px; }
.sources .where { color: #374151; font-size: 0.9em; margin: 4px 0; }
.dark .sources .where { color: #d1d5db; }
.sources blockquote { white-space: pre-wrap; margin: 6px 0 0 0; }
"""


def sources_html(citations: list[Citation] | tuple[Citation, ...], lang: str) -> str:
    """Each citation expands to its passage. Everything from documents is escaped."""
    if not citations:
        return f'<div class="sources"><p>{html.escape(tr(lang, "ui.sources_empty"))}</p></div>'
    parts = ['<div class="sources">']
    for c in citations:
        where = f" — {html.escape(c.locator)}" if c.locator else ""
        parts.append(
            f"<details><summary>[{c.number}] {html.escape(c.title)}{where}</summary>"
            f'<p class="where">{html.escape(c.source)}</p>'
            f"<blockquote>{html.escape(strip_emphasis(c.passage))}</blockquote></details>"
        )
    parts.append("</div>")
    return "".join(parts)


def _user(request, users: UserStore | None) -> tuple[str, str]:
    """(user name, role) of the request; local mode is one facilitator-capable user."""
    if users is None:
        return LOCAL_USER, "facilitator"
    name = getattr(request, "username", None)
    if not name:
        raise PermissionError("Ikke innlogget.")
    return name, users.role(name)


def _stage_text(stage: str | None, lang: str) -> str:
    if not stage:
        return ""
    index = REFLECTION_STAGES.index(stage) + 1
    return f"**{tr(lang, 'ui.stage')} {index}/5:** {tr(lang, f'stage.{stage}')}"


def build_app(
    settings: Settings,
    service: ChatService,
    users: UserStore | None,
    exports: ExportStore | None = None,
    forget_other_sessions: Callable[[str, str], None] | None = None,
):
    """The Blocks. `exports` serves downloads to their owner; `forget_other_sessions(user, keep)`
    drops the server-side state of the user's other open sessions (after erase)."""
    default_lang = settings.language
    exports = exports if exports is not None else ExportStore()
    # Sign-out is a POST to the shell (assistant.web.shell): a link or an image elsewhere cannot sign anyone out.
    logout_form = ('<form method="post" action="/logout" id="logout-form">'
                   '<button type="submit" class="logout">{}</button></form>')

    def kind_choices(lang):
        return [(tr(lang, f"kind.{k}"), k) for k in UPLOAD_KINDS]

    def mode_choices(lang):
        return [(tr(lang, "ui.mode_reflect"), "reflect"), (tr(lang, "ui.mode_qa"), "qa")]

    # Gradio's temporary files (uploads on their way to the index) are deleted after an hour.
    with gr.Blocks(title=tr(default_lang, "ui.title"), analytics_enabled=False, delete_cache=(900, 3600)) as demo:
        lang = gr.State(default_lang)
        conv_id = gr.State(None)
        header = gr.Markdown(f"# {tr(default_lang, 'ui.title')}\n{tr(default_lang, 'ui.intro')}")
        who = gr.Markdown(elem_id="who")
        logout = gr.HTML(logout_form.format(html.escape(tr(default_lang, "ui.logout"))), visible=users is not None, elem_id="logout")
        lang_radio = gr.Radio(language_choices(), value=default_lang, label=tr(default_lang, "ui.language"))
        with gr.Tabs() as tabs:
            with gr.Tab(tr(default_lang, "ui.tab_chat"), id="chat") as tab_chat:
                with gr.Row():
                    with gr.Column(scale=3):
                        chatbot = gr.Chatbot(
                            label=tr(default_lang, "ui.chatbot"), height=480, elem_id="chat", buttons=["copy"],
                            placeholder=tr(default_lang, "ui.chat_placeholder"),
                        )
                        message = gr.Textbox(
                            label=tr(default_lang, "ui.message"),
                            placeholder=tr(default_lang, "ui.placeholder"),
                            lines=3,
                            max_length=settings.max_message_chars,
                            elem_id="message",
                        )
                        with gr.Row():
                            send = gr.Button(tr(default_lang, "ui.send"), variant="primary", elem_id="send")
                            new = gr.Button(tr(default_lang, "ui.new"), elem_id="new")
                        with gr.Row(visible=True) as reflect_row:
                            stay = gr.Button(tr(default_lang, "ui.stay"), size="sm", elem_id="stay")
                            skip = gr.Button(tr(default_lang, "ui.skip"), size="sm", elem_id="skip")
                            back = gr.Button(tr(default_lang, "ui.back"), size="sm", elem_id="back")
                            finish = gr.Button(tr(default_lang, "ui.summarize"), size="sm", elem_id="finish")
                    with gr.Column(scale=2):
                        mode = gr.Radio(mode_choices(default_lang), value="reflect", label=tr(default_lang, "ui.mode"), elem_id="mode")
                        kinds = gr.CheckboxGroup(kind_choices(default_lang), value=[], label=tr(default_lang, "ui.kinds"))
                        stage_md = gr.Markdown(elem_id="stage")
                        sources_heading = gr.Markdown(f"### {tr(default_lang, 'ui.sources')}")
                        sources = gr.HTML(sources_html([], default_lang), elem_id="sources")
            with gr.Tab(tr(default_lang, "ui.tab_journal"), id="journal") as tab_journal:
                journal_list = gr.Dropdown(choices=[], label=tr(default_lang, "ui.journal_list"), elem_id="journal-list")
                with gr.Row():
                    open_btn = gr.Button(tr(default_lang, "ui.open"), elem_id="journal-open")
                    refresh_btn = gr.Button(tr(default_lang, "ui.refresh"), elem_id="journal-refresh")
                    export_btn = gr.Button(tr(default_lang, "ui.export"), elem_id="journal-export")
                with gr.Row():
                    rename_to = gr.Textbox(label=tr(default_lang, "ui.rename_to"), max_length=120)
                    rename_btn = gr.Button(tr(default_lang, "ui.rename"))
                with gr.Row():
                    delete_ok = gr.Checkbox(label=tr(default_lang, "ui.delete_confirm"), value=False)
                    delete_btn = gr.Button(tr(default_lang, "ui.delete"), variant="stop")
                journal_status = gr.Markdown()
                export_file = gr.HTML(label=tr(default_lang, "ui.export_file"), visible=False, elem_id="export-link")
                preview = gr.Markdown(elem_id="journal-preview")
                with gr.Accordion(tr(default_lang, "ui.my_data"), open=False, elem_id="my-data") as my_data_box:
                    my_data_intro = gr.Markdown(tr(default_lang, "ui.my_data_intro"))
                    with gr.Row():
                        show_data_btn = gr.Button(tr(default_lang, "ui.my_data_show"), elem_id="my-data-show")
                        export_all_btn = gr.Button(tr(default_lang, "ui.my_data_export"), elem_id="my-data-export")
                    my_data_view = gr.JSON(label=tr(default_lang, "ui.my_data"), elem_id="my-data-view", visible=False)
                    export_all_file = gr.HTML(label=tr(default_lang, "ui.export_file"), elem_id="my-data-file", visible=False)
                    with gr.Row():
                        erase_ok = gr.Checkbox(label=tr(default_lang, "ui.erase_confirm"), value=False, elem_id="erase-confirm")
                        erase_btn = gr.Button(tr(default_lang, "ui.erase"), variant="stop", elem_id="erase")
                    erase_status = gr.Markdown(elem_id="erase-status")
            with gr.Tab(tr(default_lang, "ui.tab_facilitator"), id="facilitator", visible=False) as tab_fac:
                prep_heading = gr.Markdown(f"### {tr(default_lang, 'ui.prep_heading')}")
                with gr.Row():
                    theme = gr.Textbox(label=tr(default_lang, "ui.prep_theme"), max_length=300, elem_id="prep-theme")
                    gathering = gr.Dropdown(choices=["", "1", "2", "3", "4", "5"], value="", label=tr(default_lang, "ui.prep_gathering"))
                prep_btn = gr.Button(tr(default_lang, "ui.prep_button"), variant="primary", elem_id="prep-button")
                prep_out = gr.Markdown(elem_id="prep-out")
                prep_file = gr.HTML(label=tr(default_lang, "ui.prep_export"), visible=False, elem_id="prep-link")
                upload_heading = gr.Markdown(f"### {tr(default_lang, 'ui.upload_heading')}")
                upload_files = gr.File(
                    label=tr(default_lang, "ui.upload_files"), file_count="multiple", file_types=[".pdf", ".md", ".txt", ".docx", ".pptx"],
                    elem_id="upload-files",
                )
                upload_kind = gr.Dropdown(choices=kind_choices(default_lang), value="programme", label=tr(default_lang, "ui.upload_kind"))
                upload_btn = gr.Button(tr(default_lang, "ui.upload_button"), elem_id="upload-button")
                upload_out = gr.Markdown(elem_id="upload-out")

        # -- helpers -------------------------------------------------------------------
        def download_link(user: str, path, lang: str) -> str:
            """A link the shell serves to this user only (`/export/<token>`): no path in the URL."""
            token = exports.register(user, path)
            name = Path(path).name
            return f'<a class="download" href="/export/{token}" download="{html.escape(name)}">{html.escape(tr(lang, "ui.download", name=name))}</a>'

        def history_of(user: str, cid: str) -> list[dict]:
            conv = service.conversation(user, cid)
            return [
                {"role": m.role, "content": safe_markdown(m.content)}
                for m in conv.messages
                if m.role in ("user", "assistant")
            ]

        def journal_choices(user: str):
            return [
                (f"{c.title} · {datetime.fromtimestamp(c.updated).strftime('%d.%m.%Y %H:%M')}", c.id)
                for c in service.conversations(user)
            ]

        # -- load ----------------------------------------------------------------------------
        def greeting(lang: str, user: str, role: str) -> str:
            return tr(lang, "ui.local_mode") if users is None else tr(lang, "ui.signed_in", user=inline_code(user), role=tr(lang, f"role.{role}"))

        def on_load(request: gr.Request):
            user, role = _user(request, users)
            default_mode = "qa" if (role == "facilitator" and users is not None) else "reflect"
            return (
                greeting(default_lang, user, role),
                gr.update(visible=role == "facilitator"),
                gr.update(value=default_mode),
                gr.update(choices=journal_choices(user), value=None),
            )

        demo.load(on_load, None, [who, tab_fac, mode, journal_list])
        demo.load(None, None, None, js=f"() => {{ document.documentElement.lang = '{default_lang}'; document.title = '{tr(default_lang, 'ui.title')}'; }}")

        # -- language ------------------------------------------------------------------------
        # Every text built from the catalogue above, so that the switch relabels all of them:
        # (component, attribute, label key, format).
        texts = [
            (chatbot, "label", "ui.chatbot", "{}"), (chatbot, "placeholder", "ui.chat_placeholder", "{}"),
            (message, "label", "ui.message", "{}"), (message, "placeholder", "ui.placeholder", "{}"),
            (send, "value", "ui.send", "{}"), (new, "value", "ui.new", "{}"), (stay, "value", "ui.stay", "{}"),
            (skip, "value", "ui.skip", "{}"), (back, "value", "ui.back", "{}"), (finish, "value", "ui.summarize", "{}"),
            (mode, "label", "ui.mode", "{}"), (kinds, "label", "ui.kinds", "{}"), (sources_heading, "value", "ui.sources", "### {}"),
            (tab_chat, "label", "ui.tab_chat", "{}"), (tab_journal, "label", "ui.tab_journal", "{}"),
            (tab_fac, "label", "ui.tab_facilitator", "{}"), (lang_radio, "label", "ui.language", "{}"),
            (journal_list, "label", "ui.journal_list", "{}"), (open_btn, "value", "ui.open", "{}"),
            (refresh_btn, "value", "ui.refresh", "{}"), (export_btn, "value", "ui.export", "{}"),
            (rename_to, "label", "ui.rename_to", "{}"), (rename_btn, "value", "ui.rename", "{}"),
            (delete_ok, "label", "ui.delete_confirm", "{}"), (delete_btn, "value", "ui.delete", "{}"),
            (export_file, "label", "ui.export_file", "{}"), (my_data_box, "label", "ui.my_data", "{}"),
            (my_data_intro, "value", "ui.my_data_intro", "{}"), (show_data_btn, "value", "ui.my_data_show", "{}"),
            (export_all_btn, "value", "ui.my_data_export", "{}"), (my_data_view, "label", "ui.my_data", "{}"),
            (export_all_file, "label", "ui.export_file", "{}"), (erase_ok, "label", "ui.erase_confirm", "{}"),
            (erase_btn, "value", "ui.erase", "{}"), (prep_heading, "value", "ui.prep_heading", "### {}"),
            (theme, "label", "ui.prep_theme", "{}"), (gathering, "label", "ui.prep_gathering", "{}"),
            (prep_btn, "value", "ui.prep_button", "{}"), (prep_file, "label", "ui.prep_export", "{}"),
            (upload_heading, "value", "ui.upload_heading", "### {}"), (upload_files, "label", "ui.upload_files", "{}"),
            (upload_kind, "label", "ui.upload_kind", "{}"), (upload_btn, "value", "ui.upload_button", "{}"),
            (logout, "value", "ui.logout", logout_form),
        ]
        relabelled = list(dict.fromkeys(component for component, *_ in texts))
        empty_sources = {sources_html([], lang_code) for lang_code in LANGUAGES}

        def on_language(new_lang, current_mode, current_kinds, current_sources, cid, request: gr.Request):
            user, role = _user(request, users)
            updates: dict = {component: {} for component in relabelled}
            for component, attr, key, fmt in texts:
                updates[component][attr] = fmt.format(tr(new_lang, key))
            updates[mode].update(choices=mode_choices(new_lang), value=current_mode)
            updates[kinds].update(choices=kind_choices(new_lang), value=current_kinds)
            updates[upload_kind].update(choices=kind_choices(new_lang))
            stage = gr.update()
            if cid:
                try:
                    conv = service.conversation(user, cid)
                    stage = _stage_text(conv.stage if conv.mode == "reflect" else None, new_lang)
                except NotFound:
                    pass
            return (
                new_lang,
                f"# {tr(new_lang, 'ui.title')}\n{tr(new_lang, 'ui.intro')}",
                greeting(new_lang, user, role),
                sources_html([], new_lang) if current_sources in empty_sources else gr.update(),
                stage,
                *(gr.update(**updates[component]) for component in relabelled),
            )

        lang_radio.change(
            on_language,
            [lang_radio, mode, kinds, sources, conv_id],
            [lang, header, who, sources, stage_md, *relabelled],
            js="(...inputs) => { document.documentElement.lang = inputs[0]; return inputs; }",
        )

        # -- chat ------------------------------------------------------------------------------
        def start_conversation(current_mode, current_lang, request: gr.Request):
            user, _ = _user(request, users)
            turn = service.start(user, current_mode, current_lang)
            chat = [{"role": "assistant", "content": turn.text}] if turn.text else []
            return turn.conversation_id, chat, _stage_text(turn.stage, current_lang), sources_html([], current_lang)

        new.click(start_conversation, [mode, lang], [conv_id, chatbot, stage_md, sources])
        mode.change(start_conversation, [mode, lang], [conv_id, chatbot, stage_md, sources])
        mode.change(lambda m: gr.update(visible=m == "reflect"), [mode], [reflect_row])

        def respond(text, chat, cid, current_mode, current_kinds, current_lang, move, request: gr.Request):
            user, _ = _user(request, users)
            chat = list(chat or [])
            if not (text or "").strip():
                yield chat, text, gr.update(), gr.update(), cid
                return
            if cid is None:
                turn = service.start(user, current_mode, current_lang)
                cid = turn.conversation_id
                if turn.text:
                    chat.append({"role": "assistant", "content": turn.text})
            chat.append({"role": "user", "content": safe_markdown(text)})
            chat.append({"role": "assistant", "content": "…"})
            yield chat, "", gr.update(), gr.update(), cid
            for turn in service.send(user, cid, text, lang=current_lang, kinds=tuple(current_kinds or ()), move=move):
                if turn.error and not turn.answer:
                    chat[-2:] = [{"role": "user", "content": safe_markdown(text[:200]) + ("…" if len(text) > 200 else "")},
                                 {"role": "assistant", "content": turn.text}]
                    yield chat, text, gr.update(), gr.update(), cid
                    return
                if turn.answer is None and turn.done:  # a summary after the last stage
                    chat.append({"role": "assistant", "content": turn.text})
                    yield chat, "", _stage_text(turn.stage, current_lang), gr.update(), cid
                    continue
                chat[-1] = {"role": "assistant", "content": turn.text}
                cites = turn.answer.citations if turn.answer else ()
                yield chat, "", _stage_text(turn.stage, current_lang), sources_html(cites, current_lang) if turn.done else gr.update(), cid

        send_inputs = [message, chatbot, conv_id, mode, kinds, lang]
        send_outputs = [chatbot, message, stage_md, sources, conv_id]
        def send_advance(text, chat, cid, current_mode, current_kinds, current_lang, request: gr.Request):
            yield from respond(text, chat, cid, current_mode, current_kinds, current_lang, "advance", request)

        send.click(send_advance, send_inputs, send_outputs, concurrency_id="answer")
        message.submit(send_advance, send_inputs, send_outputs, concurrency_id="answer")

        def jump(chat, cid, current_lang, move, request: gr.Request):
            user, _ = _user(request, users)
            if cid is None:
                return chat, gr.update()
            turn = service.jump(user, cid, move, current_lang)
            return list(chat or []) + [{"role": "assistant", "content": turn.text}], _stage_text(turn.stage, current_lang)

        def skip_stage(chat, cid, current_lang, request: gr.Request):
            return jump(chat, cid, current_lang, "skip", request)

        def back_stage(chat, cid, current_lang, request: gr.Request):
            return jump(chat, cid, current_lang, "back", request)

        skip.click(skip_stage, [chatbot, conv_id, lang], [chatbot, stage_md])
        back.click(back_stage, [chatbot, conv_id, lang], [chatbot, stage_md])

        def stay_here(text, chat, cid, current_mode, current_kinds, current_lang, request: gr.Request):
            yield from respond(text, chat, cid, current_mode, current_kinds, current_lang, "stay", request)

        stay.click(stay_here, send_inputs, send_outputs, concurrency_id="answer")

        def on_finish(chat, cid, current_lang, request: gr.Request):
            user, _ = _user(request, users)
            if cid is None:
                return chat
            turn = service.finish(user, cid, current_lang)
            return list(chat or []) + [{"role": "assistant", "content": turn.text}]

        finish.click(on_finish, [chatbot, conv_id, lang], [chatbot])

        # -- journal ---------------------------------------------------------------------------
        def on_refresh(request: gr.Request):
            user, _ = _user(request, users)
            return gr.update(choices=journal_choices(user), value=None), ""

        refresh_btn.click(on_refresh, None, [journal_list, preview])
        tab_journal.select(on_refresh, None, [journal_list, preview])

        def on_pick(cid, current_lang, request: gr.Request):
            user, _ = _user(request, users)
            if not cid:
                return ""
            try:
                return service.export(user, cid, current_lang)
            except NotFound:
                return tr(current_lang, "ui.not_found")

        journal_list.change(on_pick, [journal_list, lang], [preview])

        def on_open(cid, current_lang, request: gr.Request):
            user, _ = _user(request, users)
            if not cid:
                return gr.update(), gr.update(), gr.update(), gr.update(), tr(current_lang, "ui.choose_first")
            try:
                conv = service.conversation(user, cid)
            except NotFound:
                return gr.update(), gr.update(), gr.update(), gr.update(), tr(current_lang, "ui.not_found")
            return cid, history_of(user, cid), gr.update(value=conv.mode), gr.Tabs(selected="chat"), ""

        open_btn.click(on_open, [journal_list, lang], [conv_id, chatbot, mode, tabs, journal_status])

        def on_rename(cid, title, current_lang, request: gr.Request):
            user, _ = _user(request, users)
            if not cid:
                return gr.update(), tr(current_lang, "ui.choose_first")
            try:
                service.rename(user, cid, title)
            except (NotFound, InputRejected) as exc:
                return gr.update(), str(exc) if isinstance(exc, InputRejected) else tr(current_lang, "ui.not_found")
            return gr.update(choices=journal_choices(user), value=cid), tr(current_lang, "ui.renamed")

        rename_btn.click(on_rename, [journal_list, rename_to, lang], [journal_list, journal_status])

        def on_delete(cid, confirmed, current_conv, current_lang, request: gr.Request):
            user, _ = _user(request, users)
            if not cid:
                return gr.update(), tr(current_lang, "ui.choose_first"), False, current_conv, gr.update(), ""
            if not confirmed:
                return gr.update(), tr(current_lang, "ui.confirm_first"), False, current_conv, gr.update(), gr.update()
            try:
                service.delete(user, cid)
            except NotFound:
                return gr.update(), tr(current_lang, "ui.not_found"), False, current_conv, gr.update(), ""
            cleared = current_conv == cid
            return (
                gr.update(choices=journal_choices(user), value=None),
                tr(current_lang, "ui.deleted"),
                False,
                None if cleared else current_conv,
                [] if cleared else gr.update(),
                "",
            )

        delete_btn.click(on_delete, [journal_list, delete_ok, conv_id, lang],
                         [journal_list, journal_status, delete_ok, conv_id, chatbot, preview])

        def on_export(cid, current_lang, request: gr.Request):
            user, _ = _user(request, users)
            if not cid:
                return None, tr(current_lang, "ui.choose_first")
            try:
                text = service.export(user, cid, current_lang)
            except NotFound:
                return None, tr(current_lang, "ui.not_found")
            path = _private_file(settings, user, f"refleksjon-{cid[:8]}.md", text)
            return gr.update(value=download_link(user, path, current_lang), visible=True), ""

        export_btn.click(on_export, [journal_list, lang], [export_file, journal_status])

        def on_show_data(request: gr.Request):
            user, role = _user(request, users)
            return gr.update(value=service.my_data(user, role), visible=True)

        show_data_btn.click(on_show_data, None, [my_data_view])

        def on_export_all(current_lang, request: gr.Request):
            user, role = _user(request, users)
            path = service.export_everything(user, role, current_lang)
            return gr.update(value=download_link(user, path, current_lang), visible=True)

        export_all_btn.click(on_export_all, [lang], [export_all_file])

        def on_erase(confirmed, current_lang, request: gr.Request):
            user, _ = _user(request, users)
            if not confirmed:
                return tr(current_lang, "ui.confirm_first"), False, gr.update(), gr.update(), gr.update(), gr.update(), gr.update()
            result = service.erase_everything(user)
            exports.forget_user(user)
            if forget_other_sessions is not None:  # other tabs' chat state on the server goes too
                forget_other_sessions(user, getattr(request, "session_hash", "") or "")
            text = tr(current_lang, "ui.erased", n=result["conversations"])
            hidden = gr.update(value=None, visible=False)
            return text, False, None, [], gr.update(choices=[], value=None), hidden, hidden

        # After erase, nothing of the participant stays in this browser either.
        erase_btn.click(on_erase, [erase_ok, lang],
                        [erase_status, erase_ok, conv_id, chatbot, journal_list, my_data_view, export_all_file]).then(
            None, None, None, js="() => { try { localStorage.clear(); sessionStorage.clear(); } catch (e) {} }")

        # -- facilitator -------------------------------------------------------------------------
        def on_prepare(theme_text, number, current_lang, request: gr.Request):
            user, role = _user(request, users)
            try:
                text = service.prepare_gathering(role, theme_text, gathering=int(number) if number else None, lang=current_lang)
            except Forbidden:
                return tr(current_lang, "ui.forbidden"), None
            except InputRejected as exc:
                return str(exc), None
            path = _private_file(settings, user, "samling.md", text)
            return safe_markdown(text), gr.update(value=download_link(user, path, current_lang), visible=True)

        prep_btn.click(on_prepare, [theme, gathering, lang], [prep_out, prep_file], concurrency_id="answer")

        def on_upload(files, kind, current_lang, request: gr.Request):
            _, role = _user(request, users)
            paths = [Path(f if isinstance(f, str) else f.name) for f in (files or [])]
            try:
                report, problems = service.upload(role, paths, kind)
            except Forbidden:
                return tr(current_lang, "ui.forbidden")
            except InputRejected as exc:
                return str(exc)
            lines = [tr(current_lang, "ui.upload_report", added=len(report.files_added), updated=len(report.files_updated),
                        chunks=report.chunks_total)]
            lines += [f"- {p}" for p in problems]
            lines += [f"- {i.source}: {i.reason}" for i in report.failed]
            return safe_markdown("\n".join(lines))

        upload_btn.click(on_upload, [upload_files, upload_kind, lang], [upload_out], concurrency_id="ingest")

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


def _private_file(settings: Settings, user: str, name: str, text: str) -> str:
    """Write an export under the data directory, in a folder per user (erased with the user's data)."""
    from assistant.app.privacy import user_folder

    folder = user_folder(settings, user)
    folder.mkdir(parents=True, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix=Path(name).stem + "-", suffix=".md", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path


def serve(settings: Settings, *, prevent_thread_lock: bool = False):
    """Build everything from settings and serve on settings.host:settings.port. With
    `prevent_thread_lock`, returns the running server (`close()` stops it); else blocks."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("GRADIO_TEMP_DIR", str((settings.data_dir / "gradio-tmp").resolve()))
    Path(os.environ["GRADIO_TEMP_DIR"]).mkdir(parents=True, exist_ok=True)
    from assistant.app.journal import Journal
    from assistant.core.runtime import Runtime

    from assistant.core.logsafe import protect_process_output
    from assistant.web.shell import Sessions, check_exposure, create_app, drop_gradio_state

    users = UserStore.load(settings.users_file, settings.users)
    check_exposure(settings, users)
    protect_process_output()  # no user text in the server log, whatever a library prints (assistant/core/logsafe.py)
    runtime = Runtime.from_settings(settings)
    runtime.retriever.warm_up()
    # Load the embedder while the page opens, so the first question does not wait for it.
    if hasattr(runtime.embedder, "warm_up"):
        threading.Thread(target=runtime.embedder.warm_up, name="embedder-warm-up", daemon=True).start()
    service = ChatService(settings, runtime, runtime.engine, Journal(settings.journal_path))
    service.apply_retention()
    exports = ExportStore()
    sessions = Sessions(max_idle_s=settings.session_idle_hours * 3600)

    def forget_other_sessions(user: str, keep: str) -> None:
        drop_gradio_state(demo, [h for h in sessions.hashes_of(user) if h != keep])

    demo = build_app(settings, service, users, exports, forget_other_sessions)
    app = create_app(settings, demo, users, exports=exports, sessions=sessions, ui={
        "css": CSS, "theme": theme(),
        "js": "() => { document.documentElement.lang = '" + settings.language + "'; }",
    })
    return run_server(app, settings, prevent_thread_lock=prevent_thread_lock)


def run_server(app, settings: Settings, *, prevent_thread_lock: bool = False):
    """Serve the shell with uvicorn on settings.host:settings.port (in a thread when asked not to block)."""
    import uvicorn

    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level="warning", access_log=False,
        proxy_headers=False, server_header=False, timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    print(f"* Kjører på / Running on http://{'127.0.0.1' if settings.host in ('0.0.0.0', '::') else settings.host}:{settings.port}", flush=True)
    if prevent_thread_lock:
        thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
        thread.start()
        while not server.started and thread.is_alive():
            time.sleep(0.05)
        return RunningServer(server, thread)
    server.run()
    return None


class RunningServer:
    """A server started with `prevent_thread_lock`: `close()` stops it."""

    def __init__(self, server, thread: threading.Thread) -> None:
        self.server, self.thread = server, thread

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
