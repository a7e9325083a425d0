"""`assistant eval` / `python -m evals`: run the eval cases, write a report, check thresholds;
or compare two reports.

    assistant eval                                  # all cases, report in <data_dir>/reports/<timestamp>
    assistant eval --type fact --language en --limit 10 --out /tmp/r
    assistant eval compare data/reports/A data/reports/B

Exit codes: 0 ok; 1 the run finished but a metric is below (or latency above) its
threshold; 2 a usage, settings, index or case-file problem (any error of the project's
hierarchy, `assistant/core/errors.py`, printed in one line), or a case that failed
with an error (the report is still written).

`add_eval_parser(subparsers)` and `run_eval_command(args, settings)` are what
`assistant/cli.py` wires in; nothing heavy is imported until a command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

from assistant.core.errors import AssistantError
from assistant.core.settings import Settings

EXIT_OK, EXIT_BELOW_THRESHOLD, EXIT_ERROR = 0, 1, 2
HEADLINE_WIDTH = 22


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from evals.cases import CASES_DIR

    p.add_argument(
        "action", nargs="?", choices=["run", "compare"], default="run",
        help="run (standard): kjør casene; compare A B: sammenlign to rapporter",
    )
    p.add_argument("reports", nargs="*", metavar="RAPPORT", help="med compare: to rapportmapper eller report.json-filer (før, etter)")
    p.add_argument("--cases", type=Path, default=CASES_DIR, metavar="MAPPE", help=f"mappe med *.jsonl-case (standard: {CASES_DIR})")
    p.add_argument("--out", type=Path, metavar="MAPPE", help="rapportmappe (standard: <data_dir>/reports/<tidspunkt>)")
    p.add_argument("--type", action="append", choices=["fact", "reflection", "out_of_scope", "injection"],
                   help="bare denne case-typen (kan gjentas)")
    p.add_argument("--language", action="append", choices=["nb", "nn", "en"],
                   help="bare dette språket (kan gjentas; nynorsk finnes bare i refleksjonsskriptene)")
    p.add_argument("--split", action="append", choices=["dev", "test"],
                   help="bare denne delen: dev (fri til tuning) eller test (frosset; tersklene gjelder den)")
    p.add_argument("--limit", type=_positive_int, metavar="N", help="høyst N case, fordelt likt på typene")
    p.add_argument("--thresholds", type=Path, metavar="FIL",
                   help="terskelfil (TOML). Standard: evals/thresholds.toml ved full kjøring; "
                        "filtrerte kjøringer sjekkes bare med denne")
    p.add_argument("--json", action="store_true", help="skriv maskinlesbar JSON til stdout")
    p.add_argument("--no-html", action="store_true", help="ikke skriv report.html")
    p.add_argument("--no-judge", action="store_true", help="ikke bruk modelldommer selv om ASSISTANT_JUDGE_BASE_URL er satt")
    p.add_argument("--endpoint", metavar="URL",
                   help="still spørsmålene til en kjørende assistent over HTTP (dens /v1-API) i stedet for motoren i prosessen; "
                        "refleksjonsskriptene kjøres da ikke")
    p.add_argument("--api-key", metavar="NØKKEL", help="API-nøkkel for --endpoint (lages med `assistant user NAVN --api-key`)")
    return p


def add_eval_parser(subparsers) -> argparse.ArgumentParser:
    """Add the `eval` subcommand to an argparse subparsers object."""
    p = subparsers.add_parser(
        "eval",
        help="mål kvaliteten: kjør eval-casene og skriv rapport",
        description=(
            "Kjør eval-casene (evals/cases/*.jsonl) gjennom svarmotoren og refleksjonsskriptene "
            "(evals/cases/scripts/*.jsonl) gjennom samtaleflyten, mål gjenfinning, fakta, kilder, "
            "avvisning, injeksjonsmotstand, speiling, gjentakelser, oppsummering og svartid, "
            "og skriv report.json, summary.md og report.html. "
            "`eval compare A B` sammenligner to rapporter. Avslutter med 1 når et mål bryter terskelen."
        ),
        epilog="Modelldommer (valgfri): ASSISTANT_JUDGE_BASE_URL, ASSISTANT_JUDGE_MODEL, ASSISTANT_JUDGE_API_KEY.",
    )
    return add_arguments(p)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("må være minst 1")
    return value


def _print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def _fail(args: argparse.Namespace, message: str, kind: str = "EvalError") -> int:
    if getattr(args, "json", False):
        _print_json({"error": message, "type": kind})
    else:
        print(f"Feil: {message}", file=sys.stderr)
    return EXIT_ERROR


def _default_out(settings: Settings) -> Path:
    base = Path(settings.data_dir) / "reports" / datetime.now().strftime("%Y%m%d-%H%M%S")
    out, n = base, 2
    while out.exists():
        out = base.with_name(f"{base.name}-{n}")
        n += 1
    return out


def run_eval_command(args: argparse.Namespace, settings: Settings, *, runtime=None, chat_model=None) -> int:
    """Run `eval` (or `eval compare`) for parsed `args`; returns the exit code.
    `runtime` and `chat_model` are for tests (default: built from the settings)."""
    try:
        if args.action == "compare":
            return _compare(args)
        if args.reports:
            return _fail(args, f"uventede argumenter: {' '.join(map(str, args.reports))} (mente du `eval compare A B`?)", "UsageError")
        return _run(args, settings, runtime, chat_model)
    except AssistantError as exc:  # store, embedder, model, prompts, judge ...: one line, exit 2
        return _fail(args, exc.user_message, type(exc).__name__)
    except KeyboardInterrupt:
        print("Avbrutt.", file=sys.stderr)
        return 130


def _compare(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from evals.compare import compare_runs, render_comparison
    from evals.report import load_run

    if len(args.reports) != 2:
        return _fail(args, "eval compare trenger to rapporter: `eval compare A B` (mapper eller report.json)", "UsageError")
    runs = []
    for path in args.reports:
        try:
            runs.append(load_run(Path(path)))
        except FileNotFoundError:
            return _fail(args, f"fant ikke rapporten {path} (en rapportmappe eller report.json)")
        except (ValidationError, ValueError) as exc:
            return _fail(args, f"{path} er ikke en eval-rapport ({str(exc).splitlines()[0]})")
    comparison = compare_runs(runs[0], runs[1], before_name=str(args.reports[0]), after_name=str(args.reports[1]))
    if args.json:
        _print_json(comparison.model_dump(mode="json"))
    else:
        print(render_comparison(comparison), end="")
    return EXIT_OK


def _run(args: argparse.Namespace, settings: Settings, runtime, chat_model) -> int:
    from assistant.core.runtime import Runtime
    from evals.cases import CaseFileError, load_cases, load_scripts
    from evals.judge import Judge, JudgeConfig, build_judge_model
    from evals.report import write_report
    from evals.runner import (
        DEFAULT_THRESHOLDS,
        ThresholdError,
        check_thresholds,
        load_thresholds,
        run_eval,
        select_cases,
        select_scripts,
        tqdm_progress,
    )

    if not Path(args.cases).is_dir():
        return _fail(args, f"fant ikke case-mappen {args.cases}")
    try:
        all_cases = load_cases(Path(args.cases))
        all_scripts = load_scripts(Path(args.cases))
    except CaseFileError as exc:
        return _fail(args, f"ugyldig case-fil {exc.user_message}", "CaseFileError")
    filters = {k: v for k, v in {"type": args.type, "language": args.language, "split": args.split, "limit": args.limit}.items() if v}
    chosen = {"types": args.type or (), "languages": args.language or (), "splits": args.split or (), "limit": args.limit}
    cases = select_cases(all_cases, **chosen)
    scripts = select_scripts(all_scripts, **chosen)
    if not cases and not scripts:
        return _fail(args, "ingen case passer utvalget", "UsageError")

    thresholds_path = args.thresholds or (DEFAULT_THRESHOLDS if not filters and DEFAULT_THRESHOLDS.exists() else None)
    thresholds = {}
    if thresholds_path is not None:
        try:
            thresholds = load_thresholds(thresholds_path)
        except ThresholdError as exc:
            return _fail(args, exc.user_message, "ThresholdError")

    judge = None
    judge_config = JudgeConfig()
    rt = runtime or Runtime.from_settings(settings)  # StoreError, EmbeddingError, LLMError: run_eval_command reports them
    if judge_config.enabled and not args.no_judge:
        judge = Judge(build_judge_model(settings, judge_config))
    remote = None
    if getattr(args, "endpoint", None):
        from evals.remote import RemoteEngine

        remote = RemoteEngine(args.endpoint, args.api_key)  # RemoteError: one line, exit 2
    run = run_eval(settings, rt, cases, chat_model=chat_model, progress=tqdm_progress, judge=judge, filters=filters,
                   scripts=scripts, remote=remote)

    checks = check_thresholds(run, thresholds) if thresholds else []
    run = run.model_copy(update={"thresholds": checks})
    out = args.out or _default_out(settings)
    try:
        paths = write_report(run, out, html_report=not args.no_html)
    except OSError as exc:
        return _fail(args, f"kunne ikke skrive rapporten til {out}: {exc.strerror or exc}")

    failed = [c for c in checks if c.passed is False]
    code = EXIT_ERROR if run.errors or run.script_errors else EXIT_BELOW_THRESHOLD if failed else EXIT_OK
    if args.json:
        _print_json(
            {
                "exit_code": code,
                "report": paths.model_dump(),
                "cases": run.overall.cases,
                "scripts": run.overall.scripts,
                "seconds": run.seconds,
                "backend": run.backend,
                "judge": run.judge,
                "corpus": run.corpus.model_dump(),
                "gated_split": "test",
                "by_construction": run.by_construction,
                "overall": run.overall.metrics,
                "by_split": {k: v.model_dump() for k, v in run.by_split.items()},
                "by_type": {k: v.model_dump() for k, v in run.by_type.items()},
                "by_language": {k: v.model_dump() for k, v in run.by_language.items()},
                "thresholds": [c.model_dump() for c in checks],
                "errors": [{"id": r.case.id, "error": r.error} for r in run.errors]
                + [{"id": r.script.id, "error": r.error} for r in run.script_errors],
            }
        )
        return code
    _print_human(run, paths, thresholds_path, filters)
    return code


def _print_human(run, paths, thresholds_path, filters) -> None:
    from evals.report import HEADLINE, LABELS, fmt

    o = run.overall
    print(
        f"Eval: {o.cases} case" + (f" og {o.scripts} refleksjonsskript" if o.scripts else "")
        + f" på {run.seconds:.1f} s ({run.seconds / max(1, o.cases + o.scripts):.2f} s per stk.), "
        f"backend {run.backend}, korpus {run.corpus.fingerprint} ({run.corpus.chunks} biter)"
    )
    checks = {c.metric: c for c in run.thresholds}
    from evals.runner import MODEL_METRICS, SCRIPT_METRICS

    model_rows = tuple(m for m in MODEL_METRICS if o.metrics.get(m) is not None)  # a model backend's verification
    script_rows = SCRIPT_METRICS if o.scripts else ()
    metrics = (*HEADLINE, *model_rows, *script_rows, "latency_p50_ms", "latency_p95_ms")
    if run.judge:
        metrics += ("judge_faithfulness", "judge_correctness")
    splits = [s for s in ("test", "dev") if s in run.by_split]
    head = "".join(f"{s + f' ({run.by_split[s].cases})':>10}" for s in splits)
    print(f"  {'mål'.ljust(HEADLINE_WIDTH)}{head}")
    for m in metrics:
        c = checks.get(m)
        mark = ""
        if m in run.by_construction:
            mark = "  [gitt av konstruksjonen: ikke målt kvalitet, ikke terskel]"
        elif c is not None:
            sign = "≥" if c.bound == "min" else "≤"
            state = "ikke målt" if c.passed is None else "ok" if c.passed else "BRUTT"
            mark = f"  (test {sign} {c.threshold:g}: {state})"
        values = "".join(fmt(run.by_split[s].metrics.get(m), m).rjust(10) for s in splits)
        print(f"  {m.ljust(HEADLINE_WIDTH)}{values}  {LABELS.get(m, '')}{mark}")
    for r in run.errors:
        print(f"  FEIL  {r.case.id}: {r.error}", file=sys.stderr)
    for r in run.script_errors:
        print(f"  FEIL  {r.script.id}: {r.error}", file=sys.stderr)
    failed = [c for c in run.thresholds if c.passed is False]
    if failed:
        print("Terskler brutt: " + ", ".join(
            f"{c.metric} {fmt(c.value, c.metric)} {'<' if c.bound == 'min' else '>'} {c.threshold:g}" for c in failed))
    elif run.thresholds:
        print(f"Alle terskler holdt ({thresholds_path}).")
    elif filters:
        print("Terskler ikke sjekket (filtrert kjøring; bruk --thresholds FIL for å sjekke).")
    print(f"Rapport: {paths.html or paths.summary}")
