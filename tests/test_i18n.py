"""README: "Bokmål by default, nynorsk and English for every label and message" (the language
switch at the top), and "a language is one file" (assistant/core/locales/).

Every language in the catalogue has every text with the same placeholders, every key the code asks
for exists, no bilingual table is left in the code, `tr` does not fill a missing text with bokmål,
the loader refuses a half-done language and takes a new one from its file alone, and the language
switch relabels every control that was built with a catalogue text.
"""

from __future__ import annotations

import ast
import re
import shutil

import pytest

from assistant.core.i18n import CATALOGUE, DEFAULT_LANGUAGE, LANGUAGES, LOCALES, bilingual, load_catalogue, placeholders, tr
from assistant.core.provenance import PROVENANCES
from assistant.core.records import REFLECTION_STAGES
from assistant.core.selection import CHECKED_KINDS
from assistant.core.settings import REPO_ROOT

# Texts that may be empty: the note under answers that quote sources in another language has
# nothing to say when the sources are in the reader's own language (bokmål, nynorsk).
MAY_BE_EMPTY = {"answer.original"}
# English texts that are the bokmål word too.
SAME_IN_ENGLISH = {"ui.send"}
# `tr(lang, f"kind.{k}")` and the like: the values the code fills in.
FAMILIES = {
    "kind.": ("programme", "leadership", "question"),
    "role.": ("participant", "facilitator"),
    "stage.": REFLECTION_STAGES,
    "answer.gap_": tuple(sorted(CHECKED_KINDS | {"any"})),
    "provenance.": PROVENANCES,
    "prep.discussion_": PROVENANCES,
}
# Words that are bokmål and never nynorsk: a nynorsk text with one of them was not translated.
BOKMAL_ONLY = re.compile(
    r"\b(ikke|hva|hvor|hvem|hvordan|hvilke|jeg|noe|fra|bare|mer|kilder?|ennå|navn|brukernavn|"
    r"lagret|endret|slettet|spørre|sier|leder|ledelse|deltaker\w*|velkommen|gang|dere)\b",
    re.I,
)


def test_the_catalogue_has_bokmal_nynorsk_and_english():
    assert LANGUAGES == ("nb", "nn", "en")
    assert [tr(lang, "language.name") for lang in LANGUAGES] == ["Bokmål", "Nynorsk", "English"]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_text_exists_in_every_language_with_the_same_placeholders(lang):
    reference = CATALOGUE[DEFAULT_LANGUAGE]
    table = CATALOGUE[lang]
    assert sorted(set(reference) - set(table)) == [], f"texts missing in {lang}"
    assert sorted(set(table) - set(reference)) == [], f"texts only in {lang}"
    assert len(table) > 120
    for key, text in table.items():
        assert isinstance(text, str), (lang, key)
        assert text.strip() or key in MAY_BE_EMPTY, f"{lang}: {key} is empty"
        assert text == text.strip(), f"{lang}: {key} has spaces around it"
        assert placeholders(text) == placeholders(reference[key]), (lang, key)


def test_english_and_nynorsk_are_translations_not_copies():
    english = sorted(k for k in CATALOGUE["en"] if k not in SAME_IN_ENGLISH | MAY_BE_EMPTY
                     and CATALOGUE["en"][k] == CATALOGUE["nb"][k])
    assert english == [], "English texts that are the bokmål text"
    # Nynorsk shares many words with bokmål ("Samtale", "Send"), but no bokmål-only word.
    bokmal = {k: m.group(0) for k, text in CATALOGUE["nn"].items() if (m := BOKMAL_ONLY.search(text))}
    assert bokmal == {}, "bokmål words in nn.toml"
    assert tr("nn", "answer.gap_any") == "Materialet seier ikkje noko om dette."
    assert tr("nn", "answer.mirror", phrase="…") == "Du skriv: «…»"


def test_tr_does_not_fill_a_missing_text_with_bokmal(monkeypatch):
    assert tr("en", "ui.summarize") == "Finish and summarise"
    assert tr("nb", "ui.summarize") == "Avslutt og oppsummer"
    assert tr("nn", "answer.sources") == "Kjelder" and tr("nb", "answer.sources") == "Kilder"
    assert tr("en", "ui.signed_in", user="kari", role="participant") == "Signed in as **kari** (participant)."
    assert tr("xx", "answer.sources") == "Kilder"  # an unknown language is bokmål
    monkeypatch.delitem(CATALOGUE["nn"], "answer.sources")
    with pytest.raises(KeyError):
        tr("nn", "answer.sources")
    with pytest.raises(KeyError):
        tr("nb", "no-such-text")


