"""What the corpus builders (build_corpus_pdf.py, build_corpus_pptx.py) share: where a built
file goes, and the command that rebuilds every source or, with --check, only reports stale ones."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KIND_FOLDERS = {"programme": "programme", "leadership": "leadership", "question": "questions"}


def output_path(front: dict, stem: str, suffix: str) -> Path:
    """corpus/<folder of the source's kind>/<stem><suffix>."""
    folder = KIND_FOLDERS.get(front.get("kind", ""), front.get("kind", "programme"))
    return ROOT / "corpus" / folder / f"{stem}{suffix}"


def build_main(argv: list[str] | None, *, src: Path, render: Callable[[Path], tuple[Path, bytes]],
               what: str, script: str) -> int:
    parser = argparse.ArgumentParser(description=f"Build corpus {what} from {src.relative_to(ROOT)}/*.md.")
    parser.add_argument("--check", action="store_true", help=f"only check that the {what} are up to date")
    args = parser.parse_args(argv)
    stale = 0
    for source in sorted(src.glob("*.md")):
        out, data = render(source)
        if args.check:
            if not out.exists() or out.read_bytes() != data:
                print(f"stale: {out.relative_to(ROOT)} (run python scripts/{script})")
                stale += 1
            continue
        out.write_bytes(data)
        print(f"wrote {out.relative_to(ROOT)}")
    return 1 if stale else 0
