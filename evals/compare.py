"""Compare two eval reports: per-metric deltas and the cases that got better or worse.

`compare_runs(before, after)` takes two `EvalRun`s (see `evals.report.load_run`
for reading a report folder or report.json). A case counts as better or worse
when its case score moves by more than `min_change`, or when it flips between
refused and answered; cases only in one run are listed as added or removed.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from evals.report import LABELS, fmt
from evals.reflection import SCRIPT_METRICS
from evals.runner import CASE_METRICS, CASE_TYPES, LATENCY_METRICS, RATE_METRICS, CaseResult, EvalRun, aggregate

# Script metrics are compared as the runs report them (over each run's own scripts).
COMPARED = tuple(dict.fromkeys(
    (*CASE_METRICS, "refusal_precision", "refusal_recall", *RATE_METRICS, "score", *LATENCY_METRICS, *SCRIPT_METRICS)
))
LOWER_IS_BETTER = set(LATENCY_METRICS) | set(RATE_METRICS)


class MetricDelta(BaseModel):
    metric: str
    before: float | None
    after: float | None
    delta: float | None
    better: bool | None  # None: unchanged or not comparable


class CaseChange(BaseModel):
    id: str
    type: str
    before: float
    after: float
    delta: float
    note: str = ""


class Comparison(BaseModel):
    before: str
    after: str
    same_corpus: bool
    same_cases: bool
    common_cases: int = 0  # when the case sets differ, deltas are over these shared cases only
    settings_changed: dict[str, list[object]]
    overall: list[MetricDelta]
    by_type: dict[str, list[MetricDelta]]
    better: list[CaseChange]
    worse: list[CaseChange]
    changed: list[CaseChange] = []
    added: list[str]
    removed: list[str]


def metric_deltas(before: dict[str, float | None], after: dict[str, float | None], eps: float = 1e-9) -> list[MetricDelta]:
    out = []
    for m in COMPARED:
        b, a = before.get(m), after.get(m)
        if b is None and a is None:
            continue
        delta = None if b is None or a is None else round(a - b, 4)
        better = None
        if delta is not None and abs(delta) > eps:
            better = delta < 0 if m in LOWER_IS_BETTER else delta > 0
        out.append(MetricDelta(metric=m, before=b, after=a, delta=delta, better=better))
    return out


def _refused(r: CaseResult) -> bool | None:
    return None if r.answer is None else (r.answer.refused or r.answer.declined)


def compare_runs(
    before: EvalRun, after: EvalRun, *, before_name: str = "A", after_name: str = "B", min_change: float = 0.05
) -> Comparison:
    b_cases = {r.case.id: r for r in before.results}
    a_cases = {r.case.id: r for r in after.results}
    better: list[CaseChange] = []
    worse: list[CaseChange] = []
    changed: list[CaseChange] = []  # same score, but refused/answered or error status flipped
    for cid in [c for c in b_cases if c in a_cases]:
        rb, ra = b_cases[cid], a_cases[cid]
        delta = round(ra.score - rb.score, 4)
        notes = []
        if _refused(rb) != _refused(ra) and None not in (_refused(rb), _refused(ra)):
            notes.append("nå avvist" if _refused(ra) else "nå besvart")
        if bool(rb.error) != bool(ra.error):
            notes.append("feiler nå" if ra.error else "feiler ikke lenger")
        if abs(delta) <= min_change and not notes:
            continue
        change = CaseChange(id=cid, type=ra.case.type, before=rb.score, after=ra.score, delta=delta, note=", ".join(notes))
        (better if delta > 0 else worse if delta < 0 else changed).append(change)
    settings_changed = {
        k: [before.settings.get(k), after.settings.get(k)]
        for k in sorted(set(before.settings) | set(after.settings))
        if before.settings.get(k) != after.settings.get(k) and k not in ("data_dir", "chroma_path")
    }
    same_cases = set(b_cases) == set(a_cases)
    if same_cases:
        b_overall, a_overall = before.overall.metrics, after.overall.metrics
        b_types, a_types = before.by_type, after.by_type
    else:  # compare like with like: aggregate both runs over the cases they share
        common = [cid for cid in b_cases if cid in a_cases]
        b_common, a_common = [b_cases[c] for c in common], [a_cases[c] for c in common]
        b_overall = {**aggregate(b_common).metrics, **{m: before.overall.metrics.get(m) for m in SCRIPT_METRICS}}
        a_overall = {**aggregate(a_common).metrics, **{m: after.overall.metrics.get(m) for m in SCRIPT_METRICS}}
        b_types = {t: aggregate([r for r in b_common if r.case.type == t]) for t in CASE_TYPES}
        a_types = {t: aggregate([r for r in a_common if r.case.type == t]) for t in CASE_TYPES}
    by_type = {
        t: metric_deltas(b_types[t].metrics, a_types[t].metrics)
        for t in a_types
        if t in b_types and b_types[t].cases and a_types[t].cases
    }
    return Comparison(
        before=before_name,
        after=after_name,
        same_corpus=before.corpus.fingerprint == after.corpus.fingerprint,
        same_cases=same_cases,
        common_cases=sum(1 for c in b_cases if c in a_cases),
        settings_changed=settings_changed,
        overall=metric_deltas(b_overall, a_overall),
        by_type=by_type,
        better=sorted(better, key=lambda c: (-c.delta, c.id)),
        worse=sorted(worse, key=lambda c: (c.delta, c.id)),
        changed=sorted(changed, key=lambda c: c.id),
        added=sorted(set(a_cases) - set(b_cases)),
        removed=sorted(set(b_cases) - set(a_cases)),
    )


def _signed(delta: float | None, metric: str) -> str:
    if delta is None:
        return "–"
    if delta == 0:
        return "0"
    return ("+" if delta > 0 else "") + fmt(delta, metric)


def _arrow(d: MetricDelta) -> str:
    return "" if d.better is None else ("bedre" if d.better else "verre")


def render_comparison(c: Comparison, max_cases: int = 20) -> str:
    """Markdown (also readable as plain text in a terminal)."""
    lines = [f"# Sammenligning: {c.before} → {c.after}"]
    if not (c.same_corpus and c.same_cases and not c.settings_changed):
        lines.append("")
    if not c.same_corpus:
        lines.append("- Merk: korpuset er ikke det samme (ulikt fingeravtrykk).")
    if not c.same_cases:
        lines.append(
            f"- Merk: ulike case ({len(c.added)} nye, {len(c.removed)} fjernet); endringene under gjelder de "
            f"{c.common_cases} felles casene."
        )
    for key, (old, new) in c.settings_changed.items():
        lines.append(f"- Innstilling `{key}`: {old} → {new}")
    lines += ["", "| mål | før | etter | endring | |", "|---|---|---|---|---|"]
    for d in c.overall:
        lines.append(f"| `{d.metric}` | {fmt(d.before, d.metric)} | {fmt(d.after, d.metric)} | {_signed(d.delta, d.metric)} | {_arrow(d)} |")
    changed_types = {
        t: [d for d in ds if d.better is not None and d.metric in LABELS and d.metric not in LOWER_IS_BETTER]
        for t, ds in c.by_type.items()
    }
    if any(changed_types.values()):
        lines += ["", "## Endringer per type", ""]
        for t, ds in changed_types.items():
            if ds:
                lines.append(f"- {t}: " + ", ".join(f"`{d.metric}` {_signed(d.delta, d.metric)}" for d in ds))
    for title, items in (("Bedre", c.better), ("Verre", c.worse), ("Endret uten ny score", c.changed)):
        lines += ["", f"## {title} ({len(items)})", ""]
        if not items:
            lines.append("Ingen.")
            continue
        lines += ["| case | type | før | etter | endring | merknad |", "|---|---|---|---|---|---|"]
        for ch in items[:max_cases]:
            lines.append(f"| `{ch.id}` | {ch.type} | {ch.before:.2f} | {ch.after:.2f} | {ch.delta:+.2f} | {ch.note} |")
        if len(items) > max_cases:
            lines.append(f"| … | {len(items) - max_cases} til | | | | |")
    for title, ids in (("Nye case", c.added), ("Fjernede case", c.removed)):
        if ids:
            more = f" … ({len(ids) - 30} til)" if len(ids) > 30 else ""
            lines += ["", f"{title} ({len(ids)}): " + ", ".join(ids[:30]) + more]
    return "\n".join(lines) + "\n"


def regressions(c: Comparison, metrics: Sequence[str] = ()) -> list[MetricDelta]:
    """Overall metrics that got worse (optionally only among `metrics`)."""
    return [d for d in c.overall if d.better is False and (not metrics or d.metric in metrics)]
