"""Issue 19 replayed in a real browser: the eight observations, on a 390×844 phone.

A kommunalsjef in a town of 45 000 writes specific messages through all five stages of a guided
reflection (a conflict between planning and culture, pressure to build housing on the fields, an
overloaded calendar), presses stay, skip and back, reloads the page, reopens the conversation from
the journal, finishes twice and thanks the assistant afterwards. The visible state is checked after
each turn, one check per observation of the issue:

1. mirroring quotes the tension, not the self-introduction;
2. insights are never shown twice, never open with a dangling reference and never glue a bold
   lead-in or heading of the material into a sentence;
3. stay, skip and back leave one open question, the sources panel belongs to the latest turn, and
   stay with an empty box says it asks another question (and does);
4. the last stage ends with a closing turn and exactly one summary, also after a "takk" and a
   second press of finish, and the export holds the summary once;
5. the summary lists the participant's commitments and not their worries;
6. switching conversation type stores no empty conversation, a reload keeps the conversation, the
   journal reopens it with its stage and sources, and a rename updates the preview;
7. after each turn the newest message's top is on the screen, and Enter sends;
8. a facilitator's preparation for "målkonflikter i arealpolitikken" ranks questions by the theme
   (not mostly the national-level document), cuts snippets at word and sentence boundaries, and
   marks the named gathering's items.

Every text looked for comes from the locale catalogue (`tr("nb", key)`).
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from assistant.core.i18n import tr
from assistant.core.settings import REPO_ROOT
from assistant.core.text import split_sentences

from .conftest import start_signed_in_app, stop_app
from .test_browser import ARTIFACTS, CHROMIUM, browser, run_event, sign_in, wait_until_idle, wait_until_loaded  # noqa: F401

pytestmark = pytest.mark.integration

NB = "nb"
ANSWER_TIMEOUT = 30000
USER, PASSWORD = "leder", "leder-passord"
FACILITATOR, FACILITATOR_PASSWORD = "fasi", "fasi-passord"

# The participant's messages, one per stage; the fifth answers the last stage's question.
INTRO = "Jeg er kommunalsjef for samfunnsutvikling i en by på rundt 45 000 innbyggere."
TENSION = ("Planavdelingen og kulturavdelingen trekker i hver sin retning om sentrum, og presset på å bygge "
           "boliger på jordene er stort.")
MESSAGES = [
    f"{INTRO} {TENSION}",
    "Vi vil ha et sentrum der folk bor, handler og møtes, uten å bygge ned mer matjord.",
    "Vi må få til et felles arbeidsverksted med plan og kultur før jul, slik at vi ser sentrum som én sak.",
    ("Hvis jeg skal være ærlig, er kalenderen min full av møter jeg ikke trenger å være i, og jeg vet ikke "
     "helt hvordan jeg skal håndtere det."),
    "Jeg må nok delegere mer. Jeg skal si nei til to arbeidsgrupper og bruke tiden på verkstedet.",
]
THANKS = "Takk, dette var nyttig."
COMMITMENTS = ["Vi må få til et felles arbeidsverksted", "Jeg må nok delegere mer", "Jeg skal si nei til to arbeidsgrupper"]
WORRIES = ["Hvis jeg skal være ærlig", "jeg vet ikke helt hvordan", "Takk"]
STAGES = ["where_are_we", "where_to", "how_to_get_there", "what_it_asks_of_me", "next_step"]
# Openers that lean on a sentence the participant never sees (observation 2: "Den andre er …").
DANGLING = re.compile(r"^(?:Den andre|Det andre|De andre|Dette|Disse|Denne|Også|I tillegg|Ved siden av)\b")
THEME = "målkonflikter i arealpolitikken"
GATHERING = 3
NATIONAL_TITLE = "Drøftingsspørsmål til nasjonalt nivå om bærekraftig by- og stedsutvikling"


@pytest.fixture(scope="module")
def app(indexed_data_copy):
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: scripts/test.sh installs it (apt-get install chromium chromium-driver)")
    data = indexed_data_copy("replay")
    proc, url = start_signed_in_app(data, {USER: ("participant", PASSWORD), FACILITATOR: ("facilitator", FACILITATOR_PASSWORD)})
    yield url, data
    stop_app(proc)


# --- what the page shows ------------------------------------------------------------------------

def bubbles(page) -> list[dict]:
    """Every message in the chat, in order: {"role": "user"|"bot", "text": ...}."""
    return page.evaluate("""() => [...document.querySelectorAll('#chat [data-testid=user], #chat [data-testid=bot]')]
        .map(e => ({role: e.dataset.testid, text: e.innerText}))""")


def bot_texts(page) -> list[str]:
    return [b["text"] for b in bubbles(page) if b["role"] == "bot"]


def stage_shown(page) -> str:
    return page.inner_text("#stage")


def sources_shown(page) -> list[str]:
    return [t.strip() for t in page.locator("#sources details summary").all_inner_texts()]


def wait_for(page, js: str, arg, what: str, timeout: float = ANSWER_TIMEOUT) -> None:
    """Wait until `js(arg)` is true in the page; fail saying `what` did not happen."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(js, arg=arg, timeout=timeout)
    except PlaywrightTimeout:
        pytest.fail(f"{what} (waited {timeout / 1000:g} s)")


