"""python -m ingest: the same as `assistant ingest` (ingest/cli.py)."""

from __future__ import annotations

import argparse

import assistant.core.environment  # noqa: F401  (before any third-party import)

from assistant.core.errors import run_reported
from assistant.core.settings import load_settings
from ingest.cli import DESCRIPTION, add_arguments, run_ingest_command


def main(argv: list[str] | None = None) -> int:
    args = add_arguments(argparse.ArgumentParser(prog="python -m ingest", description=DESCRIPTION)).parse_args(argv)
    return run_reported(lambda: run_ingest_command(args, load_settings()), as_json=args.json)


if __name__ == "__main__":
    raise SystemExit(main())
