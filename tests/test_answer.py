"""The answer engine: unit tests with fakes, and the default backend on the bundled corpus."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assistant.core.answer import AnswerConfig, AnswerEngine
from assistant.core.compose import check_citations
from assistant.core.verify import strip_markup_and_leaks
from assistant.core.llm import ChatMessage
from assistant.core.prompts import PromptError, render, render_sources
from assistant.core.retrieval import RetrievalConfig, Retriever
from assistant.core.safety import InputRejected, clean_user_text, safe_markdown
from evals.cases import load_cases
from evals.metrics import answer_body
from ingest.pipeline import sync_corpus

from .fakes import FakeChatModel

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture
def engine_parts(settings, small_corpus, fake_embedder, memory_store):
    s = settings.model_copy(update={"answer_min_similarity": 0.0, "answer_confident_similarity": 0.0})
    sync_corpus(s, fake_embedder, memory_store)
    return s, Retriever(RetrievalConfig.from_settings(s), memory_store, fake_embedder), fake_embedder


def test_extractive_answer_cites_the_source(engine_parts):
    s, retriever, embedder = engine_parts
    answer = AnswerEngine(AnswerConfig.from_settings(s), retriever, embedder).answer("Hvilke kommuner deltok i piloten?")
    assert not answer.refused and answer.backend == "extractive"
    assert "Horten, Larvik, Porsgrunn og Tønsberg" in answer.text
    assert re.search(r"Tønsberg[^\n]*\[1\]", answer.text)
    assert answer.citations[0].source == "programme/piloten.md"
    assert answer.citations[0].locator == "Kommunene"
    assert "Kilder" in answer.text and answer.cited_sentences == answer.sentences > 0


def test_refusal_calls_no_model_and_speaks_the_question_language(engine_parts):
    s, retriever, embedder = engine_parts
    strict = s.model_copy(update={"answer_min_similarity": 0.999})
    model = FakeChatModel("skal ikke brukes")
    engine = AnswerEngine(AnswerConfig.from_settings(strict), retriever, embedder, model)
    nb = engine.answer("Hva er hovedstaden i Frankrike?")
    assert nb.refused and "finner ikke" in nb.text and model.calls == []
    en = engine.answer("What is the capital of France?")
    assert en.refused and en.language == "en" and "cannot find" in en.text and model.calls == []


def test_model_answer_is_checked_and_made_safe(engine_parts):
    s, retriever, embedder = engine_parts
    system = render(s.prompts_dir, "system", "nb", language="bokmål")
    # A rule line without markup or citation marks: escaping and the citation check leave it
    # as it is, so only the leak check (assistant/core/verify.py) can take it out of the answer.
    leaked = next(line for line in system.splitlines() if line.startswith("3. "))
    assert len(leaked) >= 30 and not re.search(r"[<>\[\]&*_`]", leaked) and safe_markdown(leaked) == leaked
    reply = (
        "Horten, Larvik, Porsgrunn og Tønsberg deltok i piloten [1]. Hver kommune stilte med fire til fem ledere [1]. "
        "Piloten hadde tolv byer [7].\n"
        f"{leaked} ![bilde](http://evil.example/x.png) <script>alert(1)</script> Se [her](http://evil.example) [1]."
    )
    model = FakeChatModel(reply)
    answer = AnswerEngine(AnswerConfig.from_settings(s), retriever, embedder, model).answer("Hvilke kommuner deltok i piloten?")
    assert answer.removed_citations == (7,) and not answer.fallback
    assert "[7]" not in answer.text and "[1]" in answer.text and "tolv" not in answer.text
    assert "evil.example" not in answer.text and "<script>" not in answer.text
    assert leaked not in answer.text
    assert [c.number for c in answer.citations] == [1]
    assert answer.verified_share == 0.5 and any("tolv" in u for u in answer.unverified)
    sent = model.calls[0]
    assert sent[0].role == "system" and "instrukser" in sent[0].content
    assert '<kilde nr="1"' in sent[1].content and "Hvilke kommuner deltok i piloten?" in sent[1].content


def test_model_failure_becomes_a_clear_error(engine_parts):
    s, retriever, embedder = engine_parts
    model = FakeChatModel(error="Språkmodellen svarer ikke.")
    answer = AnswerEngine(AnswerConfig.from_settings(s), retriever, embedder, model).answer("Hvilke kommuner deltok i piloten?")
    assert answer.error == "Språkmodellen svarer ikke." and not answer.citations


def test_follow_up_uses_the_conversation(engine_parts):
    s, retriever, embedder = engine_parts
    history = [ChatMessage("user", "Hvor mange samlinger hadde piloten?"), ChatMessage("assistant", "Fem.")]
    engine = AnswerEngine(AnswerConfig.from_settings(s), retriever, embedder)
    assert engine.rewriter.rewrite("Og hvem deltok?", history, "nb") == "Hvor mange samlinger hadde piloten? Og hvem deltok?"
    model = FakeChatModel("Hvilke kommuner deltok i piloten")
    with_model = AnswerEngine(AnswerConfig.from_settings(s), retriever, embedder, model)
    assert with_model.rewriter.rewrite("Og hvem deltok?", history, "nb") == "Hvilke kommuner deltok i piloten"
    assert "Hvor mange samlinger" in model.calls[0][0].content


def test_reflect_mode_mirrors_and_asks_a_stage_question(engine_parts):
    s, retriever, embedder = engine_parts
    answer = AnswerEngine(AnswerConfig.from_settings(s), retriever, embedder).answer(
        "Byen min vokser, og jeg lurer på min rolle i byutviklingen.", mode="reflect", stage="where_are_we"
    )
    assert answer.text.startswith("Du skriver: «Byen min vokser")
    assert answer.reflection_questions and answer.reflection_questions[0].endswith("?")
    assert answer.reflection_questions[0] in {"Hva kjennetegner byen din i dag?", "Hvilken rolle har du i byutviklingen?"}
    assert any(c.source == "questions/refleksjon.md" for c in answer.citations)


def test_reflection_asks_in_the_participants_language_where_the_bank_has_it(settings, small_corpus, fake_embedder, memory_store):
    """An English participant is asked the stage's English questions, a bokmål one the bokmål
    questions; with no English questions for a stage, the bokmål ones are asked (never none)."""
    from .conftest import write_doc

    s = settings.model_copy(update={"answer_min_similarity": 0.0, "answer_confident_similarity": 0.0})
    write_doc(settings.corpus_dir, "questions/reflection.md", "Reflection", """
        # Reflection
        ## The situation
        - What marks your town today?
        - What role do you have in the town's development?
        """, kind="question", stage="[where_are_we]", language="en")
    sync_corpus(s, fake_embedder, memory_store)
    engine = AnswerEngine(AnswerConfig.from_settings(s), Retriever(RetrievalConfig.from_settings(s), memory_store, fake_embedder), fake_embedder)
    english = {"What marks your town today?", "What role do you have in the town's development?"}
    bokmal = {"Hva kjennetegner byen din i dag?", "Hvilken rolle har du i byutviklingen?"}

    # Written in English, but with the bokmål questions' words: the bokmål ones would fit it best.
    en = engine.answer("I wonder what kjennetegner byen din i dag, and what my rolle in byutviklingen is.", mode="reflect", stage="where_are_we")
    assert en.language == "en" and en.reflection_questions[0] in english
    nb = engine.answer("Byen min vokser, og jeg lurer på min rolle i byutviklingen.", mode="reflect", stage="where_are_we")
    assert nb.reflection_questions[0] in bokmal
    # Both languages' questions stay in the bank for other uses (a stage with no English questions falls back).
    assert {q for q, _ in engine.reflection_questions("role", stage="where_are_we", n=4)} == english | bokmal
    assert engine.reflection_questions("role", stage="where_are_we", n=2, language="en")[0][0] in english
    assert engine.reflection_questions("rolle", stage="where_are_we", n=2, language="de")[0][0] in english | bokmal


def test_nynorsk_interface_gets_nynorsk_framing_and_the_material_as_written(engine_parts):
    """With the nynorsk interface (language="nn") the engine's own words are nynorsk: sources
    heading, "the material does not say", the nearest material, refusals and the reflection's
    framing. The material's sentences and the citations are the same as in bokmål."""
    from assistant.core.i18n import CATALOGUE

    s, retriever, embedder = engine_parts
    engine = AnswerEngine(AnswerConfig.from_settings(s), retriever, embedder)
    bokmal_framing = [text for key, text in CATALOGUE["nb"].items()
                      if key.startswith(("answer.", "stage.")) and text and text != CATALOGUE["nn"][key]]

    answer = engine.answer("Kva kommunar deltok i piloten?", language="nn")
    assert answer.language == "nn" and not answer.refused
    assert "Horten, Larvik, Porsgrunn og Tønsberg deltok i piloten med fire til fem ledere hver. [1]" in answer.text
    assert "**Kjelder:**" in answer.text and "**Kilder:**" not in answer.text

    nb = engine.answer("Hvor mange innbyggere har Horten?", language="nb")
    nn = engine.answer("Hvor mange innbyggere har Horten?", language="nn")
    assert nb.declined and nn.declined and nn.citations == nb.citations
    assert nb.text.startswith("Materialet oppgir ikke folketall.")
    assert nn.text.startswith("Materialet oppgir ikkje folketal.\n\nDet næraste materialet seier:")
    assert [t for t in bokmal_framing if t in nn.text] == []

    reflection = engine.answer("Byen min veks, og eg lurer på rolla mi i byutviklinga.", mode="reflect",
                               stage="where_are_we", language="nn")
    assert reflection.text.startswith("Du skriv: «Byen min veks, og eg lurer på rolla mi i byutviklinga»")
    assert "Frå materialet:" in reflection.text and "**Neste spørsmål (Kvar er vi?):**" in reflection.text
    assert reflection.reflection_questions[0] in {"Hva kjennetegner byen din i dag?", "Hvilken rolle har du i byutviklingen?"}
    assert [t for t in bokmal_framing if t in reflection.text] == []

    strict = AnswerEngine(AnswerConfig.from_settings(s.model_copy(update={"answer_min_similarity": 0.999})), retriever, embedder)
    refused = strict.answer("Kva er hovudstaden i Frankrike?", language="nn")
    assert refused.refused and refused.text.startswith("Eg finn ikkje noko om dette i programmaterialet")


