"""Chat, reflection and journal logic without Gradio (handlers are plain functions)."""

from __future__ import annotations

import sqlite3

import pytest

from assistant.core.answer import AnswerConfig, AnswerEngine
from assistant.app.chat import ChatConfig, ChatService, Forbidden, safe_filename
from assistant.app.journal import Journal, NotFound
from assistant.core.i18n import tr
from assistant.core.records import REFLECTION_STAGES
from assistant.app.reflection import ReflectionState
from assistant.core.runtime import Runtime
from assistant.core.store import ChromaStore, StoreConfig
from ingest.pipeline import sync_corpus

from .conftest import both_databases, write_doc

MARKER = "HEMMELIG-REFLEKSJON-7f3a"


@pytest.fixture
def service(settings, small_corpus, fake_embedder, database):
    """The chat over the small corpus, its journal on `database` (SQLite; both with `both_databases`)."""
    for stage in REFLECTION_STAGES[1:]:
        write_doc(
            small_corpus, f"questions/{stage}.md", f"Spørsmål {stage}",
            f"# Spørsmål\n## Tema\n- Hva betyr fasen {stage} for byen din og deg som leder?\n- Hvem i byen din bør du snakke med om {stage}?\n",
            kind="question", stage=f"[{stage}]",
        )
    s = settings.model_copy(update={"answer_min_similarity": 0.0, "answer_confident_similarity": 0.0})
    runtime = Runtime(settings=s, embedder=fake_embedder, store=ChromaStore(StoreConfig.from_settings(s)))
    sync_corpus(s, fake_embedder, runtime.store)
    engine = AnswerEngine(AnswerConfig.from_settings(s), runtime.retriever, fake_embedder)
    return ChatService(ChatConfig.from_settings(s), runtime, engine, Journal(database))


def journal_sql(service, statement: str, **params):
    """Run SQL on the service's journal, whichever database it is on (a test's way around the API)."""
    from sqlalchemy import text

    with service.journal.database.begin() as db:
        result = db.execute(text(statement), params)
        return result.all() if result.returns_rows else None


def final(turns):
    turns = list(turns)
    assert turns[-1].done
    return turns


@both_databases
def test_reflection_walks_all_stages_and_writes_a_summary(service):
    opening = service.start("kari", "reflect")
    assert opening.stage == "where_are_we" and opening.text.rstrip().endswith(")")
    assert "Hvor er vi?" in opening.text and "?" in opening.text
    cid = opening.conversation_id
    replies = [
        f"Byen min vokser raskt og jeg leder planavdelingen. {MARKER}",
        "Vi vil mot 2050-målet med mindre nedbygging av natur.",
        "Vi må samarbeide med fylkeskommunen og næringslivet om sentrum.",
        "Det krever at jeg tåler usikkerhet og leder på tvers.",
        "Jeg skal invitere næringslivet til et møte om sentrum før neste samling.",
    ]
    stages_seen = []
    for text in replies[:-1]:
        turns = final(service.send("kari", cid, text))
        stages_seen.append(next(t for t in turns if t.answer).stage)
    assert stages_seen == ["where_to", "how_to_get_there", "what_it_asks_of_me", "next_step"]
    # The answer to the last stage's question ends the reflection: a closing turn that asks
    # nothing, then one summary.
    closing, summary = final(service.send("kari", cid, replies[-1]))
    assert (closing.kind, summary.kind) == ("closing", "summary")
    assert closing.text.endswith(tr("nb", "chat.closing")) and "?" not in closing.text and closing.answer is None
    assert "invitere næringslivet" in closing.text  # it mirrors the next step
    conv = service.conversation("kari", cid)
    assert conv.finished and conv.open_question is None
    assert conv.summary == summary.text and "Jeg skal invitere næringslivet" in conv.summary
    assert "Oppsummering" in conv.summary
    assert [m.kind for m in conv.messages][-3:] == ["message", "closing", "summary"]
    exported = service.export("kari", cid)
    assert MARKER in exported and "Oppsummering" in exported


