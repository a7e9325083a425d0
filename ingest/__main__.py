"""python -m ingest: the same as `assistant ingest` (ingest/cli.py)."""

from __future__ import annotations

import argparse
import sys

import assistant.core.environment  # noqa: F401  (before any third-party import)

from assistant.core.errors import AssistantError, print_error
from assistant.core.settings import load_settings
from ingest.cli import DESCRIPTION, EXIT_ERROR, add_arguments, run_ingest_command


def main(argv: list[str] | None = None) -> int:
    args = add_arguments(argparse.ArgumentParser(prog="python -m ingest", description=DESCRIPTION)).parse_args(argv)
    try:
        return run_ingest_command(args, load_settings())
    except AssistantError as exc:  # any of the project's errors: one line, exit 2, no traceback
        print_error(exc, as_json=args.json)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("Avbrutt.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
