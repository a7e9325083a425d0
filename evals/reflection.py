"""Replay the multi-turn reflection scripts through the app and score each conversation.

A single-turn reflection case (`evals/cases/reflection.jsonl`) asks the engine one question; what
makes a reflection worth coming back to only shows over a whole conversation: the mirror keeps
what the participant said, no insight or question comes back, it ends with exactly one summary
(also after a "takk" or a second press of finish), and that summary lists the participant's
commitments and not their worries. So each script (`evals/cases/scripts/*.jsonl`,
`evals.cases.ReflectionScript`) is replayed through the same flow the chat tab uses,
`assistant.app.chat.ChatService`, with a temporary journal, and scored with the pure functions in
`evals.metrics` on what the records hold: each turn's `Answer`, the journal's stored messages
(their `questions` and `insights`) and the summary.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import BaseModel, Field

from assistant.app.chat import ChatConfig, ChatService
from assistant.app.journal import Conversation, Journal
from assistant.app.reflection import Summary
from assistant.core.answer import AnswerEngine
from assistant.core.runtime import Runtime
from assistant.core.settings import Settings
from evals.cases import ReflectionScript, ScriptStep
from evals.metrics import (
    commitment_recall,
    item_key,
    mean,
    mirror_keep_rate,
    one_summary,
    phrase_kept,
    repeated_rate,
    worry_exclusion,
)

# Per-script metrics, in report order. Each is None where it does not apply (no phrase to keep, nothing
# offered, no commitment or worry expected, or no summary to read).
SCRIPT_METRICS = (
    "mirror_keep_rate",
    "repeated_insight_rate",
    "repeated_question_rate",
    "one_summary",
    "commitment_recall",
    "worry_exclusion",
)
SCRIPT_RATE_METRICS = ("repeated_insight_rate", "repeated_question_rate")  # lower is better
EVAL_USER = "eval-reflection"


class ScriptTurnResult(BaseModel):
    """What one step of a script produced."""

    step: ScriptStep
    stage: str | None = Field(None, description="The stage the app was in after the step (ChatTurn.stage).")
    mirror: str = Field("", description="The mirror of the participant's message, as shown.")
    kept: list[str] = []
    missing: list[str] = []
    text: str = Field("", description="Everything the step showed, the summary included when it produced one.")
    latency_ms: float = 0.0
    error: str | None = None


class ScriptResult(BaseModel):
    script: ReflectionScript
    turns: list[ScriptTurnResult] = []
    summaries: int = Field(0, description="Summaries stored in the conversation.")
    commitments_listed: list[str] = Field([], description="What the (last) summary lists as commitments.")
    commitments_missing: list[str] = []
    worries_listed: list[str] = Field([], description="Worries the summary lists as commitments (should be none).")
    repeated_insights: list[str] = []
    repeated_questions: list[str] = []
    scores: dict[str, float | None] = {}
    seconds: float = 0.0
    error: str | None = None


Progress = Callable[[int], None]


# --- replaying -----------------------------------------------------------------------------------------
def run_scripts(
    settings: Settings,
    runtime: Runtime,
    engine: AnswerEngine,
    scripts: Sequence[ReflectionScript],
    tick: Progress | None = None,
) -> list[ScriptResult]:
    """Replay every script with its own conversation in one temporary journal (deleted after): the
    eval never writes to the participant's journal."""
    results: list[ScriptResult] = []
    with tempfile.TemporaryDirectory(prefix="eval-reflection-") as tmp:
        service = chat_service(settings, runtime, engine, Journal(Path(tmp) / "journal.sqlite3"))
        for script in scripts:
            results.append(replay_script(service, script))
            if tick:
                tick(1)
    return results


def chat_service(settings: Settings, runtime: Runtime, engine: AnswerEngine, journal: Journal) -> ChatService:
    """The chat flow as the web app builds it."""
    return ChatService(ChatConfig.from_settings(settings), runtime, engine, journal)


def replay_script(service: ChatService, script: ReflectionScript, user: str = EVAL_USER) -> ScriptResult:
    """Start a reflection, play each step as the chat tab would, and score the conversation. One
    script failing is recorded as its error; the caller goes on."""
    started = time.perf_counter()
    turns: list[ScriptTurnResult] = []
    try:
        cid = service.start(user, "reflect", script.language).conversation_id
        for step in script.turns:
            turns.append(_play(service, user, cid, step, script.language))
        conversation = service.conversation(user, cid)
    except Exception as exc:  # noqa: BLE001 - one broken script must not end the run; it is reported
        return ScriptResult(script=script, turns=turns, scores=dict.fromkeys(SCRIPT_METRICS),
                            error=f"{type(exc).__name__}: {exc}", seconds=round(time.perf_counter() - started, 3))
    result = score_script(script, turns, conversation)
    result.seconds = round(time.perf_counter() - started, 3)
    return result


