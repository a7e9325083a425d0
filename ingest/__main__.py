"""python -m ingest: the same as `assistant ingest` (ingest/cli.py)."""

from __future__ import annotations

import argparse
import json
import sys

import assistant.core.environment  # noqa: F401  (before any third-party import)
from pydantic import ValidationError

from assistant.core.embeddings import EmbeddingError
from assistant.core.settings import Settings
from assistant.core.store import StoreError
from ingest.cli import DESCRIPTION, EXIT_ERROR, add_arguments, run_ingest_command


def main(argv: list[str] | None = None) -> int:
    args = add_arguments(argparse.ArgumentParser(prog="python -m ingest", description=DESCRIPTION)).parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"Ugyldige innstillinger:\n{exc}", file=sys.stderr)
        return EXIT_ERROR
    try:
        return run_ingest_command(args, settings)
    except (StoreError, EmbeddingError) as exc:
        if args.json:
            sys.stdout.write(json.dumps({"error": str(exc), "type": type(exc).__name__}, ensure_ascii=False) + "\n")
        else:
            print(f"Feil: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
