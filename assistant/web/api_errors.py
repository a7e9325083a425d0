"""Errors of the HTTP API, in OpenAI's shape: `{"error": {"message", "type", "code"}}`.

Clients written for OpenAI (the `openai` package, Open WebUI, evaluation harnesses) read the
message from exactly there, so every refusal under `/v1`, including those the shell makes before
the API sees a request (host, origin, size), has this shape. Messages are English, like the rest
of the API, and say what to do next.
"""

from __future__ import annotations

import json

from assistant.core.errors import AssistantError

# The shell's refusals of /v1 requests, in the API's words (assistant/web/shell.py).
SHELL_REFUSALS: dict[int, tuple[str, str, str]] = {
    400: ("This host name is not one the assistant answers to. Use the address it is served on, or add the name to ASSISTANT_ALLOWED_HOSTS.",
          "invalid_request_error", "unknown_host"),
    403: ("Requests from a web page on another origin are refused. Call the API from a program or server, without an Origin header.",
          "permission_error", "foreign_origin"),
    404: ("Not found. See /v1/docs for the API's routes.", "invalid_request_error", "not_found"),
    413: ("The request body is too large. Send a shorter request (limit ASSISTANT_MAX_REQUEST_KB; uploads ASSISTANT_MAX_UPLOAD_MB).",
          "invalid_request_error", "request_too_large"),
}


class ApiError(AssistantError):
    """A request the API refuses: the HTTP status and OpenAI's error `type` and `code` with it."""

    default_message = "The request could not be handled. See /v1/docs."

    def __init__(self, message: str = "", status: int = 400, type_: str = "invalid_request_error", code: str | None = None,
                 headers: dict[str, str] | None = None, extra: dict | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.code = code
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> dict:
        return {"error": {"message": self.user_message, "type": self.type, "code": self.code}, **self.extra}


def error_body(message: str, type_: str, code: str | None) -> bytes:
    return json.dumps({"error": {"message": message, "type": type_, "code": code}}).encode()
