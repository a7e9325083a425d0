"""Verification of model answers (assistant/core/verify.py) and the engine around it, with a fake
chat model: what a model writes reaches the user only where the cited passage supports it."""

from __future__ import annotations

from assistant.core.answer import AnswerConfig, AnswerEngine
from assistant.core.records import Answer
from assistant.core.verify import check_sentence, sentences_of, strip_markup_and_leaks, verify

from .fakes import FakeChatModel
from .test_answer import engine_parts  # noqa: F401 - engine_parts: the small corpus with the fake embedder

PASSAGE = ("Piloten ble arrangert av KS, Vestfold og Telemark fylkeskommune og KS Konsulent. "
           "Fire bykommuner deltok: Horten, Larvik, Porsgrunn og Tønsberg. Erfaringene ble lagt fram 4. juni 2025.")
OTHER = "Miljødirektoratet holdt et seminar om natur og arealbruk."


def lexical_only(sentence, passages):  # no embedder: the word checks decide
    return 0.0


def check(sentence, passages=None, **kw):
    return check_sentence(sentence, passages or {1: PASSAGE, 2: OTHER}, similarity=lexical_only, min_lexical=0.6,
                          min_similarity=0.90, **kw)


def test_a_sentence_needs_a_citation_and_support_from_what_it_cites():
    assert check("Fire bykommuner deltok: Horten, Larvik, Porsgrunn og Tønsberg [1].").supported
    assert check("Four towns took part: Horten, Larvik, Porsgrunn and Tønsberg [1].").reason in ("ok", "not in the source")
    assert check("Fire bykommuner deltok i piloten.").reason == "no citation"
    assert check("Tolv bykommuner deltok [1].").reason == "number"  # tolv is not in the passage
    assert check("Piloten ble arrangert av KS og Miljødirektoratet [1].", known=lambda w: True).reason == "name"
    # The right name from the wrong passage: Miljødirektoratet is in [2], not in the cited [1].
    assert not check("Piloten ble arrangert av Miljødirektoratet [1].", known=lambda w: True).supported
    assert check("Piloten ble arrangert av Miljødirektoratet [2].", known=lambda w: True).reason != "name"
    assert check("Erfaringene ble lagt fram i 2025 [1].").supported
    assert check("NRK fant 44,000 inngrep [1].", {1: "NRK dokumenterte 44 000 inngrep i norsk natur."}).reason != "number"
    assert check("Hva betyr dette for deg?", questions_need_no_source=True).supported
    assert not check("Hva betyr dette for deg?").supported


def test_markup_and_altered_prompt_lines_are_dropped():
    prompt = ["Svar bare ut fra kildene, og oppgi kilden med [n] etter hver påstand.",
              "Skriv ren tekst med enkel Markdown, uten lenker og bilder."]
    model = ('<kilde nr="1" tittel="x">Piloten ble arrangert av KS [1].</kilde>\n'
             "1. Svar kun ut fra kildene og oppgi kilde med [n] etter hver påstand\n"
             "2. Skriv ren tekst med enkel Markdown uten lenker\n")
    cleaned = strip_markup_and_leaks(model, prompt)
    assert "<kilde" not in cleaned and "Svar kun" not in cleaned and "Markdown" not in cleaned
    assert "Piloten ble arrangert av KS [1]." in cleaned
    v = verify(model, {1: PASSAGE}, prompt_lines=prompt, similarity=lexical_only, min_lexical=0.6, min_similarity=0.90)
    assert len(v.supported) == 1 and v.share == 1 / 3  # the two leaked lines count as removed sentences


def test_citations_after_the_full_stop_stay_with_their_sentence():
    assert sentences_of("Fire byer deltok. [1] Det var i 2022. [2]") == ["Fire byer deltok [1].", "Det var i 2022 [2]."]


def run(engine, question, **kw):
    response = engine.stream(question, **kw)
    return list(response), response.answer


def test_an_unsupported_model_answer_falls_back_to_the_material_with_a_note(engine_parts):
    s, retriever, embedder = engine_parts
    model = FakeChatModel("Piloten ble arrangert av Miljødirektoratet i 1999 [1]. Den kostet tolv millioner [2].")
    streamed, answer = run(AnswerEngine(AnswerConfig.from_settings(s), retriever, embedder, model), "Hvilke kommuner deltok i piloten?")
    assert isinstance(answer, Answer) and answer.fallback and answer.verified_share == 0.0
    assert answer.text.startswith("*Modellens svar kunne ikke kontrolleres") and "Tønsberg" in answer.text
    assert "Miljødirektoratet i 1999" not in answer.text and len(answer.unverified) == 2
    assert streamed == [answer.text]  # nothing unverified was ever on screen


def test_unverified_sentences_can_be_shown_marked_instead(engine_parts):
    s, retriever, embedder = engine_parts
    s = s.model_copy(update={"verify_mode": "mark"})
    model = FakeChatModel("Horten, Larvik, Porsgrunn og Tønsberg deltok i piloten [1]. Det var fint vær hele tiden [1].")
    _, answer = run(AnswerEngine(AnswerConfig.from_settings(s), retriever, embedder, model), "Hvilke kommuner deltok i piloten?")
    assert not answer.fallback and "Det var fint vær hele tiden [1]. *(ikke bekreftet av kildene)*" in answer.text


def test_a_verified_answer_is_streamed_only_when_checked(engine_parts):
    s, retriever, embedder = engine_parts
    model = FakeChatModel("Horten, Larvik, Porsgrunn og Tønsberg deltok i piloten [1]. Hver kommune stilte med fire til fem ledere [1].")
    streamed, answer = run(AnswerEngine(AnswerConfig.from_settings(s), retriever, embedder, model), "Hvilke kommuner deltok i piloten?")
    assert not answer.fallback and answer.verified_share == 1.0 and streamed == [answer.text]
    assert answer.text.startswith("Horten, Larvik, Porsgrunn og Tønsberg deltok i piloten [1].")


def test_the_eval_counts_unsupported_sentences_from_the_shown_text():
    from evals.metrics import unsupported_shown

    passages = {1: PASSAGE}
    assert unsupported_shown("Fire bykommuner deltok: Horten, Larvik, Porsgrunn og Tønsberg [1].", passages) == 0
    assert unsupported_shown("Erfaringene ble lagt fram i 2025 [1]. Hva betyr det for deg?", passages) == 0
    shown = ("Fire bykommuner deltok i piloten [1]. Piloten kostet 12 millioner kroner [1]. "
             "Det var en stor suksess for alle som var med. Seminaret var i 2024 [3].")
    assert unsupported_shown(shown, passages) == 3  # a number the passage lacks, no citation, a source not given
