"""The `ingest` command: `assistant ingest` and `python -m ingest` (the same parser and output).

Lives in `ingest` so that `python -m ingest` needs nothing above it: the `assistant` command adds
it as a subcommand, as it adds `eval` from `evals.cli`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from assistant.core.progress import tqdm_progress
from assistant.core.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2

DESCRIPTION = (
    "Synkroniser korpusmappen inn i indeksen: nye og endrede filer legges inn, slettede fjernes, "
    "uendrede hoppes over. Filer som ikke kan leses rapporteres med grunn, og resten fullføres. "
    "Avslutter med 1 hvis en fil feilet."
)


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--json", action="store_true", help="skriv maskinlesbar JSON til stdout")
    p.add_argument("--corpus", help="mappe å indeksere (standard: ASSISTANT_CORPUS_DIR)")
    p.add_argument("--dry-run", action="store_true", help="vis hva som ville endret seg, uten å skrive")
    p.add_argument("--rebuild", action="store_true", help="slett indeksen og bygg den på nytt (f.eks. ny embedder)")
    return p


def add_ingest_parser(subparsers) -> argparse.ArgumentParser:
    """Add the `ingest` subcommand to an argparse subparsers object."""
    return add_arguments(subparsers.add_parser("ingest", help="indekser korpuset (synkroniser)", description=DESCRIPTION))


def run_ingest_command(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.core.runtime import Runtime
    from ingest.pipeline import sync_corpus

    if args.corpus:
        settings = settings.model_copy(update={"corpus_dir": Path(args.corpus)})
    rt = Runtime.from_settings(settings)
    report = sync_corpus(
        settings,
        rt.embedder,
        rt.store,
        dry_run=args.dry_run,
        rebuild=args.rebuild,
        progress=None if args.json else tqdm_progress,
    )
    if args.json:
        sys.stdout.write(json.dumps(report.model_dump(), ensure_ascii=False, indent=2, default=str) + "\n")
        return EXIT_OK if report.ok else EXIT_FAILED
    verb = "Ville endret" if report.dry_run else "Indeksert"
    print(f"{verb}: {report.corpus}")
    print(
        f"  filer: {report.files_seen} sett, {len(report.files_added)} nye, {len(report.files_updated)} endret, "
        f"{len(report.files_removed)} fjernet, {report.files_unchanged} uendret"
    )
    print(
        f"  biter: {report.chunks_added} lagt til, {report.chunks_removed} fjernet, "
        f"{report.chunks_unchanged} uendret, {report.chunks_total} i indeksen"
    )
    for issue in report.failed:
        print(f"  FEIL  {issue.source}: {issue.reason}")
    for issue in report.warnings:
        print(f"  MERK  {issue.source}: {issue.reason}")
    for issue in report.ignored:
        print(f"  hoppet over  {issue.source}: {issue.reason}")
    print(f"  tid: {report.seconds:.1f} s")
    if report.failed:
        print("Noen filer ble ikke indeksert; resten av indeksen er uendret. Rett filene og kjør igjen.")
    return EXIT_OK if report.ok else EXIT_FAILED