def test_a_nynorsk_reflection_is_nynorsk_from_opening_to_summary_and_export(service):
    """lang="nn" (the interface's language) reaches every text the service writes: the opening,
    the stage questions' framing, the answers, the summary, the export and the facilitator's plan.
    A nynorsk commitment ("Eg vil ...") made before the last stage is in the summary."""
    opening = service.start("kari", "reflect", lang="nn")
    assert opening.text.startswith("Velkomen til refleksjonen. Vi går gjennom fem fasar")
    assert "**Kvar er vi?**" in opening.text and "Kjelde: [1]" in opening.text
    cid = opening.conversation_id
    first = final(service.send("kari", cid, "Byen min veks, og eg leier planavdelinga.", lang="nn"))[-1]
    assert first.text.startswith("Du skriv: «Byen min veks") and "**Kjelder:**" in first.text
    assert "**Neste spørsmål (Kvar skal vi?):**" in first.text
    assert service.conversation("kari", cid).title == "Byen min veks, og eg leier planavdelinga."
    final(service.send("kari", cid, "Eg vil invitere næringslivet til eit møte om sentrum.", lang="nn"))

    summary = service.finish("kari", cid, lang="nn").text
    assert summary.startswith("## Oppsummering av refleksjonen\n\n### Situasjonen din")
    assert "### Innsikter frå materialet" in summary
    commitments = summary.split("### Dine eigne forpliktingar og neste steg")[1].split("### Tilrådd lesing")[0]
    assert "- Eg vil invitere næringslivet til eit møte om sentrum." in commitments
    exported = service.export("kari", cid, lang="nn")
    assert "**Du:**" in exported and "**Assistenten:**" in exported and "## Oppsummering" in exported

    plan = service.prepare_gathering("facilitator", "byens rolle og kommunene i piloten", gathering=1, lang="nn")
    assert plan.startswith("# Førebuing av samling: byens rolle")
    # The small corpus marks nothing for a gathering, and the plan says so in nynorsk.
    assert "Ingen av treffa er merkte for samling 1 i materialet." in plan and "*Kvar er vi?*" in plan
    assert "## Refleksjonsspørsmål til deltakarane, eitt per fase" in plan


def test_stay_skip_and_back(service):
    cid = service.start("kari", "reflect").conversation_id
    turns = final(service.send("kari", cid, "Byen min vokser.", move="stay"))
    assert turns[-1].stage == "where_are_we"
    assert service.jump("kari", cid, "skip").stage == "where_to"
    assert service.jump("kari", cid, "skip").stage == "how_to_get_there"
    assert service.jump("kari", cid, "back").stage == "where_to"
    assert service.conversation("kari", cid).stage == "where_to"


def test_reflection_questions_are_not_repeated(service):
    cid = service.start("kari", "reflect").conversation_id
    first = service.conversation("kari", cid).messages[0].content
    final(service.send("kari", cid, "Byen min vokser.", move="stay"))
    second = service.conversation("kari", cid).messages[-1].content
    q1 = [q for q in ("Hva kjennetegner byen din i dag?", "Hvilken rolle har du i byutviklingen?") if q in first]
    assert q1 and q1[0] not in second


@both_databases
def test_qa_conversation_is_saved_with_citations(service):
    cid = service.start("ola", "qa").conversation_id
    turns = final(service.send("ola", cid, "Hvilke kommuner deltok i piloten?"))
    assert "Horten" in turns[-1].text and turns[-1].answer.citations
    conv = service.conversation("ola", cid)
    assert [m.role for m in conv.messages] == ["user", "assistant"]
    assert conv.messages[1].citations[0].source == "programme/piloten.md"
    assert conv.title.startswith("Hvilke kommuner")


@both_databases
def test_users_never_see_each_others_journal(service):
    cid = service.start("kari", "reflect").conversation_id
    final(service.send("kari", cid, f"Privat tanke {MARKER}"))
    assert service.conversations("ola") == []
    for action in (
        lambda: service.conversation("ola", cid),
        lambda: service.export("ola", cid),
        lambda: service.rename("ola", cid, "kapret"),
        lambda: service.delete("ola", cid),
        lambda: list(service.send("ola", cid, "hei")),
    ):
        with pytest.raises(NotFound):
            action()
    assert service.conversation("kari", cid).title != "kapret"


@both_databases
def test_rename_delete(service):
    cid = service.start("kari", "qa").conversation_id
    final(service.send("kari", cid, "Hvilke kommuner deltok?"))
    service.rename("kari", cid, "Min samtale om sentrum")
    assert service.conversations("kari")[0].title == "Min samtale om sentrum"
    service.delete("kari", cid)
    assert service.conversations("kari") == []


