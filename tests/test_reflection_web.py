"""The chat and journal tabs' handlers wire the reflection flow (issue 19): the chat shows one
open question after stay/skip/back, the sources panel belongs to the latest turn, finishing twice
shows one summary, and a conversation comes back with its stage and sources after a reload or
when opened from the journal; a rename refreshes the preview. Called as Gradio calls them."""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import pytest

from assistant.app.exports import ExportStore
from assistant.core.i18n import tr
from assistant.web.context import UiContext
from assistant.web.ui import Page

from .test_chat import service  # noqa: F401 - `service`: ChatService over the small corpus, fake embedder

LOCAL = SimpleNamespace(username=None)  # local mode: the one user "lokal"


@pytest.fixture
def page(service):  # noqa: F811
    with gr.Blocks() as demo:
        built = Page(UiContext(service.runtime.settings, service, None, ExportStore()))
        built.build("nb")
        built.wire(demo, "nb")
    return built


def last(gen):
    return list(gen)[-1]


def texts(chat):
    return [m["content"] for m in chat]


def test_skip_back_and_stay_show_one_open_question_with_its_source(page):
    cid, chat, stage, sources = page.chat.start_conversation("reflect", "nb", request=LOCAL)
    assert len(chat) == 1 and "[1]" in sources
    # "Stay" with an empty box: another question of the same stage, said so.
    chat, box, stage, sources, same = last(page.chat.stay_here("", chat, cid, "reflect", [], "nb", request=LOCAL))
    assert len(chat) == 1 and tr("nb", "chat.stay_other") in chat[0]["content"] and same == cid
    chat, stage, skipped = page.chat.skip_stage(chat, cid, "nb", request=LOCAL)
    chat, stage, back = page.chat.back_stage(chat, cid, "nb", request=LOCAL)
    assert len(chat) == 1 and chat[0]["content"].count(f"{tr('nb', 'chat.source')}: [1]") == 1  # replaced each time
    assert tr("nb", "stage.where_are_we") in stage and back != skipped and "?" in chat[0]["content"]
    # Staying again: this stage has no question left, and the chat says so under the open one.
    chat, box, stage, sources, same = last(page.chat.stay_here("", chat, cid, "reflect", [], "nb", request=LOCAL))
    assert len(chat) == 2 and chat[1]["content"] == tr("nb", "chat.no_other_question") and sources == gr.update()


def test_the_sources_panel_belongs_to_the_latest_turn_and_one_summary_shows(page, service):  # noqa: F811
    cid, chat, *_ = page.chat.start_conversation("reflect", "nb", request=LOCAL)
    chat, box, stage, sources, cid = last(page.chat.send_advance("Byen min vokser, og jeg leder planavdelingen.", chat,
                                                               cid, "reflect", [], "nb", request=LOCAL))
    answer = service.conversation("lokal", cid).last_turn
    assert all(c.title in sources for c in answer.citations) and box == ""
    for text in ("Vi vil ha et levende sentrum.", "Vi må samarbeide bedre.", "Det krever mot.",
                 "Jeg skal invitere næringslivet til et møte."):
        chat, box, stage, sources, cid = last(page.chat.send_advance(text, chat, cid, "reflect", [], "nb", request=LOCAL))
    assert tr("nb", "chat.closing") in texts(chat)[-2] and texts(chat)[-1].startswith("## " + tr("nb", "summary.title"))
    assert tr("nb", "ui.sources_empty") in sources  # the summary turn has no sources of its own
    chat, stage, sources = page.chat.on_finish(chat, cid, "nb", request=LOCAL)
    assert sum(t.startswith("## " + tr("nb", "summary.title")) for t in texts(chat)) == 1


def test_a_reload_and_the_journal_bring_back_stage_and_sources(page, service):  # noqa: F811
    cid, chat, *_ = page.chat.start_conversation("reflect", "nb", request=LOCAL)
    last(page.chat.send_advance("Byen min vokser.", chat, cid, "reflect", [], "nb", request=LOCAL))
    page.chat.skip_stage(chat, cid, "nb", request=LOCAL)
    conv = service.conversation("lokal", cid)

    *_, mode, _, saved, chat, stage, sources = page.on_load(cid, request=LOCAL)  # after a reload
    assert saved == cid and mode["value"] == "reflect"
    assert len(chat) == len(conv.messages) and tr("nb", "stage.how_to_get_there") in stage
    assert conv.last_turn.citations[0].title in sources
    unknown = page.on_load("0" * 32, request=LOCAL)  # not (or no longer) theirs: a fresh page
    assert all(v == gr.update() for v in unknown[4:])

    opened = page.journal.on_open(cid, "nb", request=LOCAL)
    assert opened[0] == cid and opened[5] == stage and conv.last_turn.citations[0].title in opened[6]

    choices, status, preview = page.journal.on_rename(cid, "Sentrum og kulturen", "nb", request=LOCAL)
    assert preview.startswith("# Sentrum og kulturen") and status == tr("nb", "ui.renamed")
