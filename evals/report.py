"""Write an eval run to a report folder: report.json, summary.md and report.html.

- `report.json`: the whole `EvalRun` (settings, corpus fingerprint, every case's
  inputs, answer and scores, aggregates, threshold checks); `evals.compare` reads it.
- `summary.md`: headline metrics (with thresholds), per type and per language, worst cases.
- `report.html`: one self-contained page (no scripts, no external assets, a
  Content-Security-Policy that forbids loading anything): bar chart per metric,
  per-type breakdown, the worst cases with answers and sources. All answer and
  case text is HTML-escaped: answers may carry hostile input from injection cases.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from evals.runner import (
    JUDGE_METRICS,
    LATENCY_METRICS,
    MODEL_METRICS,
    UNIT_METRICS,
    Aggregate,
    CaseResult,
    EvalRun,
    ThresholdCheck,
)
from evals.reflection import SCRIPT_METRICS, ScriptResult, script_issues, script_score

# Headline metrics in report order (judge metrics are shown separately when present).
HEADLINE = (
    "hit_at_5",
    "mrr",
    "document_recall",
    "fact_recall",
    "answer_first",
    "semantic_similarity",
    "rouge_l",
    "citation_validity",
    "citation_coverage",
    "refusal_precision",
    "refusal_recall",
    "false_refusal_rate",
    "injection_resistance",
)
# The bar chart: every 0..1 metric of the headline, plus hit@1 and per-case refusal correctness.
UNIT_METRICS_ORDER = tuple(m for m in ("hit_at_1", *HEADLINE, "refusal_correct") if m in UNIT_METRICS)
TYPE_COLUMNS = ("hit_at_5", "document_recall", "fact_recall", "semantic_similarity", "rouge_l",
                "citation_coverage", "refusal_correct", "injection_resistance")

LABELS = {
    "hit_at_1": "treff@1: rett dokument først",
    "hit_at_5": "treff@5: rett dokument blant de hentede",
    "mrr": "MRR: 1 / plass for første rette dokument",
    "document_recall": "andel forventede dokumenter hentet",
    "fact_recall": "andel påkrevde fakta i svaret (fakta fra spørsmålet teller ikke)",
    "answer_first": "første setning i svaret sier et påkrevd faktum",
    "semantic_similarity": "e5-likhet med referansesvaret",
    "rouge_l": "ROUGE-L mot referansesvaret",
    "citation_validity": "andel kildehenvisninger til hentede kilder",
    "citation_coverage": "andel setninger med kildehenvisning",
    "refusal_correct": "riktig avvist / besvart",
    "refusal_precision": "avvisningspresisjon",
    "refusal_recall": "avvisningsdekning (utenfor tema avvist eller «materialet sier ikke»)",
    "false_refusal_rate": "andel spørsmål materialet dekker som ble avvist eller avslått (lavere er bedre)",
    "verified_share": "modell: andel av modellens setninger som kildene støtter",
    "fallback_rate": "modell: andel svar der det uttrekkende svaret ble vist i stedet (lavere er bedre)",
    "unsupported_shown": "modell: setninger vist uten kilde eller med tall kilden mangler (skal være 0)",
    "injection_resistance": "motstand mot instruksinjeksjon",
    "judge_faithfulness": "dommer: påstander støttet av kildene",
    "judge_correctness": "dommer: korrekthet mot referansen",
    "score": "case-score (snitt av primærmål)",
    "latency_mean_ms": "svartid, snitt (ms)",
    "latency_p50_ms": "svartid, median (ms)",
    "latency_p95_ms": "svartid, 95-persentil (ms)",
    "latency_max_ms": "svartid, maks (ms)",
    "mirror_keep_rate": "refleksjon: andel nøkkelfraser speilingen beholder",
    "repeated_insight_rate": "refleksjon: andel innsikter som er gjentatt i samme samtale (lavere er bedre)",
    "repeated_question_rate": "refleksjon: andel spørsmål som er gjentatt i samme samtale (lavere er bedre)",
    "one_summary": "refleksjon: andel samtaler med nøyaktig én oppsummering",
    "commitment_recall": "refleksjon: andel forpliktelser oppsummeringen lister",
    "worry_exclusion": "refleksjon: andel bekymringer som ikke er oppført som forpliktelser",
}
BY_CONSTRUCTION_LABEL = "gitt av konstruksjonen"
SPLIT_LABELS = {"test": "test (frosset)", "dev": "dev"}
TYPE_LABELS = {"fact": "fakta", "reflection": "refleksjon", "out_of_scope": "utenfor tema", "injection": "injeksjon"}


class ReportPaths(BaseModel):
    folder: str
    json_path: str
    summary: str
    html: str | None = None


# --- shared helpers ------------------------------------------------------------------------------------
def fmt(value: float | None, metric: str = "") -> str:
    if value is None:
        return "–"
    if metric.endswith("_ms") or metric == "unsupported_shown":
        return f"{value:.0f}"
    return f"{value:.3f}"


def worst_cases(run: EvalRun, n: int = 10) -> list[CaseResult]:
    """Errors first, then the lowest case score (ties: lowest ROUGE-L); perfect cases are left out."""
    def key(r: CaseResult):
        return (0 if r.error else 1, r.score, r.scores.get("rouge_l") or 0.0, r.case.id)

    pool = [r for r in run.results if r.error or r.score < 1.0]
    return sorted(pool, key=key)[:n]


def case_issues(r: CaseResult) -> list[str]:
    """What went wrong with one case, in short bokmål phrases."""
    issues: list[str] = []
    if r.error:
        issues.append(f"feil: {r.error}")
    a = r.answer
    if a is None:
        return issues
    if r.case.type == "out_of_scope" and not (a.refused or a.declined) and r.case.mode == "qa":
        issues.append("besvart, men er utenfor tema")
    if r.case.type != "out_of_scope" and a.refused:
        issues.append("avvist, men materialet dekker det")
    elif r.case.type != "out_of_scope" and a.declined:
        issues.append("sier at materialet ikke dekker det, men det gjør det")
    if r.facts_missing:
        issues.append("mangler fakta: " + ", ".join(r.facts_missing))
    missing_docs = [d for d in r.case.documents if d not in r.retrieved_sources]
    if missing_docs:
        issues.append("ikke hentet: " + ", ".join(missing_docs))
    if r.injection_violations:
        issues.append("injeksjon: " + "; ".join(r.injection_violations))
    if (r.scores.get("citation_validity") or 1.0) < 1.0:
        issues.append("henviser til kilder som ikke ble hentet")
    return issues


def _threshold_map(checks: Sequence[ThresholdCheck]) -> dict[str, ThresholdCheck]:
    return {c.metric: c for c in checks}


def _status(check: ThresholdCheck | None) -> str:
    if check is None:
        return ""
    if check.passed is None:
        return BY_CONSTRUCTION_LABEL if check.note.startswith("by construction") else "ikke målt"
    return "ok" if check.passed else "UNDER TERSKEL" if check.bound == "min" else "OVER TERSKEL"


# --- summary.md ------------------------------------------------------------------------------------------
def _md(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def render_summary(run: EvalRun, worst: int = 10) -> str:
    o = run.overall
    checks = _threshold_map(run.thresholds)
    lines = [
        "# Eval-rapport",
        "",
        f"- Kjørt: {run.started_at}, {run.seconds:.1f} s for {o.cases} case"
        f" ({run.seconds / max(1, o.cases):.2f} s per case), backend `{run.backend}`",
        f"- Korpus: fingeravtrykk `{run.corpus.fingerprint}`, {run.corpus.documents} dokumenter, "
        f"{run.corpus.chunks} biter, embedder `{run.corpus.embedding_model}`",
    ]
    if run.filters:
        lines.append("- Utvalg: " + ", ".join(f"{k}={v}" for k, v in run.filters.items()))
    if o.errors:
        lines.append(f"- **{o.errors} case feilet** (se worst cases)")
    failed = [c for c in run.thresholds if c.passed is False]
    if run.thresholds:
        lines.append(f"- Terskler: {'**' + str(len(failed)) + ' brutt**' if failed else 'alle holdt'}")
    splits = _splits(run)
    lines += [
        "", "## Hovedtall", "",
        "Tersklene gjelder test-delen (frosset: aldri brukt til å velge en konstant eller regel); "
        "dev er fri til tuning. Mål merket «" + BY_CONSTRUCTION_LABEL + "» kan ikke feile med denne "
        "backenden: de rapporteres, men er ikke målt kvalitet og har ingen terskel.", "",
        "| mål | " + " | ".join(SPLIT_LABELS.get(sp, sp) + f" ({run.by_split[sp].cases})" for sp in splits)
        + " | alle | terskel (test) | status | betydning |",
        "|---|" + "---|" * len(splits) + "---|---|---|---|",
    ]
    model_rows = tuple(m for m in MODEL_METRICS if o.metrics.get(m) is not None)  # model backends only
    for m in (*HEADLINE, *model_rows, "score", *LATENCY_METRICS[1:3]):
        c = checks.get(m)
        bound = "" if c is None else (f"≥ {c.threshold:g}" if c.bound == "min" else f"≤ {c.threshold:g}")
        values = " | ".join(fmt(run.by_split[sp].metrics.get(m), m) for sp in splits)
        status = BY_CONSTRUCTION_LABEL if m in run.by_construction else _status(c)
        lines.append(f"| `{m}` | {values} | {fmt(o.metrics.get(m), m)} | {bound} | {status} | {LABELS.get(m, '')} |")
    if any(o.metrics.get(m) is not None for m in JUDGE_METRICS):
        lines += ["", f"### Modelldommer (`{run.judge}`), rapporteres separat", "", "| mål | verdi |", "|---|---|"]
        lines += [f"| `{m}` | {fmt(o.metrics.get(m))} |" for m in JUDGE_METRICS]
    lines += _md_scripts(run, checks, splits, worst)
    lines += ["", "## Per type (alle case)", ""]
    lines += _md_group_table(run.by_type, TYPE_COLUMNS, TYPE_LABELS)
    lines += ["", "## Per språk", ""]
    lines += _md_group_table(run.by_language, (*TYPE_COLUMNS, "refusal_recall"), {})
    lines += ["", f"## Dårligste case (opptil {worst})", ""]
    rows = worst_cases(run, worst)
    if not rows:
        lines.append("Ingen: alle case fikk full score.")
    else:
        lines += ["| case | type | score | spørsmål | hva gikk galt |", "|---|---|---|---|---|"]
        for r in rows:
            q = r.case.question if len(r.case.question) <= 90 else r.case.question[:89] + "…"
            lines.append(
                f"| `{r.case.id}` | {r.case.type} | {r.score:.2f} | {_md(q)} | {_md('; '.join(case_issues(r)) or '–')} |"
            )
    lines += ["", "Hele kjøringen: `report.json`; med svar og kilder: `report.html`.", ""]
    return "\n".join(lines)


def worst_scripts(run: EvalRun, n: int = 10) -> list[ScriptResult]:
    """Errors first, then the lowest script score; scripts without an issue are left out."""
    pool = [r for r in run.scripts if script_issues(r)]
    return sorted(pool, key=lambda r: (0 if r.error else 1, script_score(r), r.script.id))[:n]


def _md_scripts(run: EvalRun, checks: dict[str, ThresholdCheck], splits: Sequence[str], worst: int) -> list[str]:
    """The reflection scripts' section of summary.md: metrics per split, then the worst scripts."""
    if not run.scripts:
        return []
    lines = [
        "", f"## Refleksjonsskript ({len(run.scripts)} samtaler gjennom alle fasene)", "",
        "| mål | " + " | ".join(f"{SPLIT_LABELS.get(sp, sp)} ({run.by_split[sp].scripts})" for sp in splits)
        + " | alle | terskel (test) | status | betydning |",
        "|---|" + "---|" * len(splits) + "---|---|---|---|",
    ]
    for m in SCRIPT_METRICS:
        c = checks.get(m)
        bound = "" if c is None else (f"≥ {c.threshold:g}" if c.bound == "min" else f"≤ {c.threshold:g}")
        values = " | ".join(fmt(run.by_split[sp].metrics.get(m), m) for sp in splits)
        lines.append(f"| `{m}` | {values} | {fmt(run.overall.metrics.get(m), m)} | {bound} | {_status(c)} | {LABELS.get(m, '')} |")
    rows = worst_scripts(run, worst)
    lines += ["", f"### Dårligste skript (opptil {worst})", ""]
    if not rows:
        return lines + ["Ingen: alle skript holdt alle mål."]
    lines += ["| skript | språk | del | hva gikk galt |", "|---|---|---|---|"]
    lines += [f"| `{r.script.id}` | {r.script.language} | {r.script.split} | {_md('; '.join(script_issues(r)))} |" for r in rows]
    return lines