def test_bilingual_notices_put_english_after_the_own_language():
    assert bilingual("nb", "shell.too_large") == "Forespørselen er for stor. / Request too large."
    assert bilingual("nn", "shell.too_large") == "Førespurnaden er for stor. / Request too large."
    assert bilingual("en", "shell.too_large") == "Request too large."


def test_a_language_is_one_file(tmp_path):
    """Copying a catalogue file under a new code adds a language, placed by its `order`; a file
    with a text missing, an extra text or other placeholders is refused, and so is a catalogue
    without the default language."""
    for path in LOCALES.glob("*.toml"):
        shutil.copy(path, tmp_path / path.name)
    new = (LOCALES / "nn.toml").read_text(encoding="utf-8").replace("order = 2", "order = 4")
    (tmp_path / "se.toml").write_text(new.replace('name = "Nynorsk"', 'name = "Davvisámegiella"'), encoding="utf-8")
    languages, texts = load_catalogue(tmp_path)
    assert languages == ("nb", "nn", "en", "se") and texts["se"]["language.name"] == "Davvisámegiella"

    broken = {
        "missing": new.replace('more = "Meir frå materialet:"\n', ""),
        "extra": new + '\n[extra]\nword = "ord"\n',
        "placeholders": new.replace("Du skriv: «{phrase}»", "Du skriv: «{frase}»"),
        "not a text": new.replace('send = "Send"', "send = 1"),
    }
    for what, text in broken.items():
        assert text != new, what
        (tmp_path / "se.toml").write_text(text, encoding="utf-8")
        with pytest.raises(ValueError):
            load_catalogue(tmp_path)
    (tmp_path / "se.toml").unlink()
    (tmp_path / "nb.toml").unlink()
    with pytest.raises(ValueError, match="default"):
        load_catalogue(tmp_path)


def test_settings_and_cli_offer_every_language(tmp_path):
    from pydantic import ValidationError

    from assistant.cli import build_parser
    from assistant.core.settings import Settings

    assert Settings(_env_file=None, data_dir=tmp_path, language="nn").language == "nn"
    with pytest.raises(ValidationError):
        Settings(_env_file=None, data_dir=tmp_path, language="de")
    serve = build_parser().parse_args(["serve", "--language", "nn"])
    assert serve.language == "nn"


def test_where_a_passage_sits_is_said_in_the_language():
    from assistant.core.records import Chunk, DocumentMeta

    meta = DocumentMeta(source="a.pdf", title="A", kind="programme")
    page = Chunk(id="1", text="x", meta=meta, page=3, content_hash="h", file_hash="f")
    slide = Chunk(id="2", text="x", meta=meta, slide=4, content_hash="h", file_hash="f")
    assert [page.locator(lang) for lang in LANGUAGES] == ["side 3", "side 3", "page 3"]
    assert [slide.locator(lang) for lang in LANGUAGES] == ["lysbilde 4", "lysbilete 4", "slide 4"]


def _keys_used_in_code() -> set[str]:
    """Every catalogue key the code names: string constants of the form "area.key" (in tr() and
    bilingual() calls, and in tables such as the language switch's), and f-string families."""
    areas = sorted({key.split(".", 1)[0] for key in CATALOGUE[DEFAULT_LANGUAGE]})
    shaped = re.compile(rf"^({'|'.join(areas)})\.\w+$")
    keys: set[str] = set()
    for path in sorted((REPO_ROOT / "assistant").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        # The literal parts of f-strings are families, read below, not keys.
        parts = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and shaped.match(node.value) and id(node) not in parts:
                keys.add(node.value)
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("tr", "bilingual")):
                continue
            assert len(node.args) >= 2, f"{path.name}:{node.lineno}: {node.func.id}() without a key"
            key = node.args[1]
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                assert shaped.match(key.value), f"{path.name}:{node.lineno}: {key.value!r} is not area.key"
            elif isinstance(key, ast.JoinedStr) and isinstance(key.values[0], ast.Constant):
                prefix = key.values[0].value
                assert prefix in FAMILIES, f"{path.name}:{node.lineno}: unknown text family {prefix!r}"
                keys.update(prefix + v for v in FAMILIES[prefix])
            elif isinstance(key, ast.Name):
                continue  # a key from a table (the language switch's): its constants are collected above
            else:
                pytest.fail(f"{path.name}:{node.lineno}: {node.func.id}() key that this test cannot read")
    return keys


