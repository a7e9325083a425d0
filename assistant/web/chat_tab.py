"""The conversation tab: the chat, the reflection's stage buttons, the mode and source filters,
and the sources of the latest answer."""

from __future__ import annotations

import json

import gradio as gr

from assistant.app.chat import UPLOAD_KINDS
from assistant.core.i18n import LANGUAGES, tr
from assistant.core.safety import safe_markdown
from assistant.web.context import Text, UiContext, Who, handler, sources_html, stage_text


# The live character count under the message box; the client script fills it in.
COUNTER_HTML = '<p class="count" aria-live="polite"></p>'
# Show the count from this share of the limit: early enough to shorten, late enough not to distract.
COUNT_FROM = 0.8


def client_script(max_chars: int) -> str:
    """What the chat does in the browser, run once when the page loads.

    - Enter sends and Shift+Enter adds a line. Gradio's multi-line box does the opposite (and
      Shift+Enter would submit), so Enter in the box is taken before Gradio sees it.
    - The character count shows from `COUNT_FROM` of the limit, and says so when it is passed.
    - After each turn the newest assistant message's top is scrolled into view (in the chat, and on
      the page when it is off the screen): on a phone that is the question to answer, not the tail
      of the sources below it. When the message is an answer whose next question would then sit
      below the chat's visible part, the chat scrolls on until that question shows.
    """
    texts = {lang: {"count": tr(lang, "ui.count"), "over": tr(lang, "ui.count_over"),
                    "next": tr(lang, "answer.next").split("{stage}")[0]} for lang in LANGUAGES}
    return CLIENT_JS.replace("__TEXTS__", json.dumps(texts, ensure_ascii=False)).replace("__MAX__", str(max_chars)).replace(
        "__FROM__", str(COUNT_FROM))


CLIENT_JS = """() => {
  if (window.__chatClient) return;
  window.__chatClient = true;
  const TEXTS = __TEXTS__, MAX = __MAX__, FROM = Math.floor(MAX * __FROM__);
  const inBox = (e) => e.target instanceof Element && e.target.closest('#message') !== null;
  const number = (n) => n.toLocaleString('nb-NO');
  function count() {
    const out = document.querySelector('#message-count .count');
    const box = document.querySelector('#message textarea');
    if (!out || !box) return;
    const n = box.value.length, over = n > MAX;
    const texts = TEXTS[document.documentElement.lang] || TEXTS.nb;
    const text = n < FROM ? '' : (over ? texts.over : texts.count).replace('{n}', number(n)).replace('{max}', number(MAX));
    if (out.textContent !== text) out.textContent = text;
    out.classList.toggle('over', over);
  }
  window.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter' || !inBox(e)) return;
    e.stopPropagation();
    if (e.shiftKey || e.isComposing) return;
    e.preventDefault();
    const send = document.querySelector('#send');
    if (send) send.click();
  }, true);
  window.addEventListener('keypress', (e) => { if (e.key === 'Enter' && inBox(e)) e.stopPropagation(); }, true);
  document.addEventListener('input', (e) => { if (inBox(e)) count(); }, true);
  let shownRow = null, shownText = '', pending = false;
  function showNewest() {
    pending = false;
    count();
    const bots = document.querySelectorAll('#chat [data-testid="bot"]');
    const newest = bots[bots.length - 1];
    if (!newest) return;
    const row = newest.closest('.message-row') || newest;
    if (row === shownRow && newest.innerText === shownText) return;
    shownRow = row;
    shownText = newest.innerText;
    // Inside the chat's own scroll area the message's top goes to the top; the page itself moves
    // only when that top is off the screen or low on it, so a wide screen does not jump.
    let area = row.parentElement;
    while (area && !(area.scrollHeight > area.clientHeight + 1 && /auto|scroll/.test(getComputedStyle(area).overflowY))) {
      area = area.parentElement;
    }
    let anchor = row;  // what must show: the message's top, or its next question when that top hides it
    if (area && area !== document.scrollingElement && area !== document.body) {
      area.scrollTop += row.getBoundingClientRect().top - area.getBoundingClientRect().top - 8;
      const next = (TEXTS[document.documentElement.lang] || TEXTS.nb).next;
      const heading = [...newest.querySelectorAll('strong')].filter(e => e.innerText.trim().startsWith(next)).pop();
      const question = heading ? (heading.closest('p') || heading) : null;
      if (question) {
        const q = question.getBoundingClientRect(), a = area.getBoundingClientRect();
        if (q.bottom > a.bottom - 8) {
          area.scrollTop += Math.min(q.bottom - a.bottom + 8, q.top - a.top - 8);
          anchor = question;
        }
      }
    }
    const top = anchor.getBoundingClientRect().top;
    if (top < 0 || top > window.innerHeight * 0.6) window.scrollBy(0, top - 8);
  }
  new MutationObserver(() => {
    if (!pending) { pending = true; requestAnimationFrame(showNewest); }
  }).observe(document.body, {childList: true, subtree: true, characterData: true});
}"""