def wait_for_text(page, selector: str, text: str, what: str, timeout: float = ANSWER_TIMEOUT) -> None:
    wait_for(page, f"(t) => (document.querySelector({selector!r})?.innerText || '').includes(t)", text, what, timeout)


def wait_for_stage(page, stage: str) -> None:
    label = tr(NB, f"stage.{stage}")
    wait_for_text(page, "#stage", label, f"the stage shown is not {label!r} but {page.inner_text('#stage')!r}")


def summary_headings(page) -> int:
    title = tr(NB, "summary.title")
    return page.evaluate("(t) => [...document.querySelectorAll('#chat h2')].filter(h => h.innerText.trim() === t).length", title)


def send_with_enter(page, text: str) -> None:
    """Type a message and press Enter (observation 7: Enter sends); wait until its turn is done."""
    box = page.locator("#message textarea")
    box.fill(text)
    with page.expect_request(lambda r: "/gradio_api/queue/join" in r.url, timeout=15000):
        box.press("Enter")
    # The handler's first output clears the box: from then on its event is running or done.
    page.wait_for_function("() => document.querySelector('#message textarea').value === ''", timeout=ANSWER_TIMEOUT)
    wait_until_idle(page, ANSWER_TIMEOUT)


def mirror_of(text: str) -> str:
    before, after = tr(NB, "answer.mirror").split("{phrase}")
    match = re.search(re.escape(before) + r"(.*?)" + re.escape(after), text, re.S)
    assert match, f"no mirror in the answer: {text[:300]!r}"
    return match.group(1)


def insight_sentences(text: str) -> list[str]:
    """The sentences an answer shows as insights, between "Fra materialet:" and the next question
    (or the sources list): each carries its own citation mark ("… samtidig. [1]")."""
    if tr(NB, "answer.insight") not in text:
        return []
    body = text.split(tr(NB, "answer.insight"), 1)[1]
    body = body.split(tr(NB, "answer.reading"), 1)[0]
    body = body.split(tr(NB, "answer.next").split("{stage}")[0], 1)[0].split(f"{tr(NB, 'answer.sources')}:", 1)[0]
    return [" ".join(s.split()) for s in re.split(r"\s*\[\d+\]", body) if s.strip()]


def reading_shown(text: str) -> str | None:
    """The summary an answer offers under "Les videre: «title»: …", without the citation mark."""
    if tr(NB, "answer.reading") not in text:
        return None
    line = text.split(tr(NB, "answer.reading"), 1)[1].split("\n", 1)[0]
    return " ".join(re.sub(r"\s*\[\d+\]\s*$", "", line.split("»:", 1)[1]).split())


def sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+(?=[A-ZÆØÅ«])", text) if s.strip()]


def _norm(text: str) -> str:
    return " ".join(text.casefold().split()).rstrip(" .!?:")


def material_fragments() -> set[str]:
    """Headings of the bundled material and the bold lead-ins that end as a sentence of their own
    ("**Sentrum mot ytre deler.** …"): never a sentence of an insight (observation 2)."""
    out: set[str] = set()
    for path in (REPO_ROOT / "corpus").rglob("*.md"):
        text = path.read_text(encoding="utf-8")
        out |= {_norm(h) for h in re.findall(r"^#+\s+(.+)$", text, re.M)}
        out |= {_norm(b) for b in re.findall(r"\*\*([^*\n]{3,80}?[.!?])\*\*", text)}
    return {f for f in out if f}