def test_every_text_the_code_asks_for_exists():
    used = _keys_used_in_code()
    assert len(used) > 120
    assert {"ui.send", "answer.sources", "stage.next_step", "summary.title", "prep.title", "login.user",
            "shell.too_large", "where.slide", "export.summary", "answer.gap_population"} <= used
    # Shaped like a key but not one: OpenAI's object name in the HTTP API's wire format (assistant/web/api_models.py).
    not_keys = {"chat.completion"}
    assert sorted(used - set(CATALOGUE[DEFAULT_LANGUAGE]) - not_keys) == []


def test_no_language_table_is_left_in_the_code():
    """Interface texts live in the catalogue only: no dict keyed by language codes in the code."""
    found = []
    for path in sorted((REPO_ROOT / "assistant").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Dict):
                codes = {k.value for k in node.keys if isinstance(k, ast.Constant)} & set(LANGUAGES)
                if len(codes) >= 2:
                    found.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
    assert found == []


# -- the language switch ------------------------------------------------------------------


@pytest.fixture
def app(settings):
    from assistant.core.answer import AnswerConfig, AnswerEngine
    from assistant.app.chat import ChatConfig, ChatService
    from assistant.app.journal import Journal
    from assistant.core.runtime import Runtime
    from assistant.web.ui import build_app

    rt = Runtime.from_settings(settings)  # nothing is loaded or embedded by building the app
    engine = AnswerEngine(AnswerConfig.from_settings(settings), rt.retriever, rt.embedder)
    service = ChatService(ChatConfig.from_settings(settings), rt, engine, Journal(settings.journal_path))
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
    """The interface text key whose text `text` is or contains (a heading like "### Kilder")."""
    table = {k: v for k, v in CATALOGUE[lang].items() if k.startswith(("ui.", "kind.", "role."))}
    for key, label in sorted(table.items(), key=lambda kv: -len(kv[1])):
        if "{" in label or len(label) < 3:
            continue
        if text == label or text.lstrip("# ").startswith(label) or text.endswith(label):
            return key
    return None


def _switch_to(app, target: str):
    """Call the language switch's handler as Gradio would, with the page's initial values."""
    import inspect

    switch = next(fn for fn in app.fns.values() if getattr(fn.fn, "__name__", "") == "on_language")
    args = []
    for component in switch.inputs:
        if getattr(component, "label", None) == tr("nb", "ui.language"):
            assert [code for _, code in component.choices] == list(LANGUAGES)  # the switch offers every language
            args.append(target)
        elif component.__class__.__name__ == "CheckboxGroup":
            args.append([])
        else:
            args.append(component.value)
    kwargs = {"request": None} if "request" in inspect.signature(switch.fn).parameters else {}
    return switch, switch.fn(*args, **kwargs)


@pytest.mark.parametrize("target", [lang for lang in LANGUAGES if lang != DEFAULT_LANGUAGE])
def test_language_switch_relabels_every_control(app, target):
    """Start in bokmål, switch to another language: every control built with a bokmål label gets
    that language's (labels, buttons, placeholders, headings, tabs, accordions)."""
    switch, result = _switch_to(app, target)
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
        wanted = tr(target, key)
        got = update.get(attr) if isinstance(update, dict) else (update if attr == "value" else None)
        if not (isinstance(got, str) and wanted in got):
            not_switched.append(f"{component.__class__.__name__}.{attr} {text!r}")
    assert not_switched == [], "\n".join(not_switched)

    # Texts that are not a component's own label: who is signed in, the empty sources panel,
    # the choices of the kind filters (the search filter and the facilitator's upload type).
    import html

    by_elem = {getattr(c, "elem_id", None): c for c in app.blocks.values()}
    assert updates[by_elem["who"]._id] == tr(target, "ui.local_mode")
    assert html.escape(tr(target, "ui.sources_empty")) in updates[by_elem["sources"]._id]
    kinds = [(tr(target, f"kind.{k}"), k) for k in FAMILIES["kind."]]
    with_kinds = [u for u in updates.values() if isinstance(u, dict) and u.get("choices") and
                  {v for _, v in u["choices"]} == set(FAMILIES["kind."])]
    assert len(with_kinds) == 2 and all(list(map(tuple, u["choices"])) == kinds for u in with_kinds)
