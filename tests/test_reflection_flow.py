"""The reflection as a designed conversation (issue 19): one open question at a time, a real
ending with exactly one summary, a summary worth forwarding, and state that is data (it
survives reopening; nothing empty is stored). App level: the fake embedder over a small corpus."""

from __future__ import annotations

import sqlite3

import pytest

from assistant.app.journal import Journal
from assistant.app.reflection import build_summary, is_commitment, render_summary
from assistant.core.i18n import tr
from assistant.core.records import REFLECTION_STAGES
from assistant.core.safety import safe_markdown

from .conftest import both_databases
from .test_chat import final, journal_sql, service  # noqa: F401 - `service`: ChatService over the small corpus, fake embedder

LAST = REFLECTION_STAGES[-1]


def open_questions(service, cid):  # noqa: F811
    """The questions the chat shows as open: those of the last assistant message, if it asks."""
    conv = service.conversation("kari", cid)
    last = conv.last_turn
    return conv, [q for q in last.questions[-1:] if safe_markdown(q) in last.content]


def walk_to_the_end(service, cid, replies):  # noqa: F811
    turns = []
    for text in replies:
        turns += final(service.send("kari", cid, text))
    return turns


REPLIES = [
    "Jeg er kommunalsjef i Tønsberg, en by på rundt 45 000 innbyggere. Det er en konflikt mellom plan og kultur om sentrum.",
    "Vi vil ha et levende sentrum, men presset på å bygge boliger på jordene er stort.",
    "Vi må få til et felles arbeidsverksted med kulturavdelingen før jul.",
    "Hvis jeg skal være ærlig, er målet mitt å overleve høsten. Jeg vet ikke helt hvordan jeg skal håndtere det.",
    "Jeg må nok delegere mer, og jeg skal si nei til to arbeidsgrupper.",
]


# -- 1. one open question at a time ---------------------------------------------------------------
def test_skip_and_back_leave_one_open_question(service):  # noqa: F811
    opening = service.start("kari", "reflect")
    cid = opening.conversation_id
    skipped = service.jump("kari", cid, "skip")
    back = service.jump("kari", cid, "back")
    conv, shown = open_questions(service, cid)
    assert [m.kind for m in conv.messages] == ["question"]  # replaced, not added
    assert len(shown) == 1 and conv.open_question == shown[0] and conv.stage == REFLECTION_STAGES[0]
    assert back.text.count("[1]") == 2  # the question's mark and its one source line
    assert back.citations and len(back.citations) == 1 and skipped.citations != back.citations
    # Every question shown stays asked: going back does not ask the first one again.
    assert opening.text.split("[1]")[0] not in back.text.split("[1]")[0]
    assert len(conv.messages[0].questions) == 3 and len(set(conv.messages[0].questions)) == 3

    # After an answer, a jump adds one question; the next jump replaces it.
    final(service.send("kari", cid, REPLIES[0]))
    service.jump("kari", cid, "skip")
    service.jump("kari", cid, "back")
    kinds = [m.kind for m in service.conversation("kari", cid).messages]
    assert kinds == ["question", "message", "answer", "question"]


def test_stay_without_text_asks_a_different_question_and_says_so(service):  # noqa: F811
    opening = service.start("kari", "reflect")
    cid = opening.conversation_id
    other = service.jump("kari", cid, "stay")
    assert other.kind == "question" and other.stage == REFLECTION_STAGES[0]
    assert tr("nb", "chat.stay_other") in other.text
    first_q, second_q = service.conversation("kari", cid).messages[0].questions
    assert first_q != second_q and second_q in other.text and first_q not in other.text
    # The small corpus has two questions for this stage: the third stay says there is none left
    # and changes nothing.
    before = service.conversation("kari", cid)
    none_left = service.jump("kari", cid, "stay")
    assert none_left.kind == "notice" and none_left.text == tr("nb", "chat.no_other_question")
    assert service.conversation("kari", cid) == before


# -- 2. a real ending ---------------------------------------------------------------------------------
@both_databases
def test_the_last_stage_ends_with_a_closing_turn_and_one_summary(service):  # noqa: F811
    cid = service.start("kari", "reflect").conversation_id
    turns = walk_to_the_end(service, cid, REPLIES)
    done = [t.kind for t in turns if t.done]
    assert done == ["answer"] * 4 + ["closing", "summary"]
    closing = next(t for t in turns if t.done and t.kind == "closing")
    assert "delegere mer" in closing.text  # the closing turn mirrors the participant's next step
    assert turns[-1].citations == []  # the sources panel belongs to the latest turn: none

    # A "thank you" afterwards continues the conversation: an answer, no second summary, and the
    # thanks are no commitment.
    after = final(service.send("kari", cid, "Takk, dette var nyttig."))
    assert [t.kind for t in after if t.done] == ["answer"]
    conv = service.conversation("kari", cid)
    assert [m.kind for m in conv.messages].count("summary") == 1
    assert "Takk, dette var nyttig." not in conv.summary