def check_newest_on_screen(page, turn: str) -> None:
    """Observation 7: after a turn what shows on the phone is the question to answer: an answer's
    next question ("Neste spørsmål …") inside the chat's visible part and on the screen, or for
    any other message its top, not scrolled away inside the chat (the client scrolls after the
    last render, so this waits a little for it)."""
    probe = """(next) => {
        const bots = document.querySelectorAll('#chat [data-testid=bot]');
        const bot = bots[bots.length - 1];
        const row = bot.closest('.message-row') || bot;
        let box = row.parentElement;
        while (box && !(box.scrollHeight > box.clientHeight + 1 && /auto|scroll/.test(getComputedStyle(box).overflowY))) box = box.parentElement;
        const inner = box && box !== document.scrollingElement && box !== document.body;
        const area = inner ? box.getBoundingClientRect() : {top: 0, bottom: window.innerHeight};
        const heading = [...bot.querySelectorAll('strong')].filter(e => e.innerText.trim().startsWith(next)).pop();
        if (heading) {
            const q = (heading.closest('p') || heading).getBoundingClientRect();
            const ok = q.top >= Math.max(area.top, 0) - 1 && q.top < Math.min(area.bottom, window.innerHeight) - 16;
            return {what: 'question', top: q.top, area: [area.top, area.bottom], ok};
        }
        const top = row.getBoundingClientRect().top;
        return {what: 'message', top, area: [area.top, area.bottom], ok: top >= -1 && top < window.innerHeight * 0.6 && top >= area.top - 1};
    }"""
    next_heading = tr(NB, "answer.next").split("{stage}")[0]
    try:
        page.wait_for_function(f"(next) => ({probe})(next).ok", arg=next_heading, timeout=5000)
    except Exception:  # noqa: BLE001 - report what was measured
        pytest.fail(f"after {turn}: the question is not what shows on the phone: {page.evaluate(probe, next_heading)}")


def open_question_count(text: str) -> int:
    """How many questions a question bubble asks: each carries its own "Kilde: [1]"."""
    return text.count(f"{tr(NB, 'chat.source')}: [1]")


def question_of(text: str) -> str:
    match = re.search(r"\?\s*\[1\]", text)
    assert match, f"no question in {text!r}"
    start = text.rfind("\n", 0, match.start()) + 1
    return text[start:match.start() + 1].strip()


def db_rows(data: Path, sql: str, *args):
    db = sqlite3.connect(f"file:{data / 'journal.sqlite3'}?mode=ro", uri=True)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


# --- the participant ----------------------------------------------------------------------------