def _splits(run: EvalRun) -> list[str]:
    return [sp for sp in ("test", "dev") if sp in run.by_split]


def _md_group_table(groups: dict[str, Aggregate], columns: Sequence[str], labels: dict[str, str]) -> list[str]:
    head = "| gruppe | case | " + " | ".join(f"`{c}`" for c in columns) + " | svartid p50 (ms) |"
    sep = "|---|---|" + "---|" * len(columns) + "---|"
    rows = [head, sep]
    for name, agg in groups.items():
        cells = " | ".join(fmt(agg.metrics.get(c), c) for c in columns)
        rows.append(f"| {labels.get(name, name)} | {agg.cases} | {cells} | {fmt(agg.metrics.get('latency_p50_ms'), '_ms')} |")
    return rows


# --- report.html -----------------------------------------------------------------------------------------
def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#1d2430;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #d5dbe3;padding-bottom:.2rem}
.meta{color:#4a5565;font-size:.92rem}.meta code{font-size:.88rem}
table{border-collapse:collapse;width:100%;font-size:.9rem;margin:.6rem 0}
th,td{border-bottom:1px solid #e3e7ee;padding:.3rem .45rem;text-align:left;vertical-align:top}
th{background:#f3f5f8;font-weight:600;font-size:.8rem}
.wide{overflow-x:auto}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.bad{color:#a3172b;font-weight:600}.ok{color:#1d6b34}.skip{color:#6b7380}
.case{border:1px solid #d5dbe3;border-radius:6px;padding:.7rem 1rem;margin:1rem 0;background:#fcfcfd}
.case h3{margin:.1rem 0 .4rem;font-size:1.05rem}
pre{white-space:pre-wrap;word-wrap:break-word;background:#f3f5f8;padding:.6rem;border-radius:4px;font-size:.85rem;max-height:28rem;overflow:auto}
.tag{display:inline-block;background:#e6ebf2;border-radius:3px;padding:0 .35rem;margin-right:.3rem;font-size:.8rem}
ul.issues{margin:.3rem 0;padding-left:1.2rem;color:#a3172b}
svg text{font-family:inherit}
"""


def _bar_chart(metrics: dict[str, float | None], names: Sequence[str], checks: dict[str, ThresholdCheck]) -> str:
    """Horizontal bars for 0..1 metrics, with threshold ticks."""
    rows = [m for m in names if m in metrics]
    label_w, bar_w, row_h, pad = 300, 420, 24, 10
    width, height = label_w + bar_w + 70, pad * 2 + row_h * len(rows) + 18
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="Hovedtall per mål">'
    ]
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = label_w + bar_w * t
        parts.append(f'<line x1="{x:.1f}" y1="{pad}" x2="{x:.1f}" y2="{height - 18}" stroke="#e3e7ee"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - 4}" font-size="11" text-anchor="middle" fill="#6b7380">{t:g}</text>')
    for i, m in enumerate(rows):
        y = pad + i * row_h
        value = metrics.get(m)
        check = checks.get(m)
        failed = check is not None and check.passed is False
        parts.append(f'<text x="{label_w - 8}" y="{y + 16}" font-size="12" text-anchor="end">{esc(m)}</text>')
        if value is not None:
            w = bar_w * max(0.0, min(1.0, value))
            color = "#c4314b" if failed else "#3b6fb6"
            parts.append(f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" fill="{color}" rx="2">'
                         f"<title>{esc(m)}: {fmt(value)} ({esc(LABELS.get(m, ''))})</title></rect>")
            parts.append(f'<text x="{label_w + w + 5:.1f}" y="{y + 16}" font-size="12">{fmt(value)}</text>')
        else:
            parts.append(f'<text x="{label_w + 5}" y="{y + 16}" font-size="12" fill="#6b7380">ikke målt</text>')
        if check is not None and check.bound == "min":
            x = label_w + bar_w * max(0.0, min(1.0, check.threshold))
            parts.append(f'<line x1="{x:.1f}" y1="{y + 1}" x2="{x:.1f}" y2="{y + row_h - 1}" stroke="#1d2430" stroke-width="2">'
                         f"<title>terskel {check.threshold:g}</title></line>")
    parts.append("</svg>")
    return "".join(parts)


def _cell_bar(value: float | None, metric: str) -> str:
    if value is None:
        return '<td class="num skip">–</td>'
    w = 40 * max(0.0, min(1.0, value))
    return (f'<td class="num">{fmt(value, metric)}<br><svg width="40" height="8" aria-hidden="true">'
            f'<rect x="0" y="0" width="40" height="8" fill="#e6ebf2"/><rect x="0" y="0" width="{w:.1f}" height="8" fill="#3b6fb6"/></svg></td>')


def _group_table(groups: dict[str, Aggregate], columns: Sequence[str], labels: dict[str, str]) -> str:
    head = "".join(f"<th title=\"{esc(LABELS.get(c, ''))}\">{esc(c).replace('_', '_<wbr>')}</th>" for c in columns)
    out = [f"<div class=\"wide\"><table><thead><tr><th>gruppe</th><th>case</th>{head}<th>svartid p50 (ms)</th></tr></thead><tbody>"]
    for name, agg in groups.items():
        cells = "".join(_cell_bar(agg.metrics.get(c), c) for c in columns)
        out.append(f"<tr><td>{esc(labels.get(name, name))}</td><td class=\"num\">{agg.cases}</td>{cells}"
                   f"<td class=\"num\">{fmt(agg.metrics.get('latency_p50_ms'), '_ms')}</td></tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _case_html(r: CaseResult) -> str:
    c = r.case
    parts = [
        '<div class="case">',
        f"<h3>{esc(c.id)} <span class=\"tag\">{esc(TYPE_LABELS.get(c.type, c.type))}</span>"
        f"<span class=\"tag\">{esc(c.language)}</span><span class=\"tag\">{esc(c.mode)}</span><span class=\"tag\">{esc(c.split)}</span>"
        f"<span class=\"tag\">score {r.score:.2f}</span></h3>",
    ]
    issues = case_issues(r)
    if issues:
        parts.append("<ul class=\"issues\">" + "".join(f"<li>{esc(i)}</li>" for i in issues) + "</ul>")
    for turn in c.history:
        parts.append(f"<p><b>Tidligere ({esc(turn.role)}):</b> {esc(turn.content)}</p>")
    parts.append(f"<p><b>Spørsmål:</b></p><pre>{esc(c.question)}</pre>")
    parts.append(f"<p><b>Referanse:</b> {esc(c.reference)}</p>")
    if r.facts_given:
        parts.append("<p><b>Fakta gitt i spørsmålet (telles ikke):</b> " + ", ".join(esc(f) for f in r.facts_given) + "</p>")
    if c.facts:
        found = ", ".join(esc(f) for f in r.facts_found) or "–"
        missing = ", ".join(esc(f) for f in r.facts_missing) or "–"
        parts.append(f"<p><b>Fakta funnet:</b> {found} &nbsp; <b>mangler:</b> <span class=\"bad\">{missing}</span></p>")
    if c.documents:
        parts.append("<p><b>Forventede dokumenter:</b> " + ", ".join(f"<code>{esc(d)}</code>" for d in c.documents) + "</p>")
    parts.append("<p><b>Hentede kilder (rangert):</b> "
                 + (", ".join(f"<code>{esc(s)}</code>" for s in r.retrieved_sources) or "ingen") + "</p>")
    a = r.answer
    if a is not None:
        parts.append(f"<p><b>Svar</b> ({esc(a.backend)}, {'avvist' if a.refused else 'avslått med nærmeste materiale' if a.declined else 'besvart'}, {a.timings.total_ms:.0f} ms):</p>")
        parts.append(f"<pre>{esc(a.text)}</pre>")
        if a.citations:
            parts.append("<p><b>Kilder i svaret:</b></p><ol>")
            for cit in a.citations:
                where = f", {cit.locator}" if cit.locator else ""
                parts.append(f"<li value=\"{int(cit.number)}\">{esc(cit.title)}{esc(where)} (<code>{esc(cit.source)}</code>)</li>")
            parts.append("</ol>")
    scores = ", ".join(f"{esc(k)} {fmt(v, k)}" for k, v in r.scores.items() if v is not None)
    parts.append(f"<p class=\"meta\">{scores}</p></div>")
    return "".join(parts)


def _script_html(r: ScriptResult) -> str:
    s = r.script
    parts = [
        '<div class="case">',
        f"<h3>{esc(s.id)} <span class=\"tag\">{esc(s.language)}</span><span class=\"tag\">{esc(s.split)}</span>"
        f"<span class=\"tag\">{r.summaries} oppsummering(er)</span></h3>",
        "<ul class=\"issues\">" + "".join(f"<li>{esc(i)}</li>" for i in script_issues(r)) + "</ul>",
    ]
    for n, t in enumerate(r.turns, start=1):
        step = f"<b>{n}. Deltaker:</b> {esc(t.step.say)}" if t.step.say is not None else f"<b>{n}. Trykker:</b> {esc(t.step.press)}"
        parts.append(f"<p>{step} <span class=\"tag\">{esc(t.stage or '')}</span></p><pre>{esc(t.text)}</pre>")
    parts.append("<p><b>Forpliktelser i oppsummeringen:</b> " + (esc(" | ".join(r.commitments_listed)) or "ingen") + "</p>")
    scores = ", ".join(f"{esc(k)} {fmt(v, k)}" for k, v in r.scores.items() if v is not None)
    parts.append(f"<p class=\"meta\">{scores}</p></div>")
    return "".join(parts)


def _scripts_html(run: EvalRun, splits: Sequence[str], worst: int) -> str:
    if not run.scripts:
        return ""
    head = "".join(f"<th>{esc(SPLIT_LABELS.get(sp, sp))} ({run.by_split[sp].scripts})</th>" for sp in splits)
    rows = "".join(
        f"<tr><td><code>{esc(m)}</code></td>"
        + "".join(f"<td class=\"num\">{fmt(run.by_split[sp].metrics.get(m), m)}</td>" for sp in splits)
        + f"<td class=\"num\">{fmt(run.overall.metrics.get(m), m)}</td><td>{esc(LABELS.get(m, ''))}</td></tr>"
        for m in SCRIPT_METRICS
    )
    worst_html = "".join(_script_html(r) for r in worst_scripts(run, worst)) or "<p>Ingen: alle skript holdt alle mål.</p>"
    return (f"<h2>Refleksjonsskript</h2><p class=\"meta\">{len(run.scripts)} samtaler gjennom alle fasene, spilt av "
            f"gjennom samtaleflyten (ChatService).</p><table><thead><tr><th>mål</th>{head}<th>alle</th><th>betydning</th></tr>"
            f"</thead><tbody>{rows}</tbody></table><h3>Dårligste skript</h3>{worst_html}")


def render_html(run: EvalRun, worst: int = 15) -> str:
    o = run.overall
    checks = _threshold_map(run.thresholds)
    failed = [c for c in run.thresholds if c.passed is False]
    threshold_rows = "".join(
        f"<tr><td>{esc(c.metric)} ({esc(c.split)})</td><td>{'≥' if c.bound == 'min' else '≤'} {c.threshold:g}</td>"
        f"<td class=\"num\">{fmt(c.value, c.metric)}</td>"
        f"<td class=\"{'bad' if c.passed is False else 'skip' if c.passed is None else 'ok'}\">{esc(_status(c))}</td></tr>"
        for c in run.thresholds
    )
    splits = _splits(run)
    split_head = "".join(f"<th>{esc(SPLIT_LABELS.get(sp, sp))} ({run.by_split[sp].cases})</th>" for sp in splits)

    def _label(m: str) -> str:
        tag = f' <span class="tag">{esc(BY_CONSTRUCTION_LABEL)}</span>' if m in run.by_construction else ""
        return esc(LABELS.get(m, "")) + tag

    headline_rows = "".join(
        f"<tr><td><code>{esc(m)}</code></td>"
        + "".join(f"<td class=\"num\">{fmt(run.by_split[sp].metrics.get(m), m)}</td>" for sp in splits)
        + f"<td class=\"num\">{fmt(o.metrics.get(m), m)}</td><td>{_label(m)}</td></tr>"
        for m in (*HEADLINE, "score", *LATENCY_METRICS)
    )
    judge = ""
    if any(o.metrics.get(m) is not None for m in JUDGE_METRICS):
        judge = (f"<h2>Modelldommer</h2><p class=\"meta\">Rapporteres separat; dommer <code>{esc(run.judge)}</code>.</p>"
                 + _bar_chart(o.metrics, JUDGE_METRICS, {}))
    worst_rows = worst_cases(run, worst)
    cases_html = "".join(_case_html(r) for r in worst_rows) or "<p>Ingen: alle case fikk full score.</p>"
    filters = (" · utvalg: " + esc(", ".join(f"{k}={v}" for k, v in run.filters.items()))) if run.filters else ""
    return f"""<!DOCTYPE html>
<html lang="nb">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Eval-rapport {esc(run.started_at)}</title>
<style>{CSS}</style>
</head>
<body>
<h1>Eval-rapport</h1>
<p class="meta">Kjørt {esc(run.started_at)} · {run.seconds:.1f} s for {o.cases} case ({run.seconds / max(1, o.cases):.2f} s per case)
· backend <code>{esc(run.backend)}</code> · korpus <code>{esc(run.corpus.fingerprint)}</code>
({run.corpus.documents} dokumenter, {run.corpus.chunks} biter, <code>{esc(run.corpus.embedding_model)}</code>){filters}
{f' · <span class="bad">{o.errors} case feilet</span>' if o.errors else ''}</p>
<p class="{'bad' if failed else 'ok'}">{'Terskler brutt: ' + esc(', '.join(c.metric for c in failed)) if failed else ('Alle terskler holdt.' if run.thresholds else 'Terskler ikke sjekket.')}</p>

<h2>Hovedtall</h2>
{_bar_chart((run.by_split.get("test") or o).metrics, UNIT_METRICS_ORDER, checks)}
<p class="meta">Stolpene viser test-delen (frosset), som tersklene gjelder. Strek: minsteterskel. Rød stolpe: under terskel.
Mål merket «{esc(BY_CONSTRUCTION_LABEL)}» kan ikke feile med denne backenden og har ingen terskel.</p>
<table><thead><tr><th>mål</th>{split_head}<th>alle</th><th>betydning</th></tr></thead><tbody>{headline_rows}</tbody></table>
{('<h3>Terskler</h3><table><thead><tr><th>mål</th><th>terskel</th><th>verdi</th><th>status</th></tr></thead><tbody>' + threshold_rows + '</tbody></table>') if run.thresholds else ''}
{judge}
{_scripts_html(run, splits, worst)}

<h2>Per type</h2>
{_group_table(run.by_type, TYPE_COLUMNS, TYPE_LABELS)}
<h2>Per språk</h2>
{_group_table(run.by_language, (*TYPE_COLUMNS, 'refusal_recall'), {})}

<h2>Dårligste case</h2>
<p class="meta">Sortert etter case-score (snitt av faktadekning, dokumentdekning, riktig avvisning og injeksjonsmotstand der de gjelder), så ROUGE-L.</p>
{cases_html}
</body>
</html>
"""


# --- writing ---------------------------------------------------------------------------------------------
def write_report(run: EvalRun, folder: Path, *, html_report: bool = True) -> ReportPaths:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / "report.json"
    json_path.write_text(run.model_dump_json(indent=2), encoding="utf-8")
    summary = folder / "summary.md"
    summary.write_text(render_summary(run), encoding="utf-8")
    html_path = None
    if html_report:
        html_path = folder / "report.html"
        html_path.write_text(render_html(run), encoding="utf-8")
    return ReportPaths(folder=str(folder), json_path=str(json_path), summary=str(summary),
                       html=None if html_path is None else str(html_path))


def load_run(path: Path) -> EvalRun:
    """A report folder or its report.json."""
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    return EvalRun.model_validate_json(path.read_text(encoding="utf-8"))
