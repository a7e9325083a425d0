"""The journal tab: the participant's own conversations (open, rename, export, delete) and their
data rights (see, download and erase everything stored about them)."""

from __future__ import annotations

import gradio as gr

from assistant.core.i18n import tr
from assistant.web.chat_tab import ChatTab
from assistant.web.context import Text, UiContext, Who, handler

# What the browser keeps of the page is cleared after erase (Gradio's own storage included).
CLEAR_BROWSER_STORAGE = "() => { try { localStorage.clear(); sessionStorage.clear(); } catch (e) {} }"


class JournalTab:
    def __init__(self, ctx: UiContext, lang: gr.State, conv_id: gr.State) -> None:
        self.ctx, self.lang, self.conv_id = ctx, lang, conv_id

    def build(self, lang: str) -> None:
        with gr.Tab(tr(lang, "ui.tab_journal"), id="journal") as self.tab:
            self.journal_list = gr.Dropdown(choices=[], label=tr(lang, "ui.journal_list"), elem_id="journal-list")
            with gr.Row():
                self.open_btn = gr.Button(tr(lang, "ui.open"), elem_id="journal-open")
                self.refresh_btn = gr.Button(tr(lang, "ui.refresh"), elem_id="journal-refresh")
                self.export_btn = gr.Button(tr(lang, "ui.export"), elem_id="journal-export")
            with gr.Row():
                self.rename_to = gr.Textbox(label=tr(lang, "ui.rename_to"), max_length=120)
                self.rename_btn = gr.Button(tr(lang, "ui.rename"))
            with gr.Row():
                self.delete_ok = gr.Checkbox(label=tr(lang, "ui.delete_confirm"), value=False)
                self.delete_btn = gr.Button(tr(lang, "ui.delete"), variant="stop")
            self.status = gr.Markdown()
            self.export_file = gr.HTML(label=tr(lang, "ui.export_file"), visible=False, elem_id="export-link")
            self.preview = gr.Markdown(elem_id="journal-preview")
            with gr.Accordion(tr(lang, "ui.my_data"), open=False, elem_id="my-data") as self.my_data_box:
                self.my_data_intro = gr.Markdown(tr(lang, "ui.my_data_intro"))
                with gr.Row():
                    self.show_data_btn = gr.Button(tr(lang, "ui.my_data_show"), elem_id="my-data-show")
                    self.export_all_btn = gr.Button(tr(lang, "ui.my_data_export"), elem_id="my-data-export")
                self.my_data_view = gr.JSON(label=tr(lang, "ui.my_data"), elem_id="my-data-view", visible=False)
                self.export_all_file = gr.HTML(label=tr(lang, "ui.export_file"), elem_id="my-data-file", visible=False)
                with gr.Row():
                    self.erase_ok = gr.Checkbox(label=tr(lang, "ui.erase_confirm"), value=False, elem_id="erase-confirm")
                    self.erase_btn = gr.Button(tr(lang, "ui.erase"), variant="stop", elem_id="erase")
                self.erase_status = gr.Markdown(elem_id="erase-status")

    def texts(self) -> list[Text]:
        return [
            (self.tab, "label", "ui.tab_journal", "{}"), (self.journal_list, "label", "ui.journal_list", "{}"),
            (self.open_btn, "value", "ui.open", "{}"), (self.refresh_btn, "value", "ui.refresh", "{}"),
            (self.export_btn, "value", "ui.export", "{}"), (self.rename_to, "label", "ui.rename_to", "{}"),
            (self.rename_btn, "value", "ui.rename", "{}"), (self.delete_ok, "label", "ui.delete_confirm", "{}"),
            (self.delete_btn, "value", "ui.delete", "{}"), (self.export_file, "label", "ui.export_file", "{}"),
            (self.my_data_box, "label", "ui.my_data", "{}"), (self.my_data_intro, "value", "ui.my_data_intro", "{}"),
            (self.show_data_btn, "value", "ui.my_data_show", "{}"), (self.export_all_btn, "value", "ui.my_data_export", "{}"),
            (self.my_data_view, "label", "ui.my_data", "{}"), (self.export_all_file, "label", "ui.export_file", "{}"),
            (self.erase_ok, "label", "ui.erase_confirm", "{}"), (self.erase_btn, "value", "ui.erase", "{}"),
        ]

    def wire(self, chat: ChatTab, tabs: gr.Tabs) -> None:
        lang, cid = self.lang, self.conv_id
        self.refresh_btn.click(self.on_refresh, None, [self.journal_list, self.preview])
        self.tab.select(self.on_refresh, None, [self.journal_list, self.preview])
        self.journal_list.change(self.on_pick, [self.journal_list, lang], [self.preview])
        self.chat_tab = chat
        self.open_btn.click(self.on_open, [self.journal_list, lang],
                            [cid, chat.chatbot, chat.mode, tabs, self.status, chat.stage_md, chat.sources])
        self.rename_btn.click(self.on_rename, [self.journal_list, self.rename_to, lang],
                              [self.journal_list, self.status, self.preview])
        self.delete_btn.click(self.on_delete, [self.journal_list, self.delete_ok, cid, lang],
                              [self.journal_list, self.status, self.delete_ok, cid, chat.chatbot, self.preview])
        self.export_btn.click(self.on_export, [self.journal_list, lang], [self.export_file, self.status])
        self.show_data_btn.click(self.on_show_data, None, [self.my_data_view])
        self.export_all_btn.click(self.on_export_all, [lang], [self.export_all_file])
        erased = [self.erase_status, self.erase_ok, cid, chat.chatbot, self.journal_list, self.my_data_view, self.export_all_file]
        # After erase, nothing of the participant stays in this browser either.
        self.erase_btn.click(self.on_erase, [self.erase_ok, lang], erased).then(None, None, None, js=CLEAR_BROWSER_STORAGE)

    # -- handlers ------------------------------------------------------------------------------
    @handler()
    def on_refresh(self, who: Who):
        return gr.update(choices=self.ctx.journal_choices(who.user), value=None), ""

    @handler(on_error=lambda message: message)
    def on_pick(self, who: Who, cid, current_lang):
        return self.ctx.service.export(who.user, cid, current_lang) if cid else ""

    @handler(on_error=lambda message: (gr.update(), gr.update(), gr.update(), gr.update(), message, gr.update(), gr.update()))
    def on_open(self, who: Who, cid, current_lang):
        """The conversation as it was left: its messages, its stage and its latest turn's sources."""
        if not cid:
            return gr.update(), gr.update(), gr.update(), gr.update(), tr(current_lang, "ui.choose_first"), gr.update(), gr.update()
        chat, stage, sources, mode = self.chat_tab.restored(who.user, cid, current_lang)
        return cid, chat, gr.update(value=mode), gr.Tabs(selected="chat"), "", stage, sources

    @handler(on_error=lambda message: (gr.update(), message, gr.update()))
    def on_rename(self, who: Who, cid, title, current_lang):
        """The list and the preview show the new title (the list keeps its value, so its change
        event does not refresh the preview)."""
        if not cid:
            return gr.update(), tr(current_lang, "ui.choose_first"), gr.update()
        self.ctx.service.rename(who.user, cid, title)
        preview = self.ctx.service.export(who.user, cid, current_lang)
        return gr.update(choices=self.ctx.journal_choices(who.user), value=cid), tr(current_lang, "ui.renamed"), preview

    @handler(on_error=lambda message: (gr.update(), message, False, gr.update(), gr.update(), ""))
    def on_delete(self, who: Who, cid, confirmed, current_conv, current_lang):
        if not cid:
            return gr.update(), tr(current_lang, "ui.choose_first"), False, current_conv, gr.update(), ""
        if not confirmed:
            return gr.update(), tr(current_lang, "ui.confirm_first"), False, current_conv, gr.update(), gr.update()
        self.ctx.service.delete(who.user, cid)
        cleared = current_conv == cid
        choices = gr.update(choices=self.ctx.journal_choices(who.user), value=None)
        return choices, tr(current_lang, "ui.deleted"), False, None if cleared else current_conv, [] if cleared else gr.update(), ""

    @handler(on_error=lambda message: (None, message))
    def on_export(self, who: Who, cid, current_lang):
        if not cid:
            return None, tr(current_lang, "ui.choose_first")
        text = self.ctx.service.export(who.user, cid, current_lang)
        path = self.ctx.private_file(who.user, f"refleksjon-{cid[:8]}.md", text)
        return gr.update(value=self.ctx.download_link(who.user, path, current_lang), visible=True), ""

    @handler()
    def on_show_data(self, who: Who):
        return gr.update(value=self.ctx.service.my_data(who.user, who.role), visible=True)

    @handler()
    def on_export_all(self, who: Who, current_lang):
        path = self.ctx.service.export_everything(who.user, who.role, current_lang)
        return gr.update(value=self.ctx.download_link(who.user, path, current_lang), visible=True)

    def on_erase(self, confirmed, current_lang, request: gr.Request):
        """Not decorated: it also needs the request's session, to drop the user's other sessions."""
        who = self.ctx.who(request)
        if not confirmed:
            return tr(current_lang, "ui.confirm_first"), False, gr.update(), gr.update(), gr.update(), gr.update(), gr.update()
        result = self.ctx.service.erase_everything(who.user)
        self.ctx.exports.forget_user(who.user)
        if self.ctx.forget_other_sessions is not None:  # other tabs' chat state on the server goes too
            self.ctx.forget_other_sessions(who.user, getattr(request, "session_hash", "") or "")
        hidden = gr.update(value=None, visible=False)
        text = tr(current_lang, "ui.erased", n=result["conversations"])
        return text, False, None, [], gr.update(choices=[], value=None), hidden, hidden