def test_reflections_never_reach_the_index_or_the_logs(service, caplog):
    caplog.set_level("DEBUG")
    cid = service.start("kari", "reflect").conversation_id
    final(service.send("kari", cid, f"Dette er privat: {MARKER}"))
    chunks = service.runtime.store.all_chunks()
    assert all(MARKER not in c.text for c in chunks)
    assert MARKER not in caplog.text
    chroma_files = [p for p in service.runtime.settings.chroma_dir.rglob("*") if p.is_file()]
    assert chroma_files and all(MARKER.encode() not in p.read_bytes() for p in chroma_files)


@pytest.mark.parametrize("journal_mode", ["delete", "wal"])
def test_deleted_reflection_leaves_no_trace_in_the_database(service, journal_mode):
    """Journal.delete alone (no VACUUM here) must overwrite the text in every file SQLite keeps."""
    path = service.runtime.settings.journal_path
    db = sqlite3.connect(path)  # the mode is stored in the file; WAL keeps old pages in -wal
    assert db.execute(f"PRAGMA journal_mode = {journal_mode}").fetchone()[0] == journal_mode
    db.close()
    # Another open connection (a backup tool, a second process) stops SQLite from removing the
    # WAL file when the journal closes its own connection.
    other = sqlite3.connect(path)
    other.execute("SELECT count(*) FROM conversations").fetchall()  # now it has the file open
    try:
        kept = service.start("kari", "reflect").conversation_id
        final(service.send("kari", kept, "Behold meg BEHOLDT-TEKST-19ab"))
        cid = service.start("kari", "reflect").conversation_id
        final(service.send("kari", cid, f"Slett meg {MARKER}"))
        service.delete("kari", cid)
        files = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]
        stored = b"".join(p.read_bytes() for p in files)
        assert b"BEHOLDT-TEKST-19ab" in stored  # the text is stored as plain bytes: absence means overwritten
        leaks = [p.name for p in files if MARKER.encode() in p.read_bytes()]
        assert leaks == [], f"deleted text still in {leaks}"
    finally:
        other.close()


def test_too_long_message_is_refused_and_nothing_saved(service):
    cid = service.start("kari", "qa").conversation_id
    turns = list(service.send("kari", cid, "x" * (service.config.max_message_chars + 1)))
    assert turns[-1].error and "grensen" in turns[-1].text
    assert service.conversation("kari", cid).messages == []


def test_facilitator_only_features(service, tmp_path):
    with pytest.raises(Forbidden):
        service.prepare_gathering("participant", "regenerativ ledelse")
    doc = tmp_path / "notat.md"
    doc.write_text("# Notat\nSamlingen i Porsgrunn handlet om sirkulærøkonomi og kretsløp.", encoding="utf-8")
    with pytest.raises(Forbidden):
        service.upload("participant", [doc])
    plan = service.prepare_gathering("facilitator", "byens rolle og kommunene i piloten", gathering=1)
    assert "Relevant materiale" in plan and "Refleksjonsspørsmål" in plan and "programme/piloten.md" in plan
    report, problems = service.upload("facilitator", [doc])
    assert problems == [] and report.files_added == ["opplastet/programme/notat.md"]
    hits = service.runtime.retriever.search("sirkulærøkonomi kretsløp", k=3, mode="lexical")
    assert hits[0].chunk.meta.source == "opplastet/programme/notat.md" and hits[0].chunk.meta.kind == "programme"
    # Re-ingesting the bundled corpus must not remove the upload, and vice versa.
    again = sync_corpus(service.runtime.settings, service.runtime.embedder, service.runtime.store)
    assert again.files_removed == []


def test_upload_refuses_bad_names_types_and_sizes(service, tmp_path):
    exe = tmp_path / "virus.exe"
    exe.write_bytes(b"MZ")
    big = tmp_path / "stor.txt"
    big.write_text("ord " * 10, encoding="utf-8")
    small_limit = service.config.model_copy(update={"max_upload_mb": 0.00001})
    limited = ChatService(small_limit, service.runtime, service.engine, service.journal)
    _, problems = limited.upload("facilitator", [exe, big])
    assert any("filtypen" in p for p in problems) and any("MB" in p for p in problems)
    assert not any(service.config.uploads_dir.rglob("virus.exe"))
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("..\\..\\win.ini") == "win.ini"
    assert safe_filename(".hidden.md") == "hidden.md"