def test_a_model_in_the_nynorsk_interface_is_asked_for_nynorsk_with_the_bokmal_prompt(engine_parts):
    """There are no nynorsk prompt files: nynorsk gets bokmål's, whose sources are <kilde>, and
    is asked to answer in nynorsk."""
    s, retriever, embedder = engine_parts
    model = FakeChatModel("Horten, Larvik, Porsgrunn og Tønsberg deltok i piloten [1].")
    engine = AnswerEngine(AnswerConfig.from_settings(s), retriever, embedder, model)
    answer = engine.answer("Kva kommunar deltok i piloten?", language="nn")
    system, user = model.calls[0][0].content, model.calls[0][1].content
    assert "Svar på nynorsk." in system and '<kilde nr="1"' in user and "<source" not in user
    assert answer.language == "nn" and "**Kjelder:**" in answer.text


def test_check_citations_and_prompt_leak():
    text, used, removed = check_citations("A [1]. B [2]. C [9].", 2)
    assert used == {1, 2} and removed == [9] and "[9]" not in text
    # A line the model copied from the prompt is dropped (assistant/core/verify.py, which replaced the
    # exact-substring strip_prompt_leak); the answer's own line stays.
    assert strip_markup_and_leaks("Svar.\nDu er en hemmelig assistent med mange regler.", ["Du er en hemmelig assistent med mange regler."]) == "Svar."


