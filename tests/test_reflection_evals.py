"""The multi-turn reflection eval: its metrics on hand-made data, the script schema and the
shipped scripts, reading summaries from the journal, and one script replayed through ChatService
with the fake embedder (and the whole runner, report and thresholds with it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.app.journal import Conversation, Journal, Message
from assistant.app.reflection import Summary
from assistant.core.answer import AnswerConfig, AnswerEngine
from assistant.core.records import REFLECTION_STAGES, Answer, Insight
from assistant.core.runtime import Runtime
from assistant.core.store import ChromaStore, StoreConfig
from evals import metrics as m
from evals import reflection as r
from evals.cases import CaseFileError, ReflectionScript, ScriptStep, load_scripts
from evals.report import render_html, render_summary, worst_scripts
from evals.runner import (
    DEFAULT_THRESHOLDS,
    check_thresholds,
    load_thresholds,
    run_eval,
    select_scripts,
)
from ingest.pipeline import sync_corpus

from .conftest import write_doc


# --- metrics on hand-made data ---------------------------------------------------------------------------
def test_mirror_keep_rate_counts_phrases_kept_verbatim_per_turn():
    mirrors = ["Du skriver: «Planavdelingen og kulturavdelingen drar i hver sin retning»", "Du skriver: «Jeg er plansjef»"]
    keeps = [["drar i hver  sin retning", "midt i konflikten"], ["dispensasjon etter dispensasjon"], ]
    assert m.mirror_keep_rate(mirrors, keeps) == pytest.approx(1 / 3)
    # Another turn's mirror does not count, and a rewording is not the participant's words.
    assert m.mirror_keep_rate(["", mirrors[0]], keeps) == 0.0
    assert not m.phrase_kept("Avdelingene drar i ulike retninger", "drar i hver sin retning")
    assert m.phrase_kept("«DRAR i hver sin retning»", "drar i hver sin retning")
    assert m.mirror_keep_rate(["a", "b"], [[], []]) is None
    with pytest.raises(ValueError):
        m.mirror_keep_rate(["a"], [])


def test_repeated_rate_counts_what_came_back_in_a_later_turn_or_the_same_one():
    first = "Konsentrasjon av boliger, handel og tjenester i sentrum gir kortere reiser. [1]"
    offered = [[first, "Ledelse på tvers krever tillit."], ["Konsentrasjon av boliger, handel og tjenester i sentrum gir kortere reiser"], [], [first]]
    assert m.repeated_rate(offered) == pytest.approx(2 / 4)  # cite marks and the full stop do not make it new
    assert m.repeated_rate([["A er B."], ["C er D."]]) == 0.0
    assert m.repeated_rate([["Hva nå?", "Hva nå?"]]) == 0.5
    assert m.repeated_rate([[], []]) is None


def test_one_summary_is_exactly_one():
    assert [m.one_summary(n) for n in (0, 1, 2, 3)] == [0.0, 1.0, 0.0, 0.0]


def test_commitment_recall_and_worry_exclusion_read_the_listed_commitments():
    listed = ["Vi må få til et felles arbeidsverksted for plan og kultur før sommeren.", "Hvis jeg skal være ærlig, er kalenderen min full."]
    assert m.commitment_recall(listed, ["Vi må få til et felles arbeidsverksted", "Jeg må nok delegere mer"]) == 0.5
    assert m.commitment_recall(listed, []) is None
    assert m.commitment_recall([], ["Jeg må nok delegere mer"]) == 0.0
    assert m.worry_exclusion(listed, ["kalenderen min full", "Jeg er redd for at det blir et møte uten retning"]) == 0.5
    assert m.worry_exclusion([], ["kalenderen min full"]) == 1.0
    assert m.worry_exclusion(listed, []) is None
    # A commitment may come back in another inflection ("verkstedet"), a name may not change.
    assert m.listed("lage verkstedet", ["Jeg lager verkstedet i mai."])
    assert not m.listed("møte med Eva", ["Jeg skal ha et møte med Tor."])


# --- the script schema and the shipped scripts -----------------------------------------------------------
def test_a_step_says_or_presses_and_keeps_only_the_participants_words():
    assert ScriptStep(say="Vi strever med sentrum.", mirror_keeps=["strever med sentrum"]).press is None
    with pytest.raises(ValueError, match="either"):
        ScriptStep(say="Hei", press="finish")
    with pytest.raises(ValueError, match="own words"):
        ScriptStep(say="Vi strever med sentrum.", mirror_keeps=["sliter med sentrum"])
    with pytest.raises(ValueError, match="own words"):
        ReflectionScript(id="x", split="dev", language="nb", turns=[{"say": "Jeg skal ringe Eva."}], commitments=["ringe Tor"])


def test_a_bad_script_line_names_file_and_line(tmp_path):
    folder = tmp_path / "cases"
    (folder / "scripts").mkdir(parents=True)
    good = {"id": "s1", "split": "dev", "language": "nb", "turns": [{"say": "Jeg skal ringe Eva."}]}
    (folder / "scripts" / "r.jsonl").write_text(json.dumps(good) + "\n" + json.dumps({**good, "id": "s2", "language": "de"}) + "\n")
    with pytest.raises(CaseFileError, match=r"r\.jsonl:2: language"):
        load_scripts(folder)
    assert load_scripts(tmp_path / "nowhere") == []


def test_the_shipped_scripts_cover_what_the_issue_asks():
    scripts = load_scripts()
    assert len(scripts) >= 20
    assert 0.25 <= sum(s.split == "test" for s in scripts) / len(scripts) <= 0.40
    languages = [s.language for s in scripts]
    assert languages.count("nb") > len(scripts) / 2 and languages.count("en") >= 2 and languages.count("nn") >= 1
    for s in scripts:
        said = [t for t in s.turns if t.say]
        assert len(said) >= 4 and s.commitments and s.worries, s.id  # through the stages, with both kinds of phrase
        assert sum(bool(t.mirror_keeps) for t in said) >= 4, s.id
    ends = [[t.press or t.say for t in s.turns[5:]] for s in scripts]
    assert sum(any("akk" in e or "Thanks" in e for e in end if e) for end in ends) >= 3  # a "takk" after the last stage
    assert sum([t.press for t in s.turns].count("finish") >= 2 for s in scripts) >= 2  # finish pressed twice
    assert {"skip", "back"} <= {t.press for s in scripts for t in s.turns} and any(t.move == "stay" for s in scripts for t in s.turns)


def test_no_test_split_script_is_used_elsewhere_in_the_tests(repo_root):
    """The frozen scripts are never tuned on: no test file uses their messages."""
    frozen = [t.say for s in load_scripts() if s.split == "test" for t in s.turns if t.say and len(t.say) > 40]
    for path in (repo_root / "tests").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not [q for q in frozen if q in text], path.name


def test_select_scripts_follows_the_filters():
    scripts = load_scripts()
    assert select_scripts(scripts, types=["fact"]) == []
    assert {s.language for s in select_scripts(scripts, types=["reflection"], languages=["nn"])} == {"nn"}
    assert {s.split for s in select_scripts(scripts, splits=["test"])} == {"test"}
    assert len(select_scripts(scripts, limit=12)) == 3


# --- reading the records -----------------------------------------------------------------------------------
def _message(role: str, content: str, **kw) -> Message:
    return Message(role=role, content=content, created=0.0, **kw)


def test_summaries_and_commitments_are_read_from_the_stored_conversation():
    summary = Summary(commitments=["Jeg skal ringe Eva."])
    conv = Conversation(id="c", user="u", title="t", mode="reflect", created=0.0, updated=0.0, summary="x",
                        summary_data=summary.model_dump(), messages=[
        _message("assistant", "**Hvor er vi?** Hva skjer? [1]", questions=["Hva skjer?"], kind="question"),
        _message("user", "Jeg skal ringe Eva."),
        _message("assistant", "x", kind="summary"),
        _message("user", "Takk, dette var nyttig."),
        _message("assistant", "x", kind="summary"),
    ])
    assert r.count_summaries(conv) == 2
    assert r.summary_commitments(conv, "nb") == ["Jeg skal ringe Eva."]
    assert r.summary_commitments(conv.model_copy(update={"summary_data": None}), "nb") is None
    insights, questions = r.offered(conv)
    assert questions == [["Hva skjer?"], [], []] and insights == [[], [], []]


def test_a_script_is_scored_from_its_turns_and_conversation():
    script = ReflectionScript(
        id="s", split="dev", language="nb",
        turns=[{"say": "Vi strever med sentrum.", "mirror_keeps": ["strever med sentrum"]}, {"say": "Jeg skal ringe Eva. Jeg er redd."}],
        commitments=["ringe Eva"], worries=["Jeg er redd"],
    )
    turns = [r.ScriptTurnResult(step=t, mirror=mirror) for t, mirror in zip(script.turns, ["Du skriver: «Vi strever med sentrum»", ""])]
    summary = Summary(commitments=["Jeg skal ringe Eva.", "Jeg er redd."])
    said = Insight(text="Sentrum trenger folk.", number=1)
    conv = Conversation(id="c", user="u", title="t", mode="reflect", created=0.0, updated=0.0, summary="x",
                        summary_data=summary.model_dump(), messages=[
        _message("assistant", "x", questions=["Hva nå?"], insights=[said]),
        _message("assistant", "y", questions=["Hva nå?"], insights=[said]),
        _message("assistant", "x", kind="summary"),
    ])
    result = r.score_script(script, turns, conv)
    assert result.scores == {"mirror_keep_rate": 1.0, "repeated_insight_rate": 0.5, "repeated_question_rate": 0.5,
                             "one_summary": 1.0, "commitment_recall": 1.0, "worry_exclusion": 0.0}
    assert result.worries_listed == ["Jeg er redd"] and result.repeated_questions == ["Hva nå?"]
    assert any("bekymring" in i for i in r.script_issues(result))
    no_summary = r.score_script(script, turns, conv.model_copy(update={"summary_data": None, "messages": conv.messages[:2]}))
    assert no_summary.scores["one_summary"] == 0.0 and no_summary.scores["commitment_recall"] == 0.0
    assert no_summary.scores["worry_exclusion"] is None  # nothing was listed, rightly or wrongly


# --- replayed through the app ------------------------------------------------------------------------------
@pytest.fixture
def reflect_runtime(settings, small_corpus, fake_embedder):
    for stage in REFLECTION_STAGES:
        write_doc(
            small_corpus, f"questions/{stage}.md", f"Spørsmål {stage}",
            f"# Spørsmål\n## Tema\n- Hva betyr fasen {stage} for byen din og deg som leder?\n"
            f"- Hvem i byen din bør du snakke med om {stage}?\n- Hva vil du gjøre annerledes i fasen {stage}?\n",
            kind="question", stage=f"[{stage}]",
        )
    s = settings.model_copy(update={"answer_min_similarity": 0.0, "answer_confident_similarity": 0.0})
    runtime = Runtime(settings=s, embedder=fake_embedder, store=ChromaStore(StoreConfig.from_settings(s)))
    sync_corpus(s, fake_embedder, runtime.store)
    return runtime


def test_a_script_replayed_through_the_chat_service(reflect_runtime, tmp_path):
    script = next(s for s in load_scripts() if s.id == "refl-script-nb-002")  # dev; ends by pressing finish twice
    assert script.split == "dev"
    rt = reflect_runtime
    engine = AnswerEngine(AnswerConfig.from_settings(rt.settings), rt.retriever, rt.embedder)
    journal = Journal(tmp_path / "journal.sqlite3")
    result = r.replay_script(r.chat_service(rt.settings, rt, engine, journal), script, user="eval")
    assert result.error is None and len(result.turns) == len(script.turns)
    said = result.turns[:5]
    assert [t.stage for t in said] == [*REFLECTION_STAGES[1:], REFLECTION_STAGES[-1]]
    for turn in said:  # each message's mirror is its own words, shown in that turn
        assert turn.mirror and turn.mirror in turn.text
        assert turn.kept + turn.missing == turn.step.mirror_keeps
        assert all(p.casefold() in turn.mirror.casefold() for p in turn.kept)
    conv = journal.get("eval", journal.list("eval")[0].id)
    assert result.summaries == r.count_summaries(conv) >= 1
    assert result.scores["one_summary"] == (1.0 if result.summaries == 1 else 0.0)
    assert "skrive et notat til formannskapet" not in result.commitments_missing  # the last stage's "Jeg skal ..."
    assert set(result.scores) == set(r.SCRIPT_METRICS) and result.scores["repeated_question_rate"] is not None
    insights, questions = r.offered(conv)
    assert result.scores["repeated_question_rate"] == m.repeated_rate(questions)
    assert sum(map(len, questions)) >= 5  # read from the stored messages: the opening and every turn's question


def test_run_eval_reports_and_gates_the_script_metrics_per_split(reflect_runtime, tmp_path):
    scripts = [s for s in load_scripts() if s.id in ("refl-script-nb-001", "refl-script-nb-003", "refl-script-nn-002")]
    ticks: list[tuple[int, str]] = []

    def progress(total: int, label: str):
        ticks.append((total, label))
        return lambda n: None

    run = run_eval(reflect_runtime.settings, reflect_runtime, [], progress=progress, scripts=scripts)
    assert (3, "reflection scripts") in ticks and len(run.scripts) == 3 and not run.script_errors
    assert run.overall.scripts == 3 and run.by_split["test"].scripts == 1 and run.by_split["dev"].scripts == 2
    assert run.by_language["nn"].scripts == 1 and run.by_language["nn"].cases == 0
    test_metrics = run.by_split["test"].metrics
    assert set(r.SCRIPT_METRICS) <= set(test_metrics) and test_metrics["one_summary"] in (0.0, 1.0)
    assert test_metrics == {**test_metrics, **r.aggregate_scripts([s for s in run.scripts if s.script.split == "test"])}
    checks = {c.metric: c for c in check_thresholds(run, {"min": {"one_summary": 2.0}, "max": {"repeated_insight_rate": -1.0}})}
    assert checks["one_summary"].passed is False and checks["repeated_insight_rate"].passed is False
    summary, page = render_summary(run), render_html(run)
    assert "## Refleksjonsskript (3 samtaler" in summary and "| `commitment_recall` |" in summary
    assert "<h2>Refleksjonsskript</h2>" in page
    listed = [x.script.id for x in worst_scripts(run, 15)]  # the scripts that missed a metric, or none
    assert all(i in page for i in listed) and (listed or "alle skript holdt alle mål" in page)


def test_the_default_thresholds_gate_the_script_metrics():
    thresholds = load_thresholds(DEFAULT_THRESHOLDS)
    gated = set(thresholds["min"]) | set(thresholds["max"])
    assert set(r.SCRIPT_METRICS) <= gated
    assert set(r.SCRIPT_RATE_METRICS) <= set(thresholds["max"])


def test_a_script_that_fails_is_recorded_and_the_rest_go_on(reflect_runtime):
    class Broken:
        def start(self, *a, **k):
            raise RuntimeError("boom")

    script = load_scripts()[0]
    result = r.replay_script(Broken(), script)  # type: ignore[arg-type]
    assert result.error == "RuntimeError: boom" and result.scores == dict.fromkeys(r.SCRIPT_METRICS)


def test_the_scripts_file_is_where_the_loader_looks():
    assert (Path(r.__file__).parent / "cases" / "scripts" / "reflection.jsonl").exists()
