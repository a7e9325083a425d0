"""What every part of the web face shares: the services, the signed-in user, and the decorator
that gives a handler that user and turns the project's errors into a message.

A tab is a class (`assistant.web.chat_tab`, `journal_tab`, `facilitator_tab`): it builds its
components, lists the texts the language switch relabels, and wires its events to methods that
are decorated with `handler`. Handlers stay thin: they call `ChatService` and render what it
returns.
"""

from __future__ import annotations

import html
import inspect
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import gradio as gr

from assistant.app.auth import LOCAL_USER, UserStore
from assistant.app.chat import ChatService, Forbidden
from assistant.app.exports import ExportStore
from assistant.app.journal import NotFound
from assistant.core.errors import AccessError, AssistantError
from assistant.core.i18n import tr
from assistant.core.provenance import provenance_label
from assistant.core.records import REFLECTION_STAGES, Citation
from assistant.core.safety import inline_code, safe_markdown
from assistant.core.settings import Settings
from assistant.core.text import strip_emphasis

# A component's text from the catalogue: (component, attribute, catalogue key, format).
Text = tuple[object, str, str, str]


@dataclass(frozen=True)
class Who:
    """The signed-in user of a request and their role ("participant" or "facilitator")."""

    user: str
    role: str


@dataclass
class UiContext:
    settings: Settings
    service: ChatService
    users: UserStore | None  # None: local mode, one user who may also prepare gatherings
    exports: ExportStore
    forget_other_sessions: Callable[[str, str], None] | None = None

    def who(self, request) -> Who:
        if self.users is None:
            return Who(LOCAL_USER, "facilitator")
        name = getattr(request, "username", None)
        if not name:
            raise AccessError("Ikke innlogget.")
        return Who(name, self.users.role(name))

    def greeting(self, lang: str, who: Who) -> str:
        if self.users is None:
            return tr(lang, "ui.local_mode")
        return tr(lang, "ui.signed_in", user=inline_code(who.user), role=tr(lang, f"role.{who.role}"))

    def download_link(self, user: str, path, lang: str) -> str:
        """A link the shell serves to this user only (`/export/<token>`): no path in the URL."""
        token = self.exports.register(user, path)
        name = Path(path).name
        label = html.escape(tr(lang, "ui.download", name=name))
        return f'<a class="download" href="/export/{token}" download="{html.escape(name)}">{label}</a>'

    def journal_choices(self, user: str) -> list[tuple[str, str]]:
        return [
            (f"{c.title} · {datetime.fromtimestamp(c.updated).strftime('%d.%m.%Y %H:%M')}", c.id)
            for c in self.service.conversations(user)
        ]

    def history_of(self, user: str, cid: str) -> list[dict]:
        conv = self.service.conversation(user, cid)
        return [{"role": m.role, "content": safe_markdown(m.content)} for m in conv.messages if m.role in ("user", "assistant")]

    def private_file(self, user: str, name: str, text: str) -> str:
        return private_file(self.settings, user, name, text)


def private_file(settings: Settings, user: str, name: str, text: str) -> str:
    """Write an export under the data directory, in a folder per user (erased with the user's data)."""
    from assistant.app.privacy import user_folder

    folder = user_folder(settings, user)
    folder.mkdir(parents=True, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix=Path(name).stem + "-", suffix=".md", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path


def error_text(exc: AssistantError, lang: str) -> str:
    """What the interface says about one of the project's errors, in the interface's language."""
    if isinstance(exc, NotFound):
        return tr(lang, "ui.not_found")
    if isinstance(exc, Forbidden):
        return tr(lang, "ui.forbidden")
    return exc.user_message


def _shown_by_gradio(exc: AssistantError, message: str) -> Exception:
    """What a handler without `on_error` lets Gradio have: a service that is down (the journal's
    database, say) as `gr.Error`, whose message Gradio shows although the app hides other errors'
    details (`show_error=False`); any other error as it is."""
    from assistant.core.errors import ServiceError

    return gr.Error(message) if isinstance(exc, ServiceError) else exc


def handler(on_error: Callable[[str], object] | None = None):
    """Decorate a tab's event handler `method(self, who, *inputs)`.

    Gradio sees `method(*inputs, request: gr.Request)`: the wrapper finds the signed-in user of
    the request (`UiContext.who`) and passes it as `who`. A project error raised by the handler
    becomes `on_error(message)` (the handler's outputs with the message in the interface's
    language, read from its `current_lang` input); without `on_error` it propagates (a service
    that is down as a `gr.Error` with its message, so the page says what happened). Works for
    generator handlers (streaming answers) too.
    """

    def decorate(method):
        signature = inspect.signature(method)
        names = [n for n in signature.parameters if n not in ("self", "who")]
        has_lang = "current_lang" in names

        def split(args, kwargs):
            if "request" in kwargs:
                return args, kwargs.pop("request")
            return args[:-1], args[-1]

        def message_for(exc: AssistantError, args) -> str:
            lang = args[names.index("current_lang")] if has_lang and len(args) > names.index("current_lang") else "nb"
            return error_text(exc, lang)

        if inspect.isgeneratorfunction(method):
            def wrapper(self, *args, **kwargs):
                args, request = split(args, kwargs)
                who = self.ctx.who(request)
                try:
                    yield from method(self, who, *args, **kwargs)
                except AssistantError as exc:
                    if on_error is None:
                        raise _shown_by_gradio(exc, message_for(exc, args)) from exc
                    yield on_error(message_for(exc, args))
        else:
            def wrapper(self, *args, **kwargs):
                args, request = split(args, kwargs)
                who = self.ctx.who(request)
                try:
                    return method(self, who, *args, **kwargs)
                except AssistantError as exc:
                    if on_error is None:
                        raise _shown_by_gradio(exc, message_for(exc, args)) from exc
                    return on_error(message_for(exc, args))

        params = [signature.parameters["self"], *(signature.parameters[n] for n in names)]
        params.append(inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=gr.Request))
        wrapper.__signature__ = signature.replace(parameters=params, return_annotation=inspect.Signature.empty)
        wrapper.__annotations__ = {"request": gr.Request}
        wrapper.__name__ = method.__name__
        wrapper.__qualname__ = method.__qualname__
        wrapper.__doc__ = method.__doc__
        return wrapper

    return decorate


def sources_html(citations: list[Citation] | tuple[Citation, ...], lang: str) -> str:
    """Each citation expands to its passage, and says where the passage comes from (programme
    material, a summary of published work, written for the assistant). Everything from documents
    is escaped."""
    if not citations:
        return f'<div class="sources"><p>{html.escape(tr(lang, "ui.sources_empty"))}</p></div>'
    parts = ['<div class="sources">']
    for c in citations:
        where = f" — {html.escape(c.locator)}" if c.locator else ""
        parts.append(
            f"<details><summary>[{c.number}] {html.escape(c.title)}{where} "
            f'<span class="provenance provenance-{c.provenance}">({html.escape(provenance_label(lang, c.provenance))})</span></summary>'
            f'<p class="where">{html.escape(c.source)}</p>'
            f"<blockquote>{html.escape(strip_emphasis(c.passage))}</blockquote></details>"
        )
    parts.append("</div>")
    return "".join(parts)


def stage_text(stage: str | None, lang: str) -> str:
    if not stage:
        return ""
    index = REFLECTION_STAGES.index(stage) + 1
    return f"**{tr(lang, 'ui.stage')} {index}/{len(REFLECTION_STAGES)}:** {tr(lang, f'stage.{stage}')}"