def _play(service: ChatService, user: str, cid: str, step: ScriptStep, lang: str) -> ScriptTurnResult:
    t0 = time.perf_counter()
    if step.press == "finish":
        shown = [service.finish(user, cid, lang)]
    elif step.press is not None:
        shown = [service.jump(user, cid, step.press, lang)]
    else:
        shown = [t for t in service.send(user, cid, step.say or "", lang=lang, move=step.move) if t.done]
    latency = (time.perf_counter() - t0) * 1000
    mirror = next((t.mirror for t in shown if t.mirror), "")
    kept = [p for p in step.mirror_keeps if phrase_kept(mirror, p)]
    return ScriptTurnResult(
        step=step,
        stage=shown[-1].stage if shown else None,
        mirror=mirror,
        kept=kept,
        missing=[p for p in step.mirror_keeps if p not in kept],
        text="\n\n".join(t.text for t in shown),
        latency_ms=round(latency, 1),
        error=next((t.error for t in shown if t.error), None),
    )


# --- reading the records -------------------------------------------------------------------------------
def count_summaries(conversation: Conversation) -> int:
    """Summaries stored in the conversation: messages of kind "summary"."""
    return sum(1 for m in conversation.messages if m.kind == "summary")


def summary_commitments(conversation: Conversation, lang: str) -> list[str] | None:
    """What the conversation's stored summary lists as commitments and next steps; None without one."""
    if conversation.summary_data is None:
        return None
    return list(Summary.model_validate(conversation.summary_data).commitments)


def offered(conversation: Conversation) -> tuple[list[list[str]], list[list[str]]]:
    """(insights, questions) each assistant message offered, in order, as stored in the journal."""
    assistant = [m for m in conversation.messages if m.role == "assistant"]
    return [[i.text for i in m.insights] for m in assistant], [list(m.questions) for m in assistant]


def _repeats(items: list[list[str]]) -> list[str]:
    """The items offered again (each once), for the report: what `repeated_rate` counts."""
    seen: set[str] = set()
    out: list[str] = []
    for item in (x for turn in items for x in turn):
        key = item_key(item)
        if key in seen and item not in out:
            out.append(item)
        seen.add(key)
    return out


# --- scoring -------------------------------------------------------------------------------------------
def score_script(script: ReflectionScript, turns: Sequence[ScriptTurnResult], conversation: Conversation) -> ScriptResult:
    """Every script metric over one replayed conversation."""
    said = [t for t in turns if t.step.say is not None]
    insights, questions = offered(conversation)
    summaries = count_summaries(conversation)
    listed = summary_commitments(conversation, script.language)
    commitments = listed or []
    scores: dict[str, float | None] = {
        "mirror_keep_rate": mirror_keep_rate([t.mirror for t in said], [t.step.mirror_keeps for t in said]),
        "repeated_insight_rate": repeated_rate(insights),
        "repeated_question_rate": repeated_rate(questions),
        "one_summary": one_summary(summaries),
        "commitment_recall": commitment_recall(commitments, script.commitments) if listed is not None
        else (0.0 if script.commitments else None),
        # Without a summary nothing was listed, rightly or wrongly: one_summary reports that.
        "worry_exclusion": worry_exclusion(commitments, script.worries) if listed is not None else None,
    }
    found = [c for c in script.commitments if commitment_recall(commitments, [c])]
    return ScriptResult(
        script=script,
        turns=list(turns),
        summaries=summaries,
        commitments_listed=commitments,
        commitments_missing=[c for c in script.commitments if c not in found],
        worries_listed=[w for w in script.worries if not worry_exclusion(commitments, [w])],
        repeated_insights=_repeats(insights),
        repeated_questions=_repeats(questions),
        scores={k: None if v is None else round(v, 4) for k, v in scores.items()},
        error=next((t.error for t in turns if t.error), None),
    )


def aggregate_scripts(results: Sequence[ScriptResult]) -> dict[str, float | None]:
    """Mean of each script metric over the scripts where it applies (None where none does)."""
    out: dict[str, float | None] = {}
    for key in SCRIPT_METRICS:
        values = [r.scores[key] for r in results if r.scores.get(key) is not None]
        out[key] = round(mean(values), 4) if values else None  # type: ignore[arg-type]
    return out


def script_issues(r: ScriptResult) -> list[str]:
    """What went wrong in one script, in short bokmål phrases (for the report)."""
    issues: list[str] = [f"feil: {r.error}"] if r.error else []
    missing = [p for t in r.turns for p in t.missing]
    if missing:
        issues.append("speilingen mangler: " + ", ".join(f"«{p}»" for p in missing))
    if r.repeated_insights:
        issues.append(f"innsikt gjentatt ({len(r.repeated_insights)}): «{r.repeated_insights[0][:80]}»")
    if r.repeated_questions:
        issues.append(f"spørsmål gjentatt ({len(r.repeated_questions)}): «{r.repeated_questions[0][:80]}»")
    if r.summaries != 1:
        issues.append(f"{r.summaries} oppsummeringer")
    if r.commitments_missing:
        issues.append("forpliktelser mangler: " + ", ".join(f"«{c}»" for c in r.commitments_missing))
    if r.worries_listed:
        issues.append("bekymring oppført som forpliktelse: " + ", ".join(f"«{w}»" for w in r.worries_listed))
    return issues


def script_score(r: ScriptResult) -> float:
    """For ranking the worst scripts: mean of the applicable metrics, rates turned into 1 - rate."""
    values = [(1 - v) if k in SCRIPT_RATE_METRICS else v for k, v in r.scores.items() if v is not None]
    return round(mean(values), 4) if values else 0.0

