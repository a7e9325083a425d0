"""Run the eval cases through the answer engine and score every answer.

`run_eval(settings, runtime, cases)` answers each case with `AnswerEngine` (the
case's mode, history and stage), scores it with the pure functions in
`evals.metrics`, and returns an `EvalRun`: the settings (secrets masked), a
fingerprint of the indexed corpus, every case's inputs, answer and scores, and
aggregates overall, per case type and per language. Writing it to disk is
`evals.report`; checking it against `evals/thresholds.toml` is `check_thresholds`.

Given `scripts`, it also replays the multi-turn reflection scripts through the app's chat flow
(`evals.reflection`) and adds their metrics to the same aggregates (overall, per split, per
language), so they are reported and gated like the others.
"""

from __future__ import annotations

import hashlib
import sys
import time
import tomllib
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel, Field

from assistant.core.answer import AnswerConfig, AnswerEngine
from assistant.core.errors import ConfigError
from assistant.core.llm import ChatMessage, ChatModel
from assistant.core.progress import tqdm_progress as _tqdm_progress
from assistant.core.prompts import render
from assistant.core.records import Answer, Chunk
from assistant.core.runtime import Runtime
from assistant.core.safety import urls_in
from assistant.core.settings import Settings
from evals.cases import EvalCase, ReflectionScript
from evals.judge import Judge
from evals.metrics import (
    answer_body,
    citation_coverage,
    citation_validity,
    cosine,
    document_recall,
    answer_first,
    cited_sentence_counts,
    fact_present,
    facts_to_score,
    hit_at_k,
    injection_resistance,
    unsupported_shown,
    injection_violations,
    mean,
    percentile,
    reciprocal_rank,
    refusal_precision_recall,
    rouge_l,
)
from evals.remote import RemoteEngine
from evals.reflection import SCRIPT_METRICS, SCRIPT_RATE_METRICS, ScriptResult, aggregate_scripts, run_scripts

EVALS_DIR = Path(__file__).resolve().parent
INJECTION_CLAIMS = EVALS_DIR / "injection_claims.toml"
DEFAULT_THRESHOLDS = EVALS_DIR / "thresholds.toml"
REPORT_VERSION = 1
CASE_TYPES = ("fact", "reflection", "out_of_scope", "injection")
SPLITS = ("dev", "test")
GATED_SPLIT = "test"  # thresholds, headline numbers and CI use the frozen split only (docs/evals.md)

# Metrics that hold by construction for a backend: they cannot fail there, so they are reported
# with that label and never gated. The extractive backend only quotes sentences of retrieved
# chunks and cites each one. (Injection resistance is measured for it too: when the material does
# not cover a question, the answer names the question's focus word, which an injection could steer.)
# A model backend's citations are counted before the engine removes invalid ones, and its
# coverage is read from text the model wrote: both are measured.
BY_CONSTRUCTION: dict[str, tuple[str, ...]] = {
    "extractive": ("citation_validity", "citation_coverage"),
}


def by_construction(backend: str) -> tuple[str, ...]:
    return BY_CONSTRUCTION.get(backend, ())

# Per-case metrics, in the order reports show them. Each is None where it does not apply.
CASE_METRICS = (
    "hit_at_1",
    "hit_at_5",
    "mrr",
    "document_recall",
    "fact_recall",
    "answer_first",
    "semantic_similarity",
    "rouge_l",
    "citation_validity",
    "citation_coverage",
    "refusal_correct",
    "injection_resistance",
    "judge_faithfulness",
    "judge_correctness",
)
# Metrics where a higher value is better and the range is 0..1 (charts, comparisons).
UNIT_METRICS = CASE_METRICS + ("refusal_precision", "refusal_recall") + tuple(
    m for m in SCRIPT_METRICS if m not in SCRIPT_RATE_METRICS
)
RATE_METRICS = ("false_refusal_rate", "fallback_rate", *SCRIPT_RATE_METRICS)  # lower is better
MODEL_METRICS = ("verified_share", "fallback_rate", "unsupported_shown")  # model backends only (assistant/core/verify.py)
LATENCY_METRICS = ("latency_mean_ms", "latency_p50_ms", "latency_p95_ms", "latency_max_ms")
JUDGE_METRICS = ("judge_faithfulness", "judge_correctness")

Progress = Callable[[int], None]
ProgressFactory = Callable[[int, str], Progress]


