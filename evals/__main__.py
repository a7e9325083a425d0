"""`python -m evals`: the same as `assistant eval` (see evals/cli.py and docs/evals.md)."""

from __future__ import annotations

import argparse

import assistant.core.environment  # noqa: E402,F401  (before any third-party import)

from assistant.core.errors import AssistantError, print_error  # noqa: E402
from assistant.core.settings import load_settings  # noqa: E402
from evals.cli import EXIT_ERROR, add_arguments, run_eval_command  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evals",
        description=(
            "Kjør eval-casene gjennom svarmotoren og skriv rapport (report.json, summary.md, report.html), "
            "eller sammenlign to rapporter med `compare A B`. Samme som `assistant eval`."
        ),
        epilog="Modelldommer (valgfri): ASSISTANT_JUDGE_BASE_URL, ASSISTANT_JUDGE_MODEL, ASSISTANT_JUDGE_API_KEY.",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except AssistantError as exc:  # the command's own errors are reported by run_eval_command
        print_error(exc, as_json=args.json)
        return EXIT_ERROR
    return run_eval_command(args, settings)


if __name__ == "__main__":
    raise SystemExit(main())
