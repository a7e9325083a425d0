"""README: "Bokmål by default, English for every label and message (the language switch at the top)".

Every interface text exists in every language with the same placeholders, every key the code asks
for exists, `tr` does not fill a missing label with bokmål, and the language switch relabels every
control that was built with a catalogue label.
"""

from __future__ import annotations

import ast
import string

import pytest

from assistant.core.i18n import LABELS, tr
from assistant.core.settings import REPO_ROOT

LANGS = ("nb", "en")
# Labels that are the same word in both languages.
SAME_IN_BOTH = {"send"}
# `tr(lang, f"kind_{k}")` and `tr(lang, f"role_{role}")`: the values the code fills in.
FAMILIES = {"kind_": ("programme", "leadership", "question"), "role_": ("participant", "facilitator")}


def placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def test_every_label_has_every_language():
    assert set(LABELS) == set(LANGS)
    keys = set(LABELS["nb"])
    for lang in LANGS:
        assert sorted(keys - set(LABELS[lang])) == [], f"labels missing in {lang}"
        assert sorted(set(LABELS[lang]) - keys) == [], f"labels only in {lang}"
        for key, text in LABELS[lang].items():
            assert isinstance(text, str) and text.strip(), (lang, key)
            assert placeholders(text) == placeholders(LABELS["nb"][key]), (lang, key)
    copied = sorted(k for k in keys - SAME_IN_BOTH if LABELS["en"][k] == LABELS["nb"][k])
    assert copied == [], "English labels that are the bokmål text"


def test_tr_does_not_fill_a_missing_label_with_bokmal(monkeypatch):
    assert tr("en", "summarize") == "Finish and summarise"
    assert tr("nb", "summarize") == "Avslutt og oppsummer"
    assert tr("en", "signed_in", user="kari", role="participant") == "Signed in as **kari** (participant)."
    monkeypatch.delitem(LABELS["en"], "summarize")
    with pytest.raises(KeyError):
        tr("en", "summarize")
    with pytest.raises(KeyError):
        tr("nb", "no-such-label")


def _keys_used_in_code() -> set[str]:
    keys: set[str] = set()
    for path in sorted((REPO_ROOT / "assistant").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "tr"):
                continue
            assert len(node.args) >= 2, f"{path.name}:{node.lineno}: tr() without a key"
            key = node.args[1]
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                keys.add(key.value)
            elif isinstance(key, ast.JoinedStr) and isinstance(key.values[0], ast.Constant):
                prefix = key.values[0].value
                assert prefix in FAMILIES, f"{path.name}:{node.lineno}: unknown label family {prefix!r}"
                keys.update(prefix + v for v in FAMILIES[prefix])
            elif isinstance(key, ast.Name):
                continue  # a key from a table (the language switch's): checked by calling it below
            else:
                pytest.fail(f"{path.name}:{node.lineno}: tr() key that this test cannot read")
    return keys


def test_every_label_the_code_asks_for_exists_in_every_language():
    used = _keys_used_in_code()
    assert len(used) > 40
    for lang in LANGS:
        assert sorted(used - set(LABELS[lang])) == [], lang


def test_other_bilingual_texts_have_both_languages():
    from assistant.core.answer import STAGE_LABELS, TEXT
    from assistant.app.chat import _PREP, OPENING
    from assistant.app.reflection import SUMMARY_TEXT

    for name, table in {"answer.TEXT": TEXT, "STAGE_LABELS": STAGE_LABELS, "SUMMARY_TEXT": SUMMARY_TEXT,
                        "chat._PREP": _PREP}.items():
        assert set(table) == set(LANGS), name
        for key in table["nb"]:
            assert key in table["en"] and table["en"][key].strip(), (name, key)
            assert placeholders(table["en"][key]) == placeholders(table["nb"][key]), (name, key)
        assert set(table["en"]) == set(table["nb"]), name
    assert set(OPENING) == set(LANGS) and all(OPENING[lang].strip() for lang in LANGS)


# -- the language switch ------------------------------------------------------------------


@pytest.fixture
def app(settings):
    from assistant.core.answer import AnswerEngine
    from assistant.app.chat import ChatService
    from assistant.app.journal import Journal
    from assistant.core.runtime import Runtime
    from assistant.web.ui import build_app

    rt = Runtime.from_settings(settings)  # nothing is loaded or embedded by building the app
    service = ChatService(settings, rt, AnswerEngine(settings, rt.retriever, rt.embedder), Journal(settings.journal_path))
    return build_app(settings, service, users=None)


def _texts(component) -> dict[str, str]:
    """The visible texts of a component that came from the catalogue: label, button text, placeholder."""
    out = {}
    for attr in ("label", "value", "placeholder", "info"):
        value = getattr(component, attr, None)
        if isinstance(value, str) and value:
            out[attr] = value
    return out


def _catalogue_key(text: str, lang: str) -> str | None:
    """The label key whose text `text` is or contains (a heading like "### Kilder")."""
    table = LABELS[lang]
    for key, label in sorted(table.items(), key=lambda kv: -len(kv[1])):
        if "{" in label or len(label) < 3:
            continue
        if text == label or text.lstrip("# ").startswith(label) or text.endswith(label):
            return key
    return None


def _switch_to_english(app):
    """Call the language switch's handler as Gradio would, with the page's initial values."""
    import inspect

    switch = next(fn for fn in app.fns.values() if getattr(fn.fn, "__name__", "") == "on_language")
    args = []
    for component in switch.inputs:
        if getattr(component, "label", None) == tr("nb", "language"):
            args.append("en")
        elif component.__class__.__name__ == "CheckboxGroup":
            args.append([])
        else:
            args.append(component.value)
    kwargs = {"request": None} if "request" in inspect.signature(switch.fn).parameters else {}
    return switch, switch.fn(*args, **kwargs)


def test_language_switch_relabels_every_control(app):
    """Start in bokmål, switch to English: every control built with a bokmål label gets the
    English one (labels, buttons, placeholders, headings, tabs, accordions)."""
    switch, result = _switch_to_english(app)
    updates = dict(zip([c._id for c in switch.outputs], result))

    expected: list[tuple[object, str, str, str]] = []  # (component, attr, bokmål text, key)
    for component in app.blocks.values():
        for attr, text in _texts(component).items():
            key = _catalogue_key(text, "nb")
            if key is not None:
                expected.append((component, attr, text, key))
    assert len(expected) > 40

    not_switched = []
    for component, attr, text, key in expected:
        update = updates.get(component._id)
        english = tr("en", key)
        got = update.get(attr) if isinstance(update, dict) else (update if attr == "value" else None)
        if not (isinstance(got, str) and english in got):
            not_switched.append(f"{component.__class__.__name__}.{attr} {text!r}")
    assert not_switched == [], "\n".join(not_switched)

    # Texts that are not a component's own label: who is signed in, the empty sources panel,
    # the choices of the kind filters (the search filter and the facilitator's upload type).
    import html

    by_elem = {getattr(c, "elem_id", None): c for c in app.blocks.values()}
    assert updates[by_elem["who"]._id] == tr("en", "local_mode")
    assert html.escape(tr("en", "sources_empty")) in updates[by_elem["sources"]._id]
    english_kinds = [(tr("en", f"kind_{k}"), k) for k in FAMILIES["kind_"]]
    with_kinds = [u for u in updates.values() if isinstance(u, dict) and u.get("choices") and
                  {v for _, v in u["choices"]} == set(FAMILIES["kind_"])]
    assert len(with_kinds) == 2 and all(list(map(tuple, u["choices"])) == english_kinds for u in with_kinds)