# --- records ----------------------------------------------------------------------------------------
class CorpusFingerprint(BaseModel):
    fingerprint: str = Field(description="sha256 over the sorted (chunk id, content hash) pairs of the index.")
    chunks: int
    documents: int
    embedding_model: str


class CaseResult(BaseModel):
    case: EvalCase
    answer: Answer | None = None
    retrieved_sources: list[str] = []
    facts_given: list[str] = Field([], description="Expected facts already in the question or conversation: not scored.")
    facts_found: list[str] = []
    facts_missing: list[str] = []
    injection_violations: list[str] = []
    scores: dict[str, float | None] = {}
    score: float = Field(0.0, description="Case score for ranking: mean of the applicable primary metrics.")
    latency_ms: float = 0.0
    judge_errors: list[str] = []
    error: str | None = None


class Aggregate(BaseModel):
    cases: int
    errors: int = 0
    scripts: int = Field(0, description="Reflection scripts replayed (their metrics are in `metrics` too).")
    metrics: dict[str, float | None]


class ThresholdCheck(BaseModel):
    metric: str
    split: str = GATED_SPLIT
    bound: str  # "min" or "max"
    threshold: float
    value: float | None
    passed: bool | None  # None: not measured in this run, or by construction (skipped)
    note: str = ""  # why a check was skipped


class EvalRun(BaseModel):
    version: int = REPORT_VERSION
    started_at: str
    seconds: float
    warm_up_seconds: float = 0.0
    backend: str
    judge: str | None = None
    settings: dict[str, object]
    corpus: CorpusFingerprint
    filters: dict[str, object] = {}
    results: list[CaseResult]
    scripts: list[ScriptResult] = Field([], description="The multi-turn reflection scripts, replayed through the app.")
    overall: Aggregate
    by_type: dict[str, Aggregate]
    by_language: dict[str, Aggregate]
    by_split: dict[str, Aggregate] = {}
    by_construction: list[str] = Field([], description="Metrics that cannot fail with this backend (reported, never gated).")
    thresholds: list[ThresholdCheck] = []

    @property
    def errors(self) -> list[CaseResult]:
        return [r for r in self.results if r.error]

    @property
    def script_errors(self) -> list[ScriptResult]:
        return [r for r in self.scripts if r.error]


# --- selecting cases ----------------------------------------------------------------------------------
def select_cases(
    cases: Sequence[EvalCase],
    *,
    types: Iterable[str] = (),
    languages: Iterable[str] = (),
    splits: Iterable[str] = (),
    limit: int | None = None,
) -> list[EvalCase]:
    """Filter by type, language and split; `limit` takes cases round-robin across types (file order
    within a type), so a short run still covers every type."""
    types, languages, splits = set(types), set(languages), set(splits)
    chosen = [
        c for c in cases
        if (not types or c.type in types) and (not languages or c.language in languages) and (not splits or c.split in splits)
    ]
    if limit is None or limit >= len(chosen):
        return chosen
    groups: dict[str, list[EvalCase]] = {}
    for c in chosen:
        groups.setdefault(c.type, []).append(c)
    picked: list[EvalCase] = []
    i = 0
    while len(picked) < limit:
        for group in groups.values():
            if i < len(group) and len(picked) < limit:
                picked.append(group[i])
        i += 1
    keep = {c.id for c in picked}
    return [c for c in chosen if c.id in keep]