def test_safe_markdown_makes_no_clickable_link():
    allowed = {"https://www.ks.no/prosjekt"}
    out = safe_markdown(
        "[KS](https://www.ks.no/prosjekt) og [x](http://evil.example) <img src=x onerror=alert(1)> "
        "Se https://www.ks.no/prosjekt og <https://evil.example/a>",
        allowed,
    )
    assert out.count("`https://www.ks.no/prosjekt`") == 2 and "](" not in out
    assert "evil.example" not in out and "<img" not in out
    assert "javascript" not in safe_markdown("[klikk](javascript:alert(1)) javascript:alert(2)")


def test_user_text_limits():
    assert clean_user_text("  Hei\x00\x07 der\n") == "Hei der"
    with pytest.raises(InputRejected, match="grensen"):
        clean_user_text("x" * 5000)
    with pytest.raises(InputRejected, match="tom"):
        clean_user_text("\x00 ")
    # In the interface's language, not always bokmål.
    with pytest.raises(InputRejected, match="the limit is 4 000"):
        clean_user_text("x" * 5000, 4000, "en")
    with pytest.raises(InputRejected, match="Meldinga er tom"):
        clean_user_text(" ", 4000, "nn")


def test_prompts_render_strictly(settings):
    with pytest.raises(PromptError, match="missing"):
        render(settings.prompts_dir, "answer", "nb", question="Hei")
    with pytest.raises(PromptError, match="unexpected"):
        render(settings.prompts_dir, "answer", "nb", question="Hei", sources="x", extra="y")


