"""PDF text extraction, isolated in a child process.

pypdf has caps against decompression bombs and loops, but not every hostile
file is caught by them, so each PDF is parsed in a subprocess with a
wall-clock limit and an address-space limit. The child prints one JSON object:
{"ok": true, "title": ..., "pages": [...]} or {"ok": false, "reason": ...}.

Run directly: python -m ingest.pdf FILE
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from assistant.core.errors import InputError

MEMORY_LIMIT_BYTES = 2 * 1024**3


class PdfError(InputError, RuntimeError):
    """The PDF could not be read; str() is a one-line reason in bokmål."""


@dataclass(frozen=True)
class PdfText:
    title: str
    pages: list[str]


def _limit_memory() -> None:  # runs in the child before exec
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    except (ImportError, ValueError, OSError):
        pass


def extract_pdf(path: Path, timeout_s: float) -> PdfText:
    """Extract one text string per page, or raise PdfError with the reason."""
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "ingest.pdf", str(path)],
            capture_output=True,
            timeout=timeout_s,
            preexec_fn=_limit_memory if sys.platform != "win32" else None,
            cwd=str(Path(__file__).resolve().parents[1]),
        )
    except subprocess.TimeoutExpired:
        raise PdfError(f"PDF-lesingen brukte mer enn {timeout_s:g} s og ble stoppet (mulig skadet eller fiendtlig fil)")
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["ukjent feil"]
        if "MemoryError" in tail[0]:
            raise PdfError("PDF-en krever for mye minne å pakke ut (mulig komprimeringsbombe)")
        raise PdfError(f"PDF-en kunne ikke leses: {tail[0][:200]}")
    try:
        result = json.loads(proc.stdout.decode("utf-8"))
    except ValueError:
        raise PdfError("PDF-leseren ga uforståelig svar")
    if not result.get("ok"):
        raise PdfError(result.get("reason", "PDF-en kunne ikke leses"))
    return PdfText(title=result.get("title") or "", pages=list(result.get("pages") or []))


def _child(path: str) -> dict:
    import logging

    logging.disable(logging.CRITICAL)  # pypdf warns on stderr about every oddity
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(path, strict=False)
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    return {"ok": False, "reason": "kryptert PDF med passord; lagre en ukryptert kopi og prøv igjen"}
            except DependencyError:
                return {"ok": False, "reason": "kryptert PDF (AES) som ikke kan åpnes uten passord"}
        pages = []
        for page in reader.pages:
            pages.append(page.extract_text() or "")
        title = ""
        try:
            meta = reader.metadata
            title = (meta.title if meta else "") or ""
        except Exception:  # noqa: BLE001 - broken info dictionaries are common
            title = ""
        return {"ok": True, "title": str(title), "pages": pages}
    except FileNotDecryptedError:
        return {"ok": False, "reason": "kryptert PDF med passord; lagre en ukryptert kopi og prøv igjen"}
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError, AssertionError) as exc:
        return {"ok": False, "reason": f"skadet PDF ({type(exc).__name__}: {str(exc)[:160]})"}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m ingest.pdf FILE", file=sys.stderr)
        return 2
    sys.stdout.write(json.dumps(_child(argv[0]), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
