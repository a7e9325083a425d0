"""python -m ingest: the same as `assistant ingest`."""

import sys

from assistant.cli import main

raise SystemExit(main(["ingest", *sys.argv[1:]]))