def test_an_unreadable_upload_is_not_kept_or_reported_again(service, tmp_path):
    broken = tmp_path / "ødelagt.pdf"
    broken.write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 50)
    report, problems = service.upload("facilitator", [broken])
    assert report.failed and any("ikke lagret" in p for p in problems)
    assert not any(service.config.uploads_dir.rglob("*.pdf"))
    good = tmp_path / "notat.md"
    good.write_text("# Notat\nSamlingen handlet om kretsløp.\n", encoding="utf-8")
    report, problems = service.upload("facilitator", [good])
    assert report.failed == [] and problems == []  # the earlier failure is not reported again


def test_reflection_state_moves():
    s = ReflectionState(stage_index=0)
    assert s.moved("back").stage == "where_are_we"
    assert s.moved("advance").stage == "where_to"
    assert ReflectionState(stage_index=4).moved("skip").stage == "next_step"
    assert ReflectionState(stage_index=4).finished


@both_databases
def test_participant_can_export_and_erase_everything(service, tmp_path):
    import io
    import json
    import os
    import zipfile

    cid = service.start("kari", "reflect").conversation_id
    final(service.send("kari", cid, f"Min private refleksjon {MARKER}"))
    other = service.start("ola", "qa").conversation_id
    final(service.send("ola", other, "Hvilke kommuner deltok i piloten?"))
    exported = service.export("kari", cid)
    from assistant.web.context import private_file as _private_file

    served = _private_file(service.runtime.settings, "kari", "refleksjon.md", exported)
    # Gradio keeps its own copy of a downloaded file; simulate that copy.
    gradio_copy = service.runtime.settings.data_dir / "gradio-tmp" / "abc123" / os.path.basename(served)
    gradio_copy.parent.mkdir(parents=True)
    gradio_copy.write_text(exported, encoding="utf-8")
    os.environ["GRADIO_TEMP_DIR"] = str(service.runtime.settings.data_dir / "gradio-tmp")
    try:
        seen = service.my_data("kari", "participant")
        assert [c["id"] for c in seen["conversations"]] == [cid] and seen["exported_files"]
        archive = zipfile.ZipFile(io.BytesIO(service.export_everything("kari", "participant").read_bytes()))
        names = archive.namelist()
        assert "alt.json" in names and any(n.startswith("samtaler/") and n.endswith(".md") for n in names)
        assert MARKER in json.dumps(json.loads(archive.read("alt.json")), ensure_ascii=False)

        result = service.erase_everything("kari")
        assert result["conversations"] == 1 and result["files"] >= 3
    finally:
        del os.environ["GRADIO_TEMP_DIR"]
    leftovers = [p for p in service.runtime.settings.data_dir.rglob("*") if p.is_file() and MARKER.encode() in p.read_bytes()]
    assert leftovers == []
    rows = journal_sql(service, "SELECT * FROM conversations") + journal_sql(service, "SELECT * FROM messages")
    assert rows and MARKER not in repr(rows) and "kari" not in repr(journal_sql(service, "SELECT * FROM conversations"))
    assert service.conversations("kari") == [] and len(service.conversations("ola")) == 1


@both_databases
def test_retention_deletes_old_conversations(service):
    old = service.start("kari", "qa").conversation_id
    final(service.send("kari", old, "Hvilke kommuner deltok?"))
    journal_sql(service, "UPDATE conversations SET updated = updated - 40 * 86400 WHERE id = :id", id=old)
    keep = service.config.model_copy(update={"retention_days": 30})
    retained = ChatService(keep, service.runtime, service.engine, service.journal)
    fresh = retained.start("kari", "qa").conversation_id  # starting applies retention
    final(retained.send("kari", fresh, "Hvilke kommuner deltok?"))
    assert [c.id for c in retained.conversations("kari")] == [fresh]
    assert service.config.retention_days is None  # off by default


@both_databases
def test_reflection_turns_store_their_questions_and_insights_as_data(service):
    cid = service.start("kari", "reflect").conversation_id
    final(service.send("kari", cid, "Byen min vokser, og jeg lurer på min rolle i byutviklingen.", move="stay"))
    opening, _, turn = service.conversation("kari", cid).messages
    assert opening.questions and opening.questions[0] in opening.content
    assert turn.questions and turn.questions[0] in turn.content
    assert turn.insights and all(i.text in turn.content for i in turn.insights)
    by_number = {c.number: c for c in turn.citations}
    assert all(by_number[i.number].kind != "question" for i in turn.insights)


