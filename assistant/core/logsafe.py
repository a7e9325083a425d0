"""The server's log never holds what users wrote.

Libraries the app runs on print freely: Gradio prints a whole traceback with the received
payload ("Received inputs: [...]") when a request is malformed, and exception messages can quote
a message or an id of any length. `PrivateLog` wraps the server's stdout and stderr and lets a
line through only when its shape is known to carry no user text:

- traceback structure: the header, `File "…", line N, in name` frames, the source line under a
  frame (read from a file on disk), caret markers, and the chaining sentences;
- an exception line, as its type only (`ValueError: [message withheld]`);
- the app's own status lines and the web server's level-prefixed lines, cut to 300 characters.

Any other line is replaced by `[N characters withheld]`. Lines are cut, so a megabyte id
cannot make a megabyte of log.
"""

from __future__ import annotations

import io
import re
import threading

MAX_LINE = 300
_FRAME = re.compile(r'^\s*File "[^"\n]{1,500}", line \d+, in [\w<>.]{1,200}$')
_CARETS = re.compile(r"^\s*[~^]+\s*$")
_EXCEPTION = re.compile(r"^([A-Za-z_][\w.]{0,200}(?:Error|Exception|Exit|Interrupt|Warning|Group|Timeout))(?::.*)?$", re.S)
_CHAINING = (
    "Traceback (most recent call last):",
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)
# The app's own lines (assistant/web/ui.py, assistant/cli.py) and uvicorn's level prefixes.
_OWN = ("* Kjører på", "Starter på", "INFO:", "WARNING:", "ERROR:", "CRITICAL:")


def redact_line(line: str, after_frame: bool = False) -> str:
    stripped = line.rstrip("\n")
    if stripped.strip() == "":
        return stripped
    if stripped in _CHAINING or _FRAME.match(stripped) or _CARETS.match(stripped):
        return stripped[:MAX_LINE]
    if after_frame and stripped.startswith("    "):
        return stripped[:MAX_LINE]  # the source line printed under a frame: code from a file
    m = _EXCEPTION.match(stripped)
    if m:
        return f"{m.group(1)[:200]}: [message withheld]" if ":" in stripped else m.group(1)[:200]
    if stripped.startswith(_OWN):
        # uvicorn's lines name a request ("Invalid HTTP request received."), never its body.
        return stripped[:MAX_LINE]
    return f"[{len(stripped)} characters withheld]"


class PrivateLog(io.TextIOBase):
    """A text stream that writes only redacted whole lines to `target`."""

    def __init__(self, target) -> None:
        self.target = target
        self._pending = ""
        self._after_frame = False
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            *lines, self._pending = (self._pending + text).split("\n")
            if len(self._pending) > 1_000_000:  # a line without end: what is kept of it is withheld anyway
                self._pending = self._pending[-1_000_000:]
            for line in lines:
                out = redact_line(line, self._after_frame)
                self._after_frame = bool(_FRAME.match(line.rstrip("\n")))
                self.target.write(out + "\n")
            if lines:
                self.target.flush()
        return len(text)

    def flush(self) -> None:
        with self._lock:
            self.target.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.target, "encoding", "utf-8")

    def fileno(self) -> int:
        return self.target.fileno()


def protect_process_output() -> None:
    """Route this process's stdout and stderr through `PrivateLog` (once)."""
    import sys

    if not isinstance(sys.stdout, PrivateLog):
        sys.stdout = PrivateLog(sys.stdout)
    if not isinstance(sys.stderr, PrivateLog):
        sys.stderr = PrivateLog(sys.stderr)