def test_a_reflection_replayed_on_a_phone(app, browser):  # noqa: F811
    url, data = app
    context, page = sign_in(browser, url, USER, PASSWORD, phone=True)
    seen_insights: set[str] = set()
    fragments = material_fragments()

    def check_insights(turn: str, text: str) -> None:
        """Observation 2 for one answer: the insights stored with the turn are the ones shown, each
        opens with a sentence that reads alone and holds no heading fragment; no sentence shown
        as an insight comes back later in the conversation."""
        shown = insight_sentences(text)
        (stored,), = db_rows(data, "SELECT insights FROM messages WHERE role = 'assistant' AND kind = 'answer' AND "
                                   "conversation_id IN (SELECT id FROM conversations WHERE user = ?) ORDER BY id DESC LIMIT 1", USER)
        records = json.loads(stored)
        stored = [i["text"] for i in records if i.get("kind", "sentence") == "sentence"]
        # Stored as Markdown, shown rendered: "*Research Policy*" reads "Research Policy" on the page.
        as_rendered = [" ".join(s.replace("*", "").split()) for i in stored for s in split_sentences(i)]
        assert as_rendered == shown, f"{turn}: shown {shown}, stored {stored}"
        # The text offered to read next is stored as what it is, and offered once in a conversation.
        reading = [" ".join(i["text"].split()) for i in records if i.get("kind") == "reading"]
        assert reading == ([reading_shown(text)] if reading_shown(text) else []), f"{turn}: reading shown {reading_shown(text)!r}, stored {reading}"
        for summary in reading:
            assert _norm(summary) not in seen_insights, f"{turn}: a text offered to read again: {summary!r}"
            seen_insights.add(_norm(summary))
        for insight in stored:
            assert not DANGLING.match(insight), f"{turn}: a dangling insight: {insight!r}"
            glued = [s for s in sentences(insight) if _norm(s) in fragments]
            assert not glued, f"{turn}: a heading of the material glued into an insight: {glued} in {insight!r}"
        for sentence in shown:
            assert _norm(sentence) not in seen_insights, f"{turn}: an insight shown again: {sentence!r}"
            seen_insights.add(_norm(sentence))

    # Observation 6: switching conversation type back and forth stores nothing.
    for label in ("ui.mode_qa", "ui.mode_reflect", "ui.mode_qa", "ui.mode_reflect"):
        run_event(page, lambda: page.get_by_label(tr(NB, label)).check())
    assert db_rows(data, "SELECT count(*) FROM conversations WHERE user = ?", USER)[0][0] == 0, \
        "switching conversation type stored empty conversations"
    wait_for_stage(page, "where_are_we")
    assert len(bot_texts(page)) == 1 and tr(NB, "chat.opening").split(".")[0] in bot_texts(page)[0]

    # Observation 3: stay with an empty box asks another question of the same stage, and says so.
    first_question = question_of(bot_texts(page)[0])
    run_event(page, lambda: page.click("#stay"))
    wait_for_text(page, "#chat", tr(NB, "chat.stay_other"), "stay with an empty box does not say it asks another question")
    assert len(bot_texts(page)) == 1, f"stay added a message instead of replacing the open question: {bot_texts(page)}"
    [opening] = bot_texts(page)
    assert open_question_count(opening) == 1 and question_of(opening) != first_question
    assert tr(NB, "stage.where_are_we") in stage_shown(page)
    assert len(sources_shown(page)) == 1, "the sources panel must show the open question's source only"

    # Turn 1. Observation 1: the mirror quotes the tension, not the self-introduction.
    send_with_enter(page, MESSAGES[0])
    wait_for_stage(page, "where_to")
    texts = bot_texts(page)
    assert len(texts) == 2 and [b["text"] for b in bubbles(page) if b["role"] == "user"][-1].startswith("Jeg er kommunalsjef")
    answer = texts[-1]
    mirrored = mirror_of(answer)
    assert "trekker i hver sin retning" in mirrored, f"the mirror misses the tension: {mirrored!r}"
    assert "45 000 innbyggere" not in mirrored and "Jeg er kommunalsjef" not in mirrored, f"the mirror quotes the introduction: {mirrored!r}"
    check_insights("turn 1", answer)
    answer_sources = sources_shown(page)
    assert len(answer_sources) >= 2, "the answer's sources (its insights and its question) are in the panel"
    check_newest_on_screen(page, "turn 1")
    # Observation 7, the rest of it: the stage sits just above the chat and the stage buttons are touch-sized.
    stage_y, chat_y = page.evaluate("""() => ['#stage', '#chat'].map(s =>
        document.querySelector(s).getBoundingClientRect().top + window.scrollY)""")
    assert stage_y < chat_y < stage_y + 200, f"the stage is not next to the chat: {stage_y}, {chat_y}"
    for selector in ("#stay", "#skip", "#back", "#finish"):
        assert page.locator(selector).bounding_box()["height"] >= 44, f"{selector} is too small to touch"

    # Observation 3: skip, then back: one open question after the answer, the panel holds its source only.
    run_event(page, lambda: page.click("#skip"))
    wait_for_stage(page, "how_to_get_there")
    run_event(page, lambda: page.click("#back"))
    wait_for_stage(page, "where_to")
    texts = bot_texts(page)
    assert len(texts) == 3, f"skip and back must replace the open question, not add one: {len(texts)} messages"
    question = texts[-1]
    assert open_question_count(question) == 1, f"more than one open question: {question!r}"
    assert tr(NB, "stage.where_to") in question
    panel = sources_shown(page)
    assert len(panel) == 1, f"the sources panel keeps earlier sources: {panel}"
    assert panel[0].split("] ", 1)[1].split(" — ")[0] in question, f"the panel ({panel}) is not the open question's source"
    check_newest_on_screen(page, "skip and back")

    # Turn 2, then a reload (observation 6): the conversation, its stage and its sources stay.
    send_with_enter(page, MESSAGES[1])
    wait_for_stage(page, "how_to_get_there")
    check_insights("turn 2", bot_texts(page)[-1])
    check_newest_on_screen(page, "turn 2")
    before = (bubbles(page), sources_shown(page))
    page.reload()
    page.wait_for_selector("#message textarea", timeout=30000)
    wait_until_loaded(page)
    wait_for_stage(page, "how_to_get_there")
    assert (bubbles(page), sources_shown(page)) == before, "a reload changed the conversation or its sources"

    # Turn 3, then a new conversation and back from the journal (observation 6).
    send_with_enter(page, MESSAGES[2])
    wait_for_stage(page, "what_it_asks_of_me")
    check_insights("turn 3", bot_texts(page)[-1])
    check_newest_on_screen(page, "turn 3")
    before = (bubbles(page), sources_shown(page))
    run_event(page, lambda: page.click("#new"))
    wait_for_stage(page, "where_are_we")
    run_event(page, lambda: page.get_by_role("tab", name=tr(NB, "ui.tab_journal")).click())
    pick_only_conversation(page)
    run_event(page, lambda: page.get_by_role("button", name=tr(NB, "ui.open")).click())
    wait_for_stage(page, "what_it_asks_of_me")
    page.locator("#chat").wait_for(state="visible", timeout=10000)
    assert (bubbles(page), sources_shown(page)) == before, "reopened from the journal without its messages or sources"

    # Turn 4 (the worry) and turn 5 (the commitments) close the reflection.
    send_with_enter(page, MESSAGES[3])
    wait_for_stage(page, "next_step")
    check_insights("turn 4", bot_texts(page)[-1])
    check_newest_on_screen(page, "turn 4")
    count = len(bot_texts(page))
    send_with_enter(page, MESSAGES[4])
    texts = bot_texts(page)

    # Observation 4: a closing turn that asks nothing, then exactly one summary.
    assert len(texts) == count + 2, f"the last answer must be a closing turn and a summary: {texts[count:]}"
    closing, summary = texts[-2], texts[-1]
    assert tr(NB, "chat.closing").split(".")[0] in closing
    assert tr(NB, "answer.next").split("{stage}")[0] not in closing and "?" not in closing, f"the closing asks again: {closing!r}"
    assert summary.startswith(tr(NB, "summary.title")) and summary_headings(page) == 1
    check_newest_on_screen(page, "the closing turn")

    # Observation 5: the commitments, not the worries.
    listed = summary_section(page, "summary.commitments")
    for worry in WORRIES:
        assert not any(worry.casefold() in item.casefold() for item in listed), f"a worry listed as a commitment: {listed}"
    for commitment in COMMITMENTS:
        assert any(item.startswith(commitment) for item in listed), f"{commitment!r} missing from the commitments: {listed}"
    situation, tensions = summary_section(page, "summary.situation"), summary_section(page, "summary.tensions")
    assert INTRO in situation and TENSION in tensions, f"the participant's own situation is missing: {situation}, {tensions}"
    summary_insights = summary_section(page, "summary.insights")
    assert len(summary_insights) == len(set(summary_insights)), f"insights repeated in the summary: {summary_insights}"

    # Observation 4: a "takk" afterwards and a second press of finish make no second summary.
    send_with_enter(page, THANKS)
    assert summary_headings(page) == 1, "a message after the summary made a second one"
    assert not bot_texts(page)[-1].startswith(tr(NB, "summary.title"))
    check_insights("the thanks", bot_texts(page)[-1])
    run_event(page, lambda: page.click("#finish"))
    assert summary_headings(page) == 1, "finishing twice shows two summaries"
    assert summary_section(page, "summary.commitments") == listed
    (cid, stored), = db_rows(data, "SELECT id, count(*) FROM conversations WHERE user = ?", USER)
    assert stored == 1, "one conversation is stored (the draft and the type switches store none)"
    assert db_rows(data, "SELECT count(*) FROM messages WHERE conversation_id = ? AND kind = 'summary'", cid)[0][0] == 1

    # Observation 6: the journal lists the one conversation; the export has the summary once; a
    # rename updates the preview and the list.
    run_event(page, lambda: page.get_by_role("tab", name=tr(NB, "ui.tab_journal")).click())
    pick_only_conversation(page)
    preview = page.locator("#journal-preview")
    wait_for_text(page, "#journal-preview", tr(NB, "summary.commitments"), "the journal's preview has no summary", 10000)
    assert preview.locator("h2", has_text=tr(NB, "export.summary")).count() == 1
    assert preview.inner_text().count(tr(NB, "summary.commitments")) == 1, "the export holds the summary more than once"
    new_title = "Sentrum, jordene og kalenderen"
    page.get_by_label(tr(NB, "ui.rename_to")).fill(new_title)
    run_event(page, lambda: page.get_by_role("button", name=tr(NB, "ui.rename"), exact=True).click())
    wait_for(page, "(t) => document.querySelector('#journal-preview h1')?.innerText.trim() === t", new_title,
             "the preview keeps the old title after a rename", 10000)
    assert new_title in page.locator("#journal-list input").input_value()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "phone-reflection-replay.png"), full_page=True)
    context.close()


