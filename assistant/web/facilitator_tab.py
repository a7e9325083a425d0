"""The facilitator tab: material and discussion questions for a gathering, and uploads to the
shared material (facilitators only; the service checks the role, and the shell the upload route).
An upload says what kind of document it is and where its content comes from (its provenance)."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from assistant.core.i18n import tr
from assistant.core.provenance import DEFAULT_PROVENANCE, PROVENANCES, provenance_label
from assistant.core.safety import safe_markdown
from assistant.web.chat_tab import kind_choices
from assistant.web.context import Text, UiContext, Who, handler

UPLOAD_TYPES = [".pdf", ".md", ".txt", ".docx", ".pptx"]


def provenance_choices(lang: str) -> list[tuple[str, str]]:
    """Where an upload's content comes from, as the facilitator picks it (default: the programme's)."""
    return [(provenance_label(lang, p), p) for p in PROVENANCES]


class FacilitatorTab:
    def __init__(self, ctx: UiContext, lang: gr.State) -> None:
        self.ctx, self.lang = ctx, lang

    def build(self, lang: str) -> None:
        with gr.Tab(tr(lang, "ui.tab_facilitator"), id="facilitator", visible=False) as self.tab:
            self.prep_heading = gr.Markdown(f"### {tr(lang, 'ui.prep_heading')}")
            with gr.Row():
                self.theme = gr.Textbox(label=tr(lang, "ui.prep_theme"), max_length=300, elem_id="prep-theme")
                self.gathering = gr.Dropdown(choices=["", "1", "2", "3", "4", "5"], value="", label=tr(lang, "ui.prep_gathering"))
            self.prep_btn = gr.Button(tr(lang, "ui.prep_button"), variant="primary", elem_id="prep-button")
            self.prep_out = gr.Markdown(elem_id="prep-out")
            self.prep_file = gr.HTML(label=tr(lang, "ui.prep_export"), visible=False, elem_id="prep-link")
            self.upload_heading = gr.Markdown(f"### {tr(lang, 'ui.upload_heading')}")
            self.upload_files = gr.File(label=tr(lang, "ui.upload_files"), file_count="multiple", file_types=UPLOAD_TYPES,
                                        elem_id="upload-files")
            self.upload_kind = gr.Dropdown(choices=kind_choices(lang), value="programme", label=tr(lang, "ui.upload_kind"))
            self.upload_provenance = gr.Dropdown(choices=provenance_choices(lang), value=DEFAULT_PROVENANCE,
                                                 label=tr(lang, "ui.upload_provenance"), elem_id="upload-provenance")
            self.upload_btn = gr.Button(tr(lang, "ui.upload_button"), elem_id="upload-button")
            self.upload_out = gr.Markdown(elem_id="upload-out")

    def texts(self) -> list[Text]:
        return [
            (self.tab, "label", "ui.tab_facilitator", "{}"), (self.prep_heading, "value", "ui.prep_heading", "### {}"),
            (self.theme, "label", "ui.prep_theme", "{}"), (self.gathering, "label", "ui.prep_gathering", "{}"),
            (self.prep_btn, "value", "ui.prep_button", "{}"), (self.prep_file, "label", "ui.prep_export", "{}"),
            (self.upload_heading, "value", "ui.upload_heading", "### {}"), (self.upload_files, "label", "ui.upload_files", "{}"),
            (self.upload_kind, "label", "ui.upload_kind", "{}"), (self.upload_provenance, "label", "ui.upload_provenance", "{}"),
            (self.upload_btn, "value", "ui.upload_button", "{}"),
        ]

    def wire(self) -> None:
        self.prep_btn.click(self.on_prepare, [self.theme, self.gathering, self.lang], [self.prep_out, self.prep_file],
                            concurrency_id="answer")
        self.upload_btn.click(self.on_upload, [self.upload_files, self.upload_kind, self.upload_provenance, self.lang], [self.upload_out],
                              concurrency_id="ingest")

    # -- handlers ------------------------------------------------------------------------------
    @handler(on_error=lambda message: (message, None))
    def on_prepare(self, who: Who, theme_text, number, current_lang):
        gathering = int(number) if number else None
        text = self.ctx.service.prepare_gathering(who.role, theme_text, gathering=gathering, lang=current_lang)
        path = self.ctx.private_file(who.user, "samling.md", text)
        return safe_markdown(text), gr.update(value=self.ctx.download_link(who.user, path, current_lang), visible=True)

    @handler(on_error=lambda message: message)
    def on_upload(self, who: Who, files, kind, provenance, current_lang):
        paths = [Path(f if isinstance(f, str) else f.name) for f in (files or [])]
        report, problems = self.ctx.service.upload(who.role, paths, kind, provenance or DEFAULT_PROVENANCE)
        lines = [tr(current_lang, "ui.upload_report", added=len(report.files_added), updated=len(report.files_updated),
                    chunks=report.chunks_total)]
        lines += [f"- {p}" for p in problems]
        lines += [f"- {i.source}: {i.reason}" for i in report.failed]
        return safe_markdown("\n".join(lines))