@pytest.mark.parametrize("lang", ["nb", "en"])
def test_prompt_golden_files(settings, lang):
    sources = render_sources([(1, "Om piloten", "Kommunene", "Horten <b>og</b> Larvik deltok.")], lang)
    rendered = {
        "system": render(settings.prompts_dir, "system", lang, language="bokmål" if lang == "nb" else "English"),
        "answer": render(settings.prompts_dir, "answer", lang, sources=sources, question="Hvem deltok?"),
        "condense": render(settings.prompts_dir, "condense", lang, history="user: Hei", question="Og så?"),
        "reflect": render(
            settings.prompts_dir, "reflect", lang, stage="Hvor er vi?", sources=sources, question="Byen vokser.",
            next_question="Hva kjennetegner byen din?",
        ),
    }
    for name, text in rendered.items():
        golden = GOLDEN / f"{name}.{lang}.txt"
        assert text == golden.read_text(encoding="utf-8"), f"{golden} differs; review and regenerate"
    assert "&lt;b&gt;" in rendered["answer"]  # source markup is data, escaped


# --- the default backend on the bundled corpus ------------------------------------------------


def _contains(text: str, fact: str) -> bool:
    norm = lambda s: re.sub(r"\s+", " ", s.casefold().replace("–", "-"))  # noqa: E731
    return norm(fact) in norm(text)


@pytest.fixture(scope="module")
def bundled_engine(bundled_runtime):
    return AnswerEngine(AnswerConfig.from_settings(bundled_runtime.settings), bundled_runtime.retriever, bundled_runtime.embedder)