def pick_only_conversation(page) -> None:
    """Open the journal list and pick its one conversation (observation 6: no empty ones listed)."""
    page.locator("#journal-list input").click()
    options = page.get_by_role("option")
    options.first.wait_for(timeout=10000)
    wait_until_idle(page)
    listed = options.all_inner_texts()
    assert len(listed) == 1, f"the journal lists {len(listed)} conversations: {listed}"
    run_event(page, lambda: options.first.click())


def summary_section(page, key: str) -> list[str]:
    """The items under a heading of the (one) summary in the chat."""
    return page.evaluate("""(heading) => {
        const h = [...document.querySelectorAll('#chat h3')].filter(e => e.innerText.trim() === heading).pop();
        let list = h ? h.nextElementSibling : null;
        while (list && list.tagName !== 'UL' && list.tagName !== 'H3') list = list.nextElementSibling;
        return list && list.tagName === 'UL' ? [...list.querySelectorAll('li')].map(li => li.innerText.trim()) : [];
    }""", tr(NB, key))


# --- the facilitator ----------------------------------------------------------------------------

def test_facilitator_preparation_on_a_phone(app, browser):  # noqa: F811
    """Observation 8: questions matched to the theme, snippets cut at boundaries, the named
    gathering's items marked."""
    url, _ = app
    context, page = sign_in(browser, url, FACILITATOR, FACILITATOR_PASSWORD, phone=True)
    page.get_by_role("tab", name=tr(NB, "ui.tab_facilitator")).click()
    page.locator("#prep-theme").wait_for(state="visible", timeout=10000)
    page.locator("#prep-theme textarea, #prep-theme input").first.fill(THEME)
    page.get_by_label(tr(NB, "ui.prep_gathering")).click()
    page.get_by_role("option", name=str(GATHERING), exact=True).click()
    run_event(page, lambda: page.click("#prep-button"))
    wait_for_text(page, "#prep-out", tr(NB, "prep.discussion"), "no gathering preparation was shown")
    sections = page.evaluate("""() => {
        const out = {};
        for (const h of document.querySelectorAll('#prep-out h2')) {
            // Every list up to the next section: the discussion questions come in groups by provenance.
            const items = [];
            for (let el = h.nextElementSibling; el && el.tagName !== 'H2'; el = el.nextElementSibling) {
                if (el.tagName === 'UL') items.push(...[...el.querySelectorAll(':scope > li')].map(li => li.innerText.trim()));
            }
            out[h.innerText.trim()] = items;
        }
        return out;
    }""")
    material, discussion = sections[tr(NB, "prep.material")], sections[tr(NB, "prep.discussion")]
    assert material and discussion, sections

    national = [q for q in discussion if q.endswith(f"({NATIONAL_TITLE})")]
    assert len(national) * 2 < len(discussion), f"the discussion questions are mostly national-level: {discussion}"

    badge = f"({tr(NB, 'prep.badge', n=GATHERING)})"
    for item in material:
        match = re.search(r"\(([\w/.-]+\.\w+)\): (.+)$", item, re.S)
        assert match, f"a material item without its source and snippet: {item!r}"
        source, snip = match.groups()
        assert re.search(r"(?:[.!?»\")]| …)$", snip), f"a snippet stops mid-word or mid-sentence: {snip[-60:]!r}"
        front = _front_matter_gatherings(source)
        if front is not None:  # Markdown in the bundled corpus: its front matter says which gatherings
            assert item.startswith(badge) == (GATHERING in front), f"badge wrong for {source} ({front}): {item[:80]!r}"
    marked = [item.startswith(badge) for item in material]
    assert any(marked), "the bundled corpus marks natur-og-arealnoytralitet.md for gathering 3; no item carries the badge"
    assert marked == sorted(marked, reverse=True), "the gathering's items do not come first"
    assert tr(NB, "prep.gathering", n=GATHERING) in page.inner_text("#prep-out")
    context.close()


def _front_matter_gatherings(source: str) -> list[int] | None:
    path = REPO_ROOT / "corpus" / source
    if path.suffix != ".md" or not path.exists():
        return None
    match = re.search(r"^gathering:\s*\[([^\]]*)\]", path.read_text(encoding="utf-8"), re.M)
    return [int(x) for x in match.group(1).split(",") if x.strip()] if match else []