@both_databases
def test_state_and_summary_read_the_stored_data_not_the_rendered_text(service):
    """Rewording a label or the framing cannot break the no-repeat rule or the summary."""
    cid = service.start("kari", "reflect").conversation_id
    final(service.send("kari", cid, "Byen min vokser, og jeg lurer på min rolle i byutviklingen.", move="stay"))
    conv = service.conversation("kari", cid)
    asked = [q for m in conv.messages for q in m.questions]
    insight = conv.messages[-1].insights[0].text
    journal_sql(service, "UPDATE messages SET content = 'omformulert' WHERE role = 'assistant'")  # the text no longer shows them
    assert service._state(service.conversation("kari", cid)).asked == asked
    summary = service.finish("kari", cid).text
    assert insight in summary


def test_an_older_journal_gets_the_new_columns_filled_from_its_text(tmp_path):
    path = tmp_path / "journal.sqlite3"
    with sqlite3.connect(path) as db:  # the schema before questions and insights were stored
        db.executescript(
            "CREATE TABLE conversations (id TEXT PRIMARY KEY, user TEXT NOT NULL, title TEXT NOT NULL, mode TEXT NOT NULL,"
            " stage TEXT, summary TEXT, created REAL NOT NULL, updated REAL NOT NULL);"
            "CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, conversation_id TEXT NOT NULL, role TEXT NOT NULL,"
            " content TEXT NOT NULL, citations TEXT NOT NULL DEFAULT '[]', stage TEXT, created REAL NOT NULL);"
        )
        db.execute("INSERT INTO conversations VALUES ('c1', 'kari', 'Gammel', 'reflect', 'where_to', NULL, 1, 1)")
        citations = ('[{"number": 1, "source": "a.md", "title": "A", "kind": "programme", "locator": "", "passage": "p"},'
                     ' {"number": 2, "source": "q.md", "title": "Q", "kind": "question", "locator": "", "passage": "p"}]')
        content = ("Du skriver: «Byen vokser»\n\nFra materialet:\n\nKommunen har planmyndighet over arealene. [1]\n\n"
                   "**Neste spørsmål (Hvor skal vi?):** Hva er et godt resultat for byen? [2]\n\n**Kilder:**\n[1] A (a.md)")
        db.execute("INSERT INTO messages (conversation_id, role, content, citations, stage, created) VALUES ('c1', 'assistant', ?, ?, 'where_to', 1)",
                   (content, citations))
    message = Journal(path).get("kari", "c1").messages[0]
    assert message.questions == ["Hva er et godt resultat for byen?"]
    assert [(i.text, i.number) for i in message.insights] == [("Kommunen har planmyndighet over arealene.", 1)]
    assert Journal(path).get("kari", "c1").messages[0] == message  # opening it again changes nothing


# --- a facilitator's preparation (assistant/app/facilitator.py) ------------------------------------


def _add_and_index(service, *docs) -> None:
    for rel, title, body, front in docs:
        write_doc(service.runtime.settings.corpus_dir, rel, title, body, **front)
    sync_corpus(service.runtime.settings, service.runtime.embedder, service.runtime.store)
    service.runtime.retriever.invalidate()


def test_preparation_ranks_discussion_questions_by_the_theme_not_by_their_document(service):
    """The national-policy document repeats the theme in its introduction, so a search finds it
    first; its questions are about something else. The questions that are about the theme sit in
    a stage's question document, and they lead."""
    _add_and_index(service, (
        "questions/drofting-staten.md", "Drøfting for staten om arealpolitikken",
        "# Drøfting for staten\n## Arealpolitikken og målkonflikter nasjonalt\n"
        "Målkonflikter i arealpolitikken er et nasjonalt tema. Arealpolitikken og målkonflikter drøftes av staten.\n\n"
        "- Hvordan kan departementene samordne statlige tilskudd bedre?\n"
        "- Hvilke nasjonale rammebetingelser hindrer kommunale ledere i dag?\n"
        "- Hva bør staten gjøre med et landsdekkende kompetanseprogram?\n",
        {"kind": "question"},
    ), (
        "questions/refleksjon-veivalg.md", "Veivalg",
        "# Veivalg\n## Byen\n- Hvilke målkonflikter i arealpolitikken i kommunen din er vanskeligst nå?\n"
        "- Hvordan gjør dere målkonflikter i arealpolitikken synlige for politikerne?\n",
        {"kind": "question", "stage": "[how_to_get_there]"},
    ))
    plan = service.prepare_gathering("facilitator", "målkonflikter i arealpolitikken")
    discussion = plan.split("## Drøftingsspørsmål")[1].split("## Refleksjonsspørsmål")[0]
    lines = [line for line in discussion.splitlines() if line.startswith("- ")]
    assert "arealpolitikken" in lines[0] and "målkonflikter" in lines[0], lines
    assert sum("arealpolitikken" in line for line in lines[:2]) == 2, lines
    reflection = plan.split("## Refleksjonsspørsmål")[1]
    assert not any(line[2:].split(" (")[0] in reflection for line in lines)  # no question twice in the plan


