"""The project's errors: one base class, four kinds, and a message for the user on each.

Every error the project raises on purpose is an `AssistantError` (tests/test_errors.py walks the
packages and fails on any other exception class). `user_message` is the text a user sees: what
happened and what to do next, on one line. The faces show it and nothing else: the command line
prints `Feil: <user_message>` and exits with 2 (with `--json`: `{"error": ..., "type": ...}` on
stdout), without a traceback. An exception that is not an `AssistantError` is a bug and keeps its
traceback.

Raise with a message that says what to do. A class may add a `hint` (appended when the message
does not already contain it) and a `default_message` (used when raised without one).

Each class keeps the builtin base it had before it joined the hierarchy (`class InputRejected(InputError,
ValueError)`), so code that catches `ValueError`, `PermissionError` or `LookupError` still does.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable


class AssistantError(Exception):
    """Base of every error the project raises on purpose."""

    default_message = "Noe gikk galt."
    hint = ""

    @property
    def user_message(self) -> str:
        """What happened and what to do next, one line (str(self), else `default_message`, plus `hint`)."""
        text = " ".join(str(self).split()) or self.default_message
        if self.hint and self.hint not in text:
            text = f"{text}{'' if text.endswith(('.', '!', '?')) else '.'} {self.hint}"
        return text


class ConfigError(AssistantError):
    """The settings, or a file they point at (prompts, model, thresholds), cannot be used."""

    default_message = "Innstillingene kan ikke brukes. Se `assistant settings`."


class ServiceError(AssistantError):
    """Something the product depends on (index, embedder, model server) is unreachable or failed."""

    default_message = "En tjeneste assistenten trenger, svarer ikke. Prøv igjen om litt."


class InputError(AssistantError):
    """A message, file or argument from the user cannot be used."""

    default_message = "Dette kan ikke behandles. Sjekk det du sendte inn."


class AccessError(AssistantError):
    """Not signed in, not allowed, or not there for this user."""

    default_message = "Du har ikke tilgang til dette."


def print_error(exc: AssistantError, *, as_json: bool = False) -> None:
    """How the command-line faces report an error: `Feil: <user_message>` on stderr, or one JSON
    object `{"error": <user_message>, "type": <class name>}` on stdout with --json."""
    if as_json:
        sys.stdout.write(json.dumps({"error": exc.user_message, "type": type(exc).__name__}, ensure_ascii=False) + "\n")
    else:
        print(f"Feil: {exc.user_message}", file=sys.stderr)


EXIT_ERROR, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 2, 130, 141  # 141: 128 + SIGPIPE, as the shell reports it


def run_reported(command: Callable[[], int], *, as_json: bool = False) -> int:
    """Run a command-line command: its exit code, or any of the project's errors reported in one
    line (`print_error`) with exit 2, 130 after Ctrl+C, 141 when the reader of its output closed
    the pipe; never a traceback for them."""
    try:
        return command()
    except AssistantError as exc:
        print_error(exc, as_json=as_json)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("Avbrutt.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`assistant ask … | head -1`): what it read is what it wanted.
        # Later writes to the closed pipe (Python's own flush at exit) go nowhere instead.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
