"""The web face's handler decorator: the signed-in user for every handler, and the project's
errors as messages in the interface's language (assistant/web/context.py)."""

from __future__ import annotations

import inspect
from types import SimpleNamespace

import gradio as gr
import pytest
from gradio.helpers import special_args

from assistant.app.database import DatabaseUnavailable
from assistant.app.journal import NotFound
from assistant.core.errors import AccessError, InputError
from assistant.core.i18n import tr
from assistant.web.context import UiContext, Who, handler


class FakeUsers:
    def role(self, name):
        return {"kari": "participant", "frida": "facilitator"}[name]


class Tab:
    def __init__(self):
        self.ctx = UiContext(settings=None, service=None, users=FakeUsers(), exports=None)
        self.seen: list[Who] = []

    @handler(on_error=lambda message: ("", message))
    def on_open(self, who: Who, cid, current_lang):
        self.seen.append(who)
        if cid == "missing":
            raise NotFound(cid)
        if cid == "bad":
            raise InputError("Navnet er for langt.")
        return cid, ""

    @handler(on_error=lambda message: message)
    def on_stream(self, who: Who, text, current_lang):
        yield f"{who.user}: {text}"
        raise NotFound("x")

    @handler()
    def on_plain(self, who: Who):
        raise InputError("ingen melding")

    @handler()
    def on_dead_database(self, who: Who, current_lang):
        raise DatabaseUnavailable()


def request(user):
    return SimpleNamespace(username=user)


def test_gradio_sees_the_inputs_and_a_request_not_the_user():
    tab = Tab()
    params = inspect.signature(tab.on_open).parameters
    assert list(params) == ["cid", "current_lang", "request"] and params["request"].annotation is gr.Request
    # Gradio puts the request where the signature asks for it.
    inputs, *_ = special_args(tab.on_open, ["c1", "nb"], request=request("kari"))
    assert inputs[-1].username == "kari" and tab.on_open(*inputs) == ("c1", "")
    assert tab.seen == [Who("kari", "participant")]
    assert inspect.isgeneratorfunction(tab.on_stream) and not inspect.isgeneratorfunction(tab.on_open)


def test_project_errors_become_messages_in_the_interface_language():
    tab = Tab()
    assert tab.on_open("missing", "en", request("frida")) == ("", tr("en", "ui.not_found"))
    assert tab.on_open("missing", "nn", request=request("frida")) == ("", tr("nn", "ui.not_found"))
    assert tab.on_open("bad", "nb", request("kari")) == ("", "Navnet er for langt.")
    assert list(tab.on_stream("hei", "nb", request("kari"))) == ["kari: hei", tr("nb", "ui.not_found")]
    with pytest.raises(InputError):  # no on_error: the error is Gradio's to show
        tab.on_plain(request("kari"))
    # A service that is down is one Gradio shows with its message (the page hides other errors' details).
    with pytest.raises(gr.Error, match="Dagboken er ikke tilgjengelig"):
        tab.on_dead_database("nb", request("kari"))


def test_no_user_no_handler():
    tab = Tab()
    with pytest.raises(AccessError):
        tab.on_open("c1", "nb", request(None))
    assert tab.seen == []