def test_preparation_marks_the_gatherings_material_and_lists_it_first(service):
    _add_and_index(service, (
        "programme/samling-tre.md", "Arealnøytralitet i piloten",
        "# Arealnøytralitet\n## Arealregnskap\nEt arealregnskap viser hvor mye natur byen bygger ned. Piloten drøftet arealnøytralitet.\n",
        {"kind": "programme", "gathering": "[3]"},
    ))
    plan = service.prepare_gathering("facilitator", "piloten og arealnøytralitet", gathering=3)
    material = [line for line in plan.split("## Relevant materiale")[1].split("##")[0].splitlines() if line.startswith("- ")]
    assert "Materiale som er foreslått for samling 3, står først." in plan
    assert material[0].startswith("- (samling 3) **Arealnøytralitet i piloten**"), material
    assert all("(samling 3)" not in line for line in material[1:]), material  # only what the material marks
    elsewhere = service.prepare_gathering("facilitator", "piloten og arealnøytralitet", gathering=5, lang="en")
    assert "None of the matches is marked for gathering 5" in elsewhere and "(gathering 5)" not in elsewhere


def test_snippets_end_at_a_sentence_boundary():
    from assistant.app.facilitator import snippet

    text = ("Kommunen samler mål fra mange kanter, og hvert mål er godt begrunnet. " * 3
            + "Den siste setningen er lang nok til at den ikke får plass i utdraget, fordi den strekker seg langt forbi grensen.")
    shown = snippet(text, limit=200)
    assert shown.endswith("begrunnet. …") and len(shown) <= 200 + 2
    assert "strek" not in shown
    # A first sentence far over the limit is cut after a whole word.
    long = "Ord " * 200 + "slutt."
    assert snippet(long, limit=100).endswith("Ord …")
    # Markdown lists and emphasis read as plain sentences, a heading is left out, an initial is no end.
    listed = "## Metoder\n- **Arealregnskap:** En oversikt gjør arealnøytralitet målbart.\n- Forskning av Tom R. Tyler viser det."
    assert snippet(listed) == "Arealregnskap: En oversikt gjør arealnøytralitet målbart. Forskning av Tom R. Tyler viser det."


def test_a_journal_database_that_goes_away_is_a_notice_in_the_chat_and_comes_back(service, tmp_path):
    """PostgreSQL stopped mid-conversation: the turn ends with the database's message as a notice
    (nothing half-stored); after the server is back, the same service carries on."""
    from tests.postgres import PostgresUnavailable, fresh_database, postgres_required, start_server

    try:
        server = start_server(tmp_path)  # its own server: stopping it disturbs no other test
    except PostgresUnavailable as exc:
        if postgres_required():
            pytest.fail(f"PostgreSQL is required here but did not start: {exc}")
        pytest.skip(str(exc))
    try:
        on_server = ChatService(service.config, service.runtime, service.engine, Journal(fresh_database(server.url)))
        cid = on_server.start("kari", "qa").conversation_id
        final(on_server.send("kari", cid, "Hvilke kommuner deltok i piloten?"))
        server.stop()
        (turn,) = final(on_server.send("kari", cid, "Hvor mange samlinger var det?"))
        assert turn.kind == "notice" and turn.error and "Dagboken er ikke tilgjengelig" in turn.text
        server.start()
        turns = final(on_server.send("kari", cid, "Hvor mange samlinger var det?"))
        assert "fem" in turns[-1].text and not turns[-1].error
        conv = on_server.conversation("kari", cid)
        assert [m.role for m in conv.messages] == ["user", "assistant", "user", "assistant"]
    finally:
        server.remove()