@both_databases
def test_finishing_twice_shows_the_same_summary_and_stores_nothing(service):  # noqa: F811
    cid = service.start("kari", "reflect").conversation_id
    final(service.send("kari", cid, REPLIES[0]))
    first = service.finish("kari", cid)
    stored = service.conversation("kari", cid)
    second = service.finish("kari", cid)
    assert second.text == first.text and second.kind == "summary"
    assert service.conversation("kari", cid) == stored
    assert [m.kind for m in stored.messages].count("summary") == 1
    # Answering on after finishing early, through the last stage, makes no second summary either.
    walk_to_the_end(service, cid, REPLIES[1:])
    assert [m.kind for m in service.conversation("kari", cid).messages].count("summary") == 1


@both_databases
def test_the_export_has_each_part_once(service):  # noqa: F811
    cid = service.start("kari", "reflect").conversation_id
    walk_to_the_end(service, cid, REPLIES)
    service.finish("kari", cid)
    exported = service.export("kari", cid)
    for heading in ("## " + tr("nb", "export.summary"), "### " + tr("nb", "summary.situation"),
                    "### " + tr("nb", "summary.commitments")):
        assert exported.count(heading + "\n") == 1, heading
    assert exported.count(tr("nb", "chat.closing")) == 1
    # the participant's message, the closing turn's mirror of it, and the summary
    assert exported.count("Jeg må nok delegere mer") == 3


def test_finishing_before_writing_stores_nothing(service):  # noqa: F811
    cid = service.start("kari", "reflect").conversation_id
    turn = service.finish("kari", cid)
    assert turn.kind == "notice" and turn.text == tr("nb", "chat.nothing_yet")
    assert service.conversations("kari") == []


# -- 3. a summary worth forwarding -----------------------------------------------------------------
COMMITMENTS = [
    "Vi må få til et felles arbeidsverksted med kulturavdelingen før jul.",
    "Jeg må nok delegere mer.",
    "Jeg skal invitere næringslivet til et møte om sentrum.",
    "Etter sommeren skal vi samle planavdelingen og kulturavdelingen.",
    "Mitt neste steg er å ringe rådmannen.",
    "Jeg har bestemt meg for å si nei til flere arbeidsgrupper.",
    "Eg vil invitere næringslivet til eit møte om sentrum.",
    "Me skal lage ein felles plan for sentrum.",
    "I will talk to the mayor about the centre next week.",
    "I'm going to say no to two committees.",
    "We have decided to pilot a car-free centre.",
    "My next step is to book a workshop with the culture department.",
]
NOT_COMMITMENTS = [
    "Hvis jeg skal være ærlig, er målet mitt å overleve høsten.",
    "Men jeg vet ikke helt hvordan jeg skal håndtere det.",
    "Takk, dette var nyttig.",
    "Vi ønsker en levende by.",
    "Vi vil ha et levende sentrum, men presset på å bygge boliger er stort.",
    "Hva skal jeg gjøre med kalenderen?",
    "Jeg lurer på hvordan vi skal få det til.",
    "Jeg er redd vi må bygge på jordene.",
    "Jeg må innrømme at jeg er sliten.",
    "Kalenderen min er full.",
    "If I am honest, my goal is to get through the autumn.",
    "I am not sure how we will pay for it.",
    "I don't know what I will say to them.",
    "Thanks, that was useful.",
]


@pytest.mark.parametrize("sentence", COMMITMENTS)
def test_first_person_intentions_are_commitments(sentence):
    assert is_commitment(sentence)


@pytest.mark.parametrize("sentence", NOT_COMMITMENTS)
def test_worries_problems_questions_and_thanks_are_not(sentence):
    assert not is_commitment(sentence)


def test_the_summary_keeps_the_situation_tensions_and_commitments_in_their_words(service):  # noqa: F811
    cid = service.start("kari", "reflect").conversation_id
    walk_to_the_end(service, cid, REPLIES)
    conv = service.conversation("kari", cid)
    summary = build_summary(conv)
    assert summary.model_dump() == conv.summary_data  # stored as data with the conversation
    assert any("kommunalsjef i Tønsberg" in s for s in summary.situation)
    assert any("konflikt mellom plan og kultur" in s for s in summary.situation + summary.tensions)
    assert any("presset på å bygge boliger" in s for s in summary.tensions)
    assert summary.commitments == [
        "Vi må få til et felles arbeidsverksted med kulturavdelingen før jul.",
        "Jeg må nok delegere mer, og jeg skal si nei til to arbeidsgrupper.",
    ]
    texts = [i.text for i in summary.insights]
    assert len(texts) == len(set(texts)) and all(i.title for i in summary.insights)
    assert all(r.source for r in summary.reading)
    rendered = render_summary(summary, "en")
    assert rendered.startswith("## Summary of your reflection\n\n### Your situation")
    assert "### Tensions you named" in rendered and "### Your own commitments and next steps" in rendered


