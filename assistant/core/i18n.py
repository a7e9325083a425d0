"""Interface texts: one catalogue file per language, so that a language is one file.

The files are `assistant/core/locales/<code>.toml` (`nb.toml`, `nn.toml`, `en.toml`): tables by
area (`[ui]`, `[answer]`, `[stage]`, `[login]` …) of texts, read here once into flat keys such as
"ui.send" or "answer.sources". The file name is the language code that pages declare
(`<html lang="nn">`), and the top-level `order` places the language in the switch.

Bokmål is the default: an unknown language code means bokmål. A key missing in a language is
never filled from another, so the loader refuses a catalogue whose files do not have the same keys
with the same placeholders, and `tr` raises KeyError for a key that does not exist: a half-done
translation stops the app at start instead of showing bokmål inside a nynorsk page.
"""

from __future__ import annotations

import string
import tomllib
from pathlib import Path

LOCALES = Path(__file__).with_name("locales")
DEFAULT_LANGUAGE = "nb"


def placeholders(text: str) -> set[str]:
    """The `{names}` a text is formatted with."""
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def _flatten(table: dict, prefix: str, path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict):
            out.update(_flatten(value, key + ".", path))
        elif isinstance(value, str):
            out[key] = value
        else:
            raise ValueError(f"{path.name}: {key} is not a text")
    return out


def load_catalogue(folder: Path = LOCALES) -> tuple[tuple[str, ...], dict[str, dict[str, str]]]:
    """(languages in switch order, texts by language) from the folder's `*.toml` files.

    Raises ValueError when the default language is missing or a file's keys or placeholders
    differ from the default's."""
    ordered: list[tuple[int, str]] = []
    texts: dict[str, dict[str, str]] = {}
    for path in sorted(folder.glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        order = data.pop("order", 99)
        if not isinstance(order, int):
            raise ValueError(f"{path.name}: order must be a whole number")
        texts[path.stem] = _flatten(data, "", path)
        ordered.append((order, path.stem))
    if DEFAULT_LANGUAGE not in texts:
        raise ValueError(f"{folder}: no {DEFAULT_LANGUAGE}.toml, the default language")
    reference = texts[DEFAULT_LANGUAGE]
    for lang, table in texts.items():
        missing, extra = sorted(set(reference) - set(table)), sorted(set(table) - set(reference))
        if missing or extra:
            raise ValueError(f"{lang}.toml: missing {missing}, not in {DEFAULT_LANGUAGE}.toml {extra}")
        differ = sorted(k for k in reference if placeholders(table[k]) != placeholders(reference[k]))
        if differ:
            raise ValueError(f"{lang}.toml: placeholders differ from {DEFAULT_LANGUAGE}.toml in {differ}")
    return tuple(code for _, code in sorted(ordered)), texts


LANGUAGES, CATALOGUE = load_catalogue()


def tr(lang: str, key: str, **kwargs: object) -> str:
    """The text `key` in `lang` (an unknown language code means bokmål), formatted with `kwargs`."""
    text = CATALOGUE[lang if lang in CATALOGUE else DEFAULT_LANGUAGE][key]
    return text.format(**kwargs) if kwargs else text


def bilingual(lang: str, key: str) -> str:
    """The text in `lang`, then in English after a slash: for plain answers that go out before
    anyone has chosen a language (the shell's refusals), so that everyone can read them."""
    own = tr(lang, key)
    return own if lang == "en" else f"{own} / {tr('en', key)}"


def language_choices() -> list[tuple[str, str]]:
    """(the language's own name, code) for each language, in switch order."""
    return [(tr(code, "language.name"), code) for code in LANGUAGES]