@pytest.mark.integration
def test_fact_questions_answered_with_fact_and_citation(bundled_engine):
    passed = {"nb": 0, "en": 0}
    for case in load_cases():
        if case.type != "fact" or case.history:
            continue
        answer = bundled_engine.answer(case.question)
        cited = {c.source for c in answer.citations}
        # Only the answer's own text counts: a fact in a cited document's title in the source
        # list is not an answer (measured: the source list alone satisfied 15 of the 58 cases).
        body = answer_body(answer.body)
        has_fact = sum(_contains(body, f) for f in case.facts) >= max(1, len(case.facts) // 2)
        if not answer.refused and has_fact and cited & set(case.documents):
            passed[case.language] += 1
    assert passed["nb"] + passed["en"] >= 30, passed
    assert passed["en"] >= 8, passed


@pytest.mark.integration
def test_out_of_scope_questions_are_refused(bundled_engine):
    must_refuse = [
        # None of these is an eval case: the out-of-scope cases are the eval's to measure.
        "Hvordan baker jeg surdeigsbrød?",
        "Hva er hovedstaden i Peru?",
        "Hvor høy er Galdhøpiggen?",
        "Who wrote the novel Hunger?",
        "What is the boiling point of water?",
        "Hvem vant Tour de France i 2019?",
    ]
    for question in must_refuse:
        answer = bundled_engine.answer(question)
        assert answer.refused, question
        assert answer.backend == "none"


@pytest.mark.integration
def test_english_question_gets_english_framing(bundled_engine):
    answer = bundled_engine.answer("Which towns took part in the pilot?")
    first_line = answer.text.splitlines()[0]
    # The answer leads with the sentence that answers, from the English source, in English framing.
    assert answer.language == "en" and "**Sources:**" in answer.text and "**Kilder:**" not in answer.text
    assert all(t in first_line for t in ("Horten", "Larvik", "Porsgrunn", "Tønsberg")), first_line


@pytest.mark.integration
def test_pdf_answers_cite_the_page(bundled_engine):
    answer = bundled_engine.answer("Hva sier læringspunktet om teoretiske modeller for omstilling?")
    pdf = [c for c in answer.citations if c.source.endswith(".pdf")]
    assert pdf and pdf[0].page is not None and pdf[0].locator == f"side {pdf[0].page}"


@pytest.mark.integration
def test_answers_lead_with_the_fact_and_say_what_the_material_does_not_cover(bundled_engine):
    """The issue's examples, asked in other words than the eval cases."""
    organisers = bundled_engine.answer("Hvem var arrangørene av piloten?")
    lead = organisers.body.split("\n\n")[0]
    assert not organisers.declined and all(x in lead for x in ("KS Konsulent", "Vestfold og Telemark")), lead
    gatherings = bundled_engine.answer("Hvor mange samlinger hadde piloten?")
    assert not (gatherings.refused or gatherings.declined) and "fem" in gatherings.body.split("\n")[0].lower()
    for question, start in (("Hvor stort var budsjettet til piloten?", "Materialet "), ("What did the pilot cost?", "The material ")):
        answer = bundled_engine.answer(question)
        # Refused outright, or: "the material does not say", then the nearest material with its source.
        assert answer.refused or (answer.declined and answer.body.startswith(start) and answer.citations), answer.text
    declined = bundled_engine.answer("What did the pilot cost?")
    assert declined.declined and declined.body.startswith("The material gives no amount"), declined.text
    # The size of a sum ("hvor stort", "how big") asks for an amount; "stort" is not what is missing.
    for question, start in (("Hvor stort var budsjettet til pilotprogrammet?", "Materialet oppgir ingen beløp"),
                            ("How big was the budget of the pilot?", "The material gives no amount")):
        sized = bundled_engine.answer(question)
        assert sized.refused or (sized.declined and sized.body.startswith(start)), sized.text
    # "municipalities" is not the material's word ("towns"): the named instances lead all the same.
    towns = bundled_engine.answer("Which municipalities were part of the pilot?")
    first = towns.body.split("\n")[0]
    assert all(t in first for t in ("Horten", "Larvik", "Porsgrunn", "Tønsberg")), towns.text


def test_reflect_mode_mirrors_the_concern_not_the_introduction(engine_parts):
    s, retriever, embedder = engine_parts
    answer = AnswerEngine(AnswerConfig.from_settings(s), retriever, embedder).answer(
        "Jeg er plansjef i Horten. Byen vokser, men jeg er usikker på min rolle i byutviklingen.",
        mode="reflect", stage="where_are_we",
    )
    assert answer.text.startswith("Du skriver: «Byen vokser, men jeg er usikker på min rolle i byutviklingen»")


def test_a_stream_gives_the_text_then_the_answer_for_every_backend(engine_parts):
    s, retriever, embedder = engine_parts
    for model in (None, FakeChatModel("Horten, Larvik, Porsgrunn og Tønsberg deltok i piloten [1].")):
        response = AnswerEngine(AnswerConfig.from_settings(s), retriever, embedder, model).stream("Hvilke kommuner deltok i piloten?")
        pieces = list(response)
        assert pieces and all(isinstance(p, str) for p in pieces)
        assert "".join(pieces).strip() == response.answer.text.strip() and "Tønsberg" in response.answer.text
    # Asking for the answer first runs the rest without showing it.
    extractive = AnswerEngine(AnswerConfig.from_settings(s), retriever, embedder)
    assert "Tønsberg" in extractive.stream("Hvilke kommuner deltok i piloten?").answer.text


def test_every_answer_text_is_rendered_text_safe_source_list_included():
    """One render function puts every answer together (assistant/core/render.py): a document's
    title in the source list becomes no link or image either."""
    from assistant.core.records import Citation
    from assistant.core.render import render_text

    hostile = Citation(number=1, source="programme/x.md", kind="programme", locator="", passage="p",
                       title="[Klikk her](http://evil.example) ![](http://evil.example/spy.png)")
    text = render_text(["Horten deltok. [1]", ""], [hostile], "en")
    assert text.startswith("Horten deltok. [1]\n\n**Sources:**") and "Klikk her" in text
    assert "](http" not in text and "<img" not in text
    assert render_text(["Ingen kilder."], [], "nb") == "Ingen kilder."


def test_reflection_never_shows_an_insight_twice_in_a_conversation(engine_parts):
    s, retriever, embedder = engine_parts
    engine = AnswerEngine(AnswerConfig.from_settings(s), retriever, embedder)
    message = "Byen min vokser, og jeg lurer på hvordan regenerativ ledelse kan fornye natur og fellesskap."
    first = engine.answer(message, mode="reflect", stage="where_are_we")
    assert first.insights
    # The same message again, without what was shown: the same insights come back.
    assert [i.text for i in engine.answer(message, mode="reflect", stage="where_are_we").insights] == [i.text for i in first.insights]
    shown = [i.text for i in first.insights]
    second = engine.answer(message, mode="reflect", stage="where_are_we", shown=shown)
    assert not {i.text for i in second.insights} & set(shown)
    # Told apart as read, not as typed: case, spacing and a citation mark do not make one new.
    retyped = [f"  {t.upper()} [3]" for t in shown]
    again = engine.answer(message, mode="reflect", stage="where_are_we", shown=retyped)
    assert not {i.text for i in again.insights} & set(shown)
    # Every insight comes with its source.
    numbers = {c.number for c in second.citations}
    assert all(i.number in numbers for i in second.insights)


def test_a_reflection_points_to_the_text_its_first_insight_came_from_once(settings, small_corpus, fake_embedder, memory_store):
    """A document's summary is offered as what to read next (it names the text's key ideas, which
    the sentence nearest to the participant's words seldom does): cited, stored as data, not
    offered again in the same conversation, and never when it is missing or too long to read in
    passing. A hostile summary (a PDF's subject field) renders no link."""
    from .conftest import write_doc

    summary = "Drøfter hvordan ledere kan fornye natur og fellesskap, med vekt på tillit og forvalterskap."
    write_doc(small_corpus, "leadership/regenerativ.md", "Regenerativ ledelse", """
        # Regenerativ ledelse
        Regenerativ ledelse ser organisasjonen og byen som levende systemer.
        ## Fra uttak til fornyelse
        Ledere går fra en praksis som tar ut verdier til en praksis som fornyer natur og fellesskap.
        """, summary=f'"{summary}"')
    s = settings.model_copy(update={"answer_min_similarity": 0.0, "answer_confident_similarity": 0.0})
    sync_corpus(s, fake_embedder, memory_store)
    engine = AnswerEngine(AnswerConfig.from_settings(s), Retriever(RetrievalConfig.from_settings(s), memory_store, fake_embedder), fake_embedder)
    message = "Byen min vokser, og jeg lurer på hvordan regenerativ ledelse kan fornye natur og fellesskap."

    first = engine.answer(message, mode="reflect", stage="where_are_we")
    reading = [i for i in first.insights if i.kind == "reading"]
    assert [i.text for i in reading] == [summary]
    cited = {c.number: c for c in first.citations}
    assert cited[reading[0].number].source == "leadership/regenerativ.md"
    # Its source shows the summary itself: every number and name the line gives is in what it cites.
    assert cited[reading[0].number].passage == summary
    assert f"**Les videre:** «Regenerativ ledelse»: {summary} [{reading[0].number}]" in first.text
    # Before the next question, which stays last.
    assert first.text.index("Les videre") < first.text.index("Neste spørsmål")

    # Pointed to once: the same sentences may come back, the pointer does not.
    again = engine.answer(message, mode="reflect", stage="where_are_we", shown=[f"{summary.upper()} [2]"])
    assert [i.text for i in again.insights if i.kind == "sentence"] == [i.text for i in first.insights if i.kind == "sentence"]
    assert not [i for i in again.insights if i.kind == "reading"] and "Les videre" not in again.text

    english = engine.answer(message, mode="reflect", stage="where_are_we", language="en")
    assert "**Read further:** «Regenerativ ledelse»" in english.text

    for long_or_hostile in (" ".join(["ord"] * 61), "Les [dette](http://evil.example) ![](http://evil.example/x.png) nå."):
        write_doc(small_corpus, "leadership/regenerativ.md", "Regenerativ ledelse", """
            # Regenerativ ledelse
            Regenerativ ledelse ser organisasjonen og byen som levende systemer.
            """, summary=f'"{long_or_hostile}"')
        sync_corpus(s, fake_embedder, memory_store)
        engine.retriever.invalidate()
        answer = engine.answer(message, mode="reflect", stage="where_are_we")
        assert "](http" not in answer.text and "<img" not in answer.text
        if long_or_hostile.startswith("ord"):
            assert "Les videre" not in answer.text and not [i for i in answer.insights if i.kind == "reading"]
        else:
            assert "Les videre" in answer.text and "dette" in answer.text

    # Text written for the assistant (proposals, questions) is no further reading.
    write_doc(small_corpus, "leadership/regenerativ.md", "Regenerativ ledelse", """
        # Regenerativ ledelse
        Regenerativ ledelse ser organisasjonen og byen som levende systemer.
        ## Fra uttak til fornyelse
        Ledere går fra en praksis som tar ut verdier til en praksis som fornyer natur og fellesskap.
        """, summary=f'"{summary}"', provenance="assistant")
    sync_corpus(s, fake_embedder, memory_store)
    engine.retriever.invalidate()
    answer = engine.answer(message, mode="reflect", stage="where_are_we")
    assert [i for i in answer.insights if i.kind == "sentence"] and "Les videre" not in answer.text


def test_a_reflection_is_not_matched_on_the_town_it_happens_in(settings, small_corpus, fake_embedder, memory_store):
    """"I Porsgrunn …" says where the participant works: the sentence that lists the programme's
    towns shares that rare word but says nothing to the concern, so a reflection's sentences are
    scored without the places its message names as its setting (`concern.places`)."""
    from assistant.core.concern import places
    from assistant.core.scoring import SentenceScorer

    from .conftest import write_doc

    write_doc(small_corpus, "leadership/helheten.md", "Når ingen eier helheten", """
        # Når ingen eier helheten
        Lederen må bygge tillit mellom fagfolkene.
        """)
    s = settings.model_copy(update={"answer_min_similarity": 0.0, "answer_confident_similarity": 0.0})
    sync_corpus(s, fake_embedder, memory_store)
    retriever = Retriever(RetrievalConfig.from_settings(s), memory_store, fake_embedder)
    message = "I Porsgrunn vet jeg ikke hvordan jeg skal bygge tillit mellom fagfolkene."
    assert places(message) == {"Porsgrunn"}
    assert places("Jeg har lest Scharmer og lurer på hva Theory U betyr her.") == frozenset()  # names, no setting

    hits = retriever.search(message, k=5)
    scorer = SentenceScorer(retriever, fake_embedder)
    towns = lambda units: next(u for u in units if u.text.startswith("Horten, Larvik"))  # noqa: E731
    assert towns(scorer.candidates(message, hits)[0]).lexical > 0
    assert towns(scorer.candidates(message, hits, setting=places(message))[0]).lexical == 0

    # The engine scores a reflection without its setting; a question keeps every word.
    engine = AnswerEngine(AnswerConfig.from_settings(s), retriever, fake_embedder)
    settings_seen = []
    real = engine.scorer.candidates
    engine.scorer.candidates = lambda *a, **kw: settings_seen.append(kw.get("setting", frozenset())) or real(*a, **kw)
    engine.answer(message, mode="reflect", stage="where_are_we")
    engine.answer("Hvilke kommuner i Vestfold deltok?", mode="qa")
    assert settings_seen == [{"Porsgrunn"}, frozenset()]


def test_a_document_that_says_it_covers_the_question_is_not_declined(settings, small_corpus, fake_embedder, memory_store):
    """"Dette dokumentet beskriver … hvorfor en pilot ble valgt" is no answer to quote, but it shows
    the material speaks of the choice: the question's verb ("valgte") is not missing from it."""
    from .conftest import write_doc

    write_doc(small_corpus, "programme/maal.md", "Mål for piloten", """
        # Mål for piloten
        Piloten var et forsøk som skulle gi grunnlag for en senere beslutning. Dette dokumentet beskriver hvorfor en pilot ble valgt som arbeidsform.
        """, kind="programme")
    s = settings.model_copy(update={"answer_min_similarity": 0.0, "answer_confident_similarity": 0.0})
    sync_corpus(s, fake_embedder, memory_store)
    engine = AnswerEngine(AnswerConfig.from_settings(s), Retriever(RetrievalConfig.from_settings(s), memory_store, fake_embedder), fake_embedder)
    answer = engine.answer("Hvorfor valgte man en pilot?")
    assert not answer.declined and not answer.refused, answer.text
    assert answer.body.startswith("Piloten var et forsøk")
    # What no retrieved text speaks of is still declined.
    assert engine.answer("Hvorfor finansierte man en pilot?").declined


def test_where_something_happened_is_declined_in_the_question_s_own_words(settings, small_corpus, fake_embedder, memory_store):
    """Nothing retrieved says where the gatherings were held: the answer says exactly that."""
    s = settings.model_copy(update={"answer_min_similarity": 0.0, "answer_confident_similarity": 0.0})
    sync_corpus(s, fake_embedder, memory_store)
    engine = AnswerEngine(AnswerConfig.from_settings(s), Retriever(RetrievalConfig.from_settings(s), memory_store, fake_embedder), fake_embedder)
    answer = engine.answer("Hvor ble samlingene holdt?")
    assert answer.declined and answer.body.startswith("Materialet sier ikke hvor samlingene ble holdt."), answer.text