def select_scripts(
    scripts: Sequence[ReflectionScript],
    *,
    types: Iterable[str] = (),
    languages: Iterable[str] = (),
    splits: Iterable[str] = (),
    limit: int | None = None,
) -> list[ReflectionScript]:
    """The scripts a filtered run replays: all of them unless `types` leaves out "reflection"; by
    language and split like the cases; `limit` keeps about one script per case type's share
    (limit // 4, at least one), so a short run stays short."""
    types, languages, splits = set(types), set(languages), set(splits)
    if types and "reflection" not in types:
        return []
    chosen = [s for s in scripts if (not languages or s.language in languages) and (not splits or s.split in splits)]
    return chosen if limit is None else chosen[: max(1, limit // len(CASE_TYPES))]


# --- helpers ------------------------------------------------------------------------------------------
def corpus_fingerprint(chunks: Iterable[Chunk], embedding_model: str) -> CorpusFingerprint:
    chunks = list(chunks)
    pairs = sorted((c.id, c.content_hash) for c in chunks)
    digest = hashlib.sha256("\n".join(f"{i}:{h}" for i, h in pairs).encode()).hexdigest()
    sources = {c.meta.source for c in chunks}
    return CorpusFingerprint(fingerprint=digest[:16], chunks=len(pairs), documents=len(sources), embedding_model=embedding_model)


def load_injection_claims(path: Path = INJECTION_CLAIMS) -> dict[str, list[str]]:
    if not path.exists():
        return {}
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return {case_id: list(table.get("claims", [])) for case_id, table in data.items()}


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _system_prompts(settings: Settings) -> list[str]:
    out = []
    for lang, name in (("nb", "bokmål"), ("en", "English")):
        try:
            out.append(render(settings.prompts_dir, "system", lang, language=name))
        except Exception:  # noqa: BLE001 - a missing prompt folder only weakens one check
            pass
    return out


def _secrets(settings: Settings, extra: Sequence[str] = ()) -> list[str]:
    values = [settings.llm_api_key.get_secret_value(), *extra]
    return [v for v in values if v and len(v) >= 6]


def declines(answer: Answer) -> bool:
    """Refused outright, or said the material does not cover what was asked: both count as a
    refusal for the refusal metrics."""
    return answer.refused or answer.declined


def _conversation(case: EvalCase) -> str:
    """Everything the user side of the conversation already holds: facts found here are given."""
    return "\n".join([*(t.content for t in case.history), case.question])


def case_score(scores: dict[str, float | None]) -> float:
    """Mean of the applicable primary metrics: fact recall, document recall, refusal correctness
    and injection resistance (0.0 when none applies)."""
    primary = [scores.get(k) for k in ("fact_recall", "document_recall", "refusal_correct", "injection_resistance")]
    values = [v for v in primary if v is not None]
    return round(mean(values), 4) if values else 0.0


def score_case(
    case: EvalCase,
    answer: Answer,
    chunks: dict[str, Chunk],
    *,
    system_prompts: Sequence[str] = (),
    injection_claims: Sequence[str] = (),
    secrets: Sequence[str] = (),
    k: int = 5,
) -> CaseResult:
    """Everything but the embedding-based similarity and the judge (those are batched/optional)."""
    retrieved_chunks = [chunks[i] for i in answer.retrieved if i in chunks]
    # Retrieval is scored on what the search for the question returned, in rank order. Reflect mode
    # also cites the question-bank passage it asked from; that passage comes from a second,
    # stage-filtered search, so it may be cited (citation validity) but is not ranked as found.
    ranked = _dedupe(c.meta.source for c in retrieved_chunks)
    asked_from = [chunks[i].meta.source for i in answer.asked_from if i in chunks]
    # A model's citations of sources it was not given are removed by the engine before the text is
    # shown; they still count against the model here.
    cited = [c.source for c in answer.citations] + ["(not given)"] * len(answer.removed_citations)
    # Facts, ROUGE-L and answer-first read the answer's own statements: not the framing line, the
    # participant's mirrored words, a refusal's nearest titles or the source list.
    body = answer_body(answer.body)
    scores: dict[str, float | None] = dict.fromkeys(CASE_METRICS)

    if case.documents:
        scores["hit_at_1"] = hit_at_k(ranked, case.documents, 1)
        scores["hit_at_5"] = hit_at_k(ranked, case.documents, k)
        scores["mrr"] = reciprocal_rank(ranked, case.documents)
        scores["document_recall"] = document_recall(ranked, case.documents, k)
    facts, given = facts_to_score(case.facts, _conversation(case))
    found = [f for f in facts if fact_present(body, f)]
    if facts:
        scores["fact_recall"] = len(found) / len(facts)
        if case.type == "fact":
            scores["answer_first"] = answer_first(body, facts)
    scores["rouge_l"] = rouge_l(body, case.reference)
    scores["citation_validity"] = citation_validity(cited, [*ranked, *asked_from])
    if not declines(answer):
        scores["citation_coverage"] = citation_coverage(*cited_sentence_counts(answer.body))
    if case.mode == "qa" and case.type != "injection":
        scores["refusal_correct"] = 1.0 if declines(answer) == (case.type == "out_of_scope") else 0.0
    violations: list[str] = []
    if case.type == "injection":
        violations = injection_violations(
            answer.text,
            question=case.question,
            system_prompts=system_prompts,
            forbidden=injection_claims,
            allowed_urls=urls_in([c.text for c in retrieved_chunks]),
            secrets=secrets,
        )
        scores["injection_resistance"] = injection_resistance(violations)
    if answer.verified_share is not None or answer.fallback:
        # A model backend: how much of the model's text survived verification, whether the
        # extractive fallback was shown, and what was shown that its sources cannot back.
        scores["verified_share"] = answer.verified_share
        scores["fallback"] = 1.0 if answer.fallback else 0.0
        scores["unsupported_shown"] = float(unsupported_shown(answer.body, {c.number: c.passage for c in answer.citations}))
    scores = {key: (None if v is None else round(float(v), 4)) for key, v in scores.items()}
    return CaseResult(
        case=case,
        answer=answer,
        retrieved_sources=ranked,
        facts_given=given,
        facts_found=found,
        facts_missing=[f for f in facts if f not in found],
        injection_violations=violations,
        scores=scores,
        score=case_score(scores),
        latency_ms=answer.timings.total_ms,
        error=answer.error,
    )


def aggregate(results: Sequence[CaseResult]) -> Aggregate:
    """Means of the per-case metrics over the cases where they apply, refusal precision/recall
    (over qa cases that are not injections), and latency statistics."""
    metrics: dict[str, float | None] = {}
    for key in CASE_METRICS:
        values = [r.scores[key] for r in results if r.scores.get(key) is not None]
        metrics[key] = round(mean(values), 4) if values else None
    pool = [r for r in results if r.answer is not None and r.case.mode == "qa" and r.case.type != "injection"]
    precision, recall = refusal_precision_recall(
        [r.case.type == "out_of_scope" for r in pool], [declines(r.answer) for r in pool]  # type: ignore[arg-type]
    )
    in_scope = [r for r in pool if r.case.type != "out_of_scope"]
    metrics["false_refusal_rate"] = (
        round(sum(declines(r.answer) for r in in_scope) / len(in_scope), 4) if in_scope else None  # type: ignore[arg-type]
    )
    model = [r for r in results if r.scores.get("fallback") is not None]
    metrics["verified_share"] = round(mean([r.scores["verified_share"] or 0.0 for r in model]), 4) if model else None
    metrics["fallback_rate"] = round(mean([r.scores["fallback"] for r in model]), 4) if model else None
    metrics["unsupported_shown"] = float(sum(r.scores["unsupported_shown"] for r in model)) if model else None
    metrics["refusal_precision"] = None if precision is None else round(precision, 4)
    metrics["refusal_recall"] = None if recall is None else round(recall, 4)
    latencies = [r.latency_ms for r in results if r.answer is not None]
    metrics["latency_mean_ms"] = round(mean(latencies), 1) if latencies else None
    metrics["latency_p50_ms"] = round(percentile(latencies, 50), 1) if latencies else None
    metrics["latency_p95_ms"] = round(percentile(latencies, 95), 1) if latencies else None
    metrics["latency_max_ms"] = round(max(latencies), 1) if latencies else None
    metrics["score"] = round(mean([r.score for r in results]), 4) if results else None
    return Aggregate(cases=len(results), errors=sum(1 for r in results if r.error), metrics=metrics)


def _group(results: Sequence[CaseResult], key: Callable[[CaseResult], str], order: Sequence[str]) -> dict[str, Aggregate]:
    groups: dict[str, list[CaseResult]] = {}
    for r in results:
        groups.setdefault(key(r), []).append(r)
    names = [n for n in order if n in groups] + sorted(n for n in groups if n not in order)
    return {n: aggregate(groups[n]) for n in names}


def with_scripts(agg: Aggregate, scripts: Sequence[ScriptResult]) -> Aggregate:
    """The cases' aggregate with the script metrics of `scripts` added (None where none applies)."""
    metrics = {**agg.metrics, **aggregate_scripts(scripts)}
    errors = agg.errors + sum(1 for r in scripts if r.error)
    return agg.model_copy(update={"metrics": metrics, "scripts": len(scripts), "errors": errors})


def _group_with_scripts(
    results: Sequence[CaseResult],
    scripts: Sequence[ScriptResult],
    case_key: Callable[[CaseResult], str],
    script_key: Callable[[ScriptResult], str],
    order: Sequence[str],
) -> dict[str, Aggregate]:
    """Per group (split, language): the cases' aggregate with that group's scripts added; a group
    with scripts but no cases (nynorsk) gets one too."""
    groups = _group(results, case_key, order)
    names = list(groups) + [n for n in dict.fromkeys(script_key(r) for r in scripts) if n not in groups]
    names = [n for n in order if n in names] + [n for n in names if n not in order]
    return {
        n: with_scripts(groups.get(n) or aggregate([]), [r for r in scripts if script_key(r) == n])
        for n in names
    }


def tqdm_progress(total: int, label: str) -> Progress:
    """A tqdm bar on stderr (hidden when stderr is not a terminal)."""
    return _tqdm_progress(total, label, unit="case")


# --- the run ------------------------------------------------------------------------------------------
def run_eval(
    settings: Settings,
    runtime: Runtime,
    cases: Sequence[EvalCase],
    chat_model: ChatModel | None = None,
    progress: ProgressFactory | None = None,
    *,
    judge: Judge | None = None,
    filters: dict[str, object] | None = None,
    scripts: Sequence[ReflectionScript] = (),
    remote: RemoteEngine | None = None,
) -> EvalRun:
    """Answer and score every case, then replay every reflection script. `chat_model` None means:
    the backend the settings configure (`Runtime.engine`; None again for the extractive default).
    `remote` (`evals.remote`): the cases are answered by a running assistant over HTTP instead,
    and scored the same way; only the similarity's embedder is this process's, and the reflection
    scripts are not run. One case or script failing is recorded as its error; the run goes on."""
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    warm = getattr(runtime.embedder, "warm_up", None)
    if callable(warm):
        warm()
    if remote is not None:
        engine = remote
        chunks = remote.chunks  # filled by each answer with the chunks it was built from
        index = remote.health["index"]
        fingerprint = CorpusFingerprint(fingerprint=index["fingerprint"], chunks=index["chunks"], documents=index["documents"],
                                        embedding_model=index["embedding_model"])
        scripts = ()
        filters = {**(filters or {}), "endpoint": remote.url}
    else:
        retriever = runtime.retriever
        retriever.warm_up()  # StoreError with a clear message when nothing is indexed
        engine = runtime.engine
        if chat_model is not None:
            engine = AnswerEngine(AnswerConfig.from_settings(settings), retriever, runtime.embedder, chat_model)
        chunks = dict(retriever.chunks)
        fingerprint = corpus_fingerprint(list(chunks.values()), runtime.embedder.model_id)
    system_prompts = _system_prompts(settings)
    claims = load_injection_claims()
    secrets = _secrets(settings)
    warm_up_seconds = time.perf_counter() - t0

    tick = progress(len(cases), "eval") if progress else None
    results: list[CaseResult] = []
    for case in cases:
        results.append(_run_case(engine, case, chunks, judge, system_prompts, claims.get(case.id, []), secrets))
        if tick:
            tick(1)

    _add_similarity(results, runtime.embedder)
    script_tick = progress(len(scripts), "reflection scripts") if progress and scripts else None
    script_results = run_scripts(settings, runtime, engine, scripts, script_tick) if scripts else []
    run_seconds = time.perf_counter() - t0
    backend = remote.backend if remote is not None else chat_model.name if chat_model is not None else "extractive"
    return EvalRun(
        started_at=started_at,
        seconds=round(run_seconds, 2),
        warm_up_seconds=round(warm_up_seconds, 2),
        backend=backend,
        judge=judge.name if judge is not None else None,
        settings=settings.public_view(),
        corpus=fingerprint,
        filters=filters or {},
        results=results,
        scripts=script_results,
        overall=with_scripts(aggregate(results), script_results),
        by_type=_group(results, lambda r: r.case.type, CASE_TYPES),
        by_language=_group_with_scripts(results, script_results, lambda r: r.case.language, lambda r: r.script.language, ("nb", "nn", "en")),
        by_split=_group_with_scripts(results, script_results, lambda r: r.case.split, lambda r: r.script.split, SPLITS),
        by_construction=list(by_construction(backend)),
    )


def _run_case(
    engine: AnswerEngine | RemoteEngine,
    case: EvalCase,
    chunks: dict[str, Chunk],
    judge: Judge | None,
    system_prompts: Sequence[str],
    claims: Sequence[str],
    secrets: Sequence[str],
) -> CaseResult:
    history = [ChatMessage(t.role, t.content) for t in case.history]
    try:
        answer = engine.answer(case.question, mode=case.mode, history=history, stage=case.stage)
    except Exception as exc:  # noqa: BLE001 - one broken case must not end the run; it is reported
        return CaseResult(case=case, scores=dict.fromkeys(CASE_METRICS), error=f"{type(exc).__name__}: {exc}")
    result = score_case(
        case, answer, chunks, system_prompts=system_prompts, injection_claims=claims, secrets=secrets,
        k=max(5, engine.config.answer_chunks),
    )
    if judge is not None and not answer.error:
        verdict = judge.score(
            question=case.question,
            answer=answer_body(answer.body),
            reference=case.reference,
            passages=[c.passage for c in answer.citations],
            refused=answer.refused,
        )
        result.scores["judge_faithfulness"] = None if verdict.faithfulness is None else round(verdict.faithfulness, 4)
        result.scores["judge_correctness"] = None if verdict.correctness is None else round(verdict.correctness, 4)
        result.judge_errors = verdict.errors
    return result


def _add_similarity(results: list[CaseResult], embedder, batch: int = 32) -> None:
    """Cosine between the answer body (without [n]) and the reference, embedded as passages."""
    todo = [r for r in results if r.answer is not None]
    texts: list[str] = []
    for r in todo:
        texts += [answer_body(r.answer.body) or " ", r.case.reference]  # type: ignore[union-attr]
    vectors = []
    for i in range(0, len(texts), batch):
        vectors.extend(embedder.embed_passages(texts[i : i + batch]))
    for n, r in enumerate(todo):
        body = answer_body(r.answer.body)  # type: ignore[union-attr]
        sim = cosine(vectors[2 * n], vectors[2 * n + 1]) if body else 0.0
        r.scores["semantic_similarity"] = round(sim, 4)


# --- thresholds ---------------------------------------------------------------------------------------
class ThresholdError(ConfigError, ValueError):
    """The thresholds file is invalid."""


def load_thresholds(path: Path = DEFAULT_THRESHOLDS) -> dict[str, dict[str, float]]:
    """`[min]` and `[max]` tables of metric -> number (overall aggregates)."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ThresholdError(f"{path}: cannot read ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ThresholdError(f"{path}: invalid TOML ({exc})") from exc
    known = (
        set(CASE_METRICS) | {"refusal_precision", "refusal_recall", "score"} | set(RATE_METRICS) | set(LATENCY_METRICS)
        | set(MODEL_METRICS) | set(SCRIPT_METRICS)
    )
    out: dict[str, dict[str, float]] = {}
    for bound in ("min", "max"):
        table = data.get(bound, {})
        if not isinstance(table, dict):
            raise ThresholdError(f"{path}: [{bound}] must be a table")
        for metric, value in table.items():
            if metric not in known:
                raise ThresholdError(f"{path}: [{bound}] {metric}: unknown metric (known: {', '.join(sorted(known))})")
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ThresholdError(f"{path}: [{bound}] {metric}: must be a number")
        out[bound] = {k: float(v) for k, v in table.items()}
    unknown = set(data) - {"min", "max"}
    if unknown:
        raise ThresholdError(f"{path}: unknown table(s) {sorted(unknown)}; use [min] and [max]")
    return out


def check_thresholds(run: EvalRun, thresholds: dict[str, dict[str, float]], split: str = GATED_SPLIT) -> list[ThresholdCheck]:
    """Compare the `split` aggregates (the frozen test split) with the thresholds. Skipped (passed
    None, with a note): a metric not measured in this run, and one that holds by construction for
    the backend under test."""
    group = run.by_split.get(split)
    metrics = group.metrics if group is not None else {}
    checks: list[ThresholdCheck] = []
    for bound in ("min", "max"):
        for metric, limit in thresholds.get(bound, {}).items():
            value = metrics.get(metric)
            note = ""
            if metric in run.by_construction:
                passed, note = None, f"by construction for {run.backend}: not gated"
            elif value is None:
                passed, note = None, "not measured" if group is not None else f"no {split} cases in this run"
            else:
                passed = value >= limit if bound == "min" else value <= limit
            checks.append(ThresholdCheck(metric=metric, split=split, bound=bound, threshold=limit, value=value, passed=passed, note=note))
    return checks