def kind_choices(lang: str) -> list[tuple[str, str]]:
    return [(tr(lang, f"kind.{k}"), k) for k in UPLOAD_KINDS]


def mode_choices(lang: str) -> list[tuple[str, str]]:
    return [(tr(lang, "ui.mode_reflect"), "reflect"), (tr(lang, "ui.mode_qa"), "qa")]


class ChatTab:
    def __init__(self, ctx: UiContext, lang: gr.State, conv_id: gr.State) -> None:
        self.ctx, self.lang, self.conv_id = ctx, lang, conv_id

    def build(self, lang: str) -> None:
        # Phone first: the stage sits above the chat, the sources right under its controls, and the
        # chat's height follows the screen. On a wide screen the mode and filters stand beside it.
        with gr.Tab(tr(lang, "ui.tab_chat"), id="chat") as self.tab:
            with gr.Row(equal_height=False):
                with gr.Column(scale=3, min_width=300):
                    self.stage_md = gr.Markdown(elem_id="stage")
                    self.chatbot = gr.Chatbot(label=tr(lang, "ui.chatbot"), height="60vh", min_height=320, elem_id="chat",
                                              buttons=["copy"], autoscroll=False, placeholder=tr(lang, "ui.chat_placeholder"))
                    # No max_length: the browser would cut a long text without a word. The counter warns
                    # from 80 % of the limit, and the service refuses a longer message and says why.
                    self.message = gr.Textbox(label=tr(lang, "ui.message"), placeholder=tr(lang, "ui.placeholder"), lines=3,
                                              info=tr(lang, "ui.message_hint"), elem_id="message")
                    self.counter = gr.HTML(COUNTER_HTML, elem_id="message-count")
                    with gr.Row():
                        self.send = gr.Button(tr(lang, "ui.send"), variant="primary", elem_id="send")
                        self.new = gr.Button(tr(lang, "ui.new"), elem_id="new")
                    with gr.Row(visible=True, elem_id="stage-buttons") as self.reflect_row:
                        self.stay = gr.Button(tr(lang, "ui.stay"), size="sm", elem_id="stay")
                        self.skip = gr.Button(tr(lang, "ui.skip"), size="sm", elem_id="skip")
                        self.back = gr.Button(tr(lang, "ui.back"), size="sm", elem_id="back")
                        self.finish = gr.Button(tr(lang, "ui.summarize"), size="sm", elem_id="finish")
                    self.sources_heading = gr.Markdown(f"### {tr(lang, 'ui.sources')}")
                    self.sources = gr.HTML(sources_html([], lang), elem_id="sources")
                with gr.Column(scale=1, min_width=240):
                    self.mode = gr.Radio(mode_choices(lang), value="reflect", label=tr(lang, "ui.mode"), elem_id="mode")
                    self.kinds = gr.CheckboxGroup(kind_choices(lang), value=[], label=tr(lang, "ui.kinds"))

    def texts(self) -> list[Text]:
        return [
            (self.chatbot, "label", "ui.chatbot", "{}"), (self.chatbot, "placeholder", "ui.chat_placeholder", "{}"),
            (self.message, "label", "ui.message", "{}"), (self.message, "placeholder", "ui.placeholder", "{}"),
            (self.message, "info", "ui.message_hint", "{}"),
            (self.send, "value", "ui.send", "{}"), (self.new, "value", "ui.new", "{}"), (self.stay, "value", "ui.stay", "{}"),
            (self.skip, "value", "ui.skip", "{}"), (self.back, "value", "ui.back", "{}"),
            (self.finish, "value", "ui.summarize", "{}"), (self.mode, "label", "ui.mode", "{}"),
            (self.kinds, "label", "ui.kinds", "{}"), (self.sources_heading, "value", "ui.sources", "### {}"),
            (self.tab, "label", "ui.tab_chat", "{}"),
        ]

    def wire(self) -> None:
        starts = ([self.mode, self.lang], [self.conv_id, self.chatbot, self.stage_md, self.sources])
        self.new.click(self.start_conversation, *starts)
        # Only the participant's own switch starts a conversation: opening one from the journal,
        # or restoring it after a reload, sets the mode too and must not replace it.
        self.mode.input(self.start_conversation, *starts)
        self.mode.change(lambda m: gr.update(visible=m == "reflect"), [self.mode], [self.reflect_row])
        send_inputs = [self.message, self.chatbot, self.conv_id, self.mode, self.kinds, self.lang]
        send_outputs = [self.chatbot, self.message, self.stage_md, self.sources, self.conv_id]
        self.send.click(self.send_advance, send_inputs, send_outputs, concurrency_id="answer")
        self.message.submit(self.send_advance, send_inputs, send_outputs, concurrency_id="answer")
        self.stay.click(self.stay_here, send_inputs, send_outputs, concurrency_id="answer")
        jumped = [self.chatbot, self.stage_md, self.sources]
        self.skip.click(self.skip_stage, [self.chatbot, self.conv_id, self.lang], jumped)
        self.back.click(self.back_stage, [self.chatbot, self.conv_id, self.lang], jumped)
        self.finish.click(self.on_finish, [self.chatbot, self.conv_id, self.lang], jumped)

    def restored(self, user: str, cid: str, lang: str) -> tuple:
        """A stored conversation as the tab shows it: (chat, stage, sources of its latest turn,
        mode). Used when it is opened from the journal and after a reload."""
        conv = self.ctx.service.conversation(user, cid)
        last = conv.last_turn
        stage = stage_text(conv.stage if conv.mode == "reflect" else None, lang)
        return self.ctx.history_of(user, cid), stage, sources_html(last.citations if last else [], lang), conv.mode

    # -- handlers ------------------------------------------------------------------------------
    @handler()
    def start_conversation(self, who: Who, current_mode, current_lang):
        turn = self.ctx.service.start(who.user, current_mode, current_lang)
        chat = [{"role": "assistant", "content": turn.text}] if turn.text else []
        return turn.conversation_id, chat, stage_text(turn.stage, current_lang), sources_html(turn.citations, current_lang)

    @handler()
    def send_advance(self, who: Who, text, chat, cid, current_mode, current_kinds, current_lang):
        yield from self._respond(who, text, chat, cid, current_mode, current_kinds, current_lang, "advance")

    @handler()
    def stay_here(self, who: Who, text, chat, cid, current_mode, current_kinds, current_lang):
        yield from self._respond(who, text, chat, cid, current_mode, current_kinds, current_lang, "stay")

    def _respond(self, who: Who, text, chat, cid, current_mode, current_kinds, current_lang, move):
        service = self.ctx.service
        chat = list(chat or [])
        if not (text or "").strip():
            if move == "stay" and cid is not None and current_mode == "reflect":  # another question, same stage
                shown, stage, sources = self._jump(who, chat, cid, current_lang, "stay")
                yield shown, text, stage, sources, cid
                return
            yield chat, text, gr.update(), gr.update(), cid
            return
        if cid is None:
            turn = service.start(who.user, current_mode, current_lang)
            cid = turn.conversation_id
            if turn.text:
                chat.append({"role": "assistant", "content": turn.text})
        chat.append({"role": "user", "content": safe_markdown(text)})
        chat.append({"role": "assistant", "content": "…"})
        yield chat, "", gr.update(), gr.update(), cid
        for turn in service.send(who.user, cid, text, lang=current_lang, kinds=tuple(current_kinds or ()), move=move):
            if turn.error and not turn.answer:
                shown = safe_markdown(text[:200]) + ("…" if len(text) > 200 else "")
                chat[-2:] = [{"role": "user", "content": shown}, {"role": "assistant", "content": turn.text}]
                yield chat, text, gr.update(), gr.update(), cid
                return
            if turn.kind == "summary":  # after the closing turn: its own message
                chat.append({"role": "assistant", "content": turn.text})
            else:
                chat[-1] = {"role": "assistant", "content": turn.text}
            # The sources panel belongs to the latest turn: replaced when it is done, even by none.
            sources = sources_html(turn.citations, current_lang) if turn.done else gr.update()
            yield chat, "", stage_text(turn.stage, current_lang), sources, cid

    @handler()
    def skip_stage(self, who: Who, chat, cid, current_lang):
        return self._jump(who, chat, cid, current_lang, "skip")

    @handler()
    def back_stage(self, who: Who, chat, cid, current_lang):
        return self._jump(who, chat, cid, current_lang, "back")

    def _jump(self, who: Who, chat, cid, current_lang, move):
        """The chat as stored after the jump (the new question replaces an open one), its stage
        and its sources; a notice (nothing stored) is shown under the chat."""
        if cid is None:
            return chat, gr.update(), gr.update()
        turn = self.ctx.service.jump(who.user, cid, move, current_lang)
        return self._shown(who, cid, turn, current_lang)

    def _shown(self, who: Who, cid, turn, current_lang):
        chat = self.ctx.history_of(who.user, cid)
        if turn.kind == "notice":
            return chat + [{"role": "assistant", "content": turn.text}], stage_text(turn.stage, current_lang), gr.update()
        return chat, stage_text(turn.stage, current_lang), sources_html(turn.citations, current_lang)

    @handler()
    def on_finish(self, who: Who, chat, cid, current_lang):
        """The summary, once: pressing again shows the chat as stored, with no second summary."""
        if cid is None:
            return chat, gr.update(), gr.update()
        turn = self.ctx.service.finish(who.user, cid, current_lang)
        return self._shown(who, cid, turn, current_lang)