# -- 4. state as data ---------------------------------------------------------------------------------
@both_databases
def test_switching_types_stores_no_empty_conversation(service):  # noqa: F811
    for mode in ("reflect", "qa", "reflect", "qa"):
        service.start("kari", mode)
    cid = service.start("kari", "reflect").conversation_id
    service.jump("kari", cid, "skip")  # moving around before writing stores nothing either
    assert service.conversations("kari") == []
    assert journal_sql(service, "SELECT count(*) FROM conversations") == [(0,)]
    final(service.send("kari", cid, REPLIES[0]))
    (stored,) = service.conversations("kari")
    assert stored.id == cid
    kinds = [m.kind for m in service.conversation("kari", cid).messages]
    assert kinds == ["question", "message", "answer"]  # the open question it answered is kept


@both_databases
def test_state_survives_reopening_the_journal(service):  # noqa: F811
    cid = service.start("kari", "reflect").conversation_id
    final(service.send("kari", cid, REPLIES[0]))
    service.jump("kari", cid, "skip")
    before = service.conversation("kari", cid)
    reopened = Journal(service.journal.url).get("kari", cid)  # as after a restart, or on another replica
    assert reopened == before
    assert reopened.stage == "how_to_get_there" and reopened.open_question
    assert reopened.last_turn.kind == "question" and reopened.last_turn.citations
    assert safe_markdown(reopened.open_question) in reopened.last_turn.content
    asked = service._state(reopened).asked
    assert len(asked) == len(set(asked)) == 3


def test_an_older_journal_gets_kinds_and_the_finished_flag(tmp_path):
    path = tmp_path / "journal.sqlite3"
    with sqlite3.connect(path) as db:  # the schema before kinds and conversation state
        db.executescript(
            "CREATE TABLE conversations (id TEXT PRIMARY KEY, user TEXT NOT NULL, title TEXT NOT NULL, mode TEXT NOT NULL,"
            " stage TEXT, summary TEXT, created REAL NOT NULL, updated REAL NOT NULL);"
            "CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, conversation_id TEXT NOT NULL, role TEXT NOT NULL,"
            " content TEXT NOT NULL, citations TEXT NOT NULL DEFAULT '[]', stage TEXT, created REAL NOT NULL,"
            " questions TEXT NOT NULL DEFAULT '[]', insights TEXT NOT NULL DEFAULT '[]');"
        )
        db.execute("INSERT INTO conversations VALUES ('c1', 'kari', 'Gammel', 'reflect', 'where_to', '## Oppsummering', 1, 1)")
        for role, content in [("assistant", "**Hvor er vi?** Hva kjennetegner byen?"), ("user", "Byen vokser."),
                              ("assistant", "Du skriver ..."), ("assistant", "**Hvor skal vi?** Hva er målet?"),
                              ("assistant", "## Oppsummering")]:
            db.execute("INSERT INTO messages (conversation_id, role, content, created) VALUES ('c1', ?, ?, 1)", (role, content))
    conv = Journal(path).get("kari", "c1")
    assert [m.kind for m in conv.messages] == ["question", "message", "answer", "question", "summary"]
    assert conv.finished


def test_the_summary_reads_first_what_a_turn_offered_to_read_and_keeps_it_out_of_the_insights():
    from assistant.app.journal import Conversation, Message
    from assistant.core.records import Citation, Insight

    def cite(n, source, title):
        return Citation(number=n, source=source, title=title, kind="leadership", locator="", passage=f"p{n}")

    turn = Message(role="assistant", content="…", created=1.0, citations=[
        cite(1, "leadership/a.md", "Tekst A"), cite(2, "leadership/a.md", "Tekst A"), cite(3, "leadership/b.md", "Tekst B"),
    ], insights=[
        Insight(text="En setning fra A.", number=1),
        Insight(text="Drøfter hva tekst B handler om.", number=3, kind="reading"),
    ])
    conv = Conversation(id="c", user="kari", title="t", mode="reflect", created=1.0, updated=1.0,
                        messages=[Message(role="user", content="Byen min vokser.", created=0.5), turn])
    summary = build_summary(conv)
    assert [i.text for i in summary.insights] == ["En setning fra A."]
    # A is cited more often, but B is the text the turn offered to read next.
    assert [r.source for r in summary.reading] == ["leadership/b.md", "leadership/a.md"]
    # An insight stored before `kind` existed reads as a sentence.
    assert Insight.model_validate({"text": "x", "number": 1}).kind == "sentence"
