"""Prompts are files: `prompts/<name>.<lang>.txt`, rendered strictly.

Placeholders are `$name` (string.Template). A missing variable raises
PromptError, and so does an unused one, so a template and its caller cannot
drift apart silently. Retrieved text goes in as delimited data (`render_sources`).
"""

from __future__ import annotations

import html
import string
from functools import lru_cache
from pathlib import Path

from assistant.core.errors import ConfigError

PROMPT_NAMES = ("system", "answer", "condense", "reflect")
# The prompts are written in these languages; another interface language (nynorsk) gets bokmål's,
# which asks for an answer in the language named by `$language` (answer.language in the catalogue).
LANGUAGES = ("nb", "en")


class PromptError(ConfigError, ValueError):
    """A prompt file is missing or does not fit its variables."""

    hint = "Sjekk ASSISTANT_PROMPTS_DIR (standard: prompts/ i prosjektmappen)."


@lru_cache(maxsize=64)
def _load(folder: str, name: str, lang: str) -> string.Template:
    path = Path(folder) / f"{name}.{lang}.txt"
    if not path.exists():
        raise PromptError(f"Fant ikke promptfilen {path}.")
    return string.Template(path.read_text(encoding="utf-8"))


def template_variables(template: string.Template) -> set[str]:
    return {m.group("named") or m.group("braced") for m in template.pattern.finditer(template.template)} - {None}


def render(folder: Path, name: str, lang: str, **variables: str) -> str:
    lang = lang if lang in LANGUAGES else "nb"
    template = _load(str(folder), name, lang)
    wanted = template_variables(template)
    missing = wanted - set(variables)
    extra = set(variables) - wanted
    if missing or extra:
        raise PromptError(f"{name}.{lang}: missing {sorted(missing)}, unexpected {sorted(extra)}")
    return template.substitute(variables)


def render_sources(sources: list[tuple[int, str, str, str]], lang: str) -> str:
    """(number, title, locator, text) -> delimited blocks. Markup in the text is escaped.

    Tagged in the language of the prompt that `render` picks (nynorsk gets the bokmål prompt,
    which names its sources `<kilde>`)."""
    lang = lang if lang in LANGUAGES else "nb"
    tag = "kilde" if lang == "nb" else "source"
    blocks = []
    for number, title, locator, text in sources:
        attrs = f'nr="{number}" tittel="{html.escape(title)}"' if lang == "nb" else f'nr="{number}" title="{html.escape(title)}"'
        if locator:
            attrs += f' {"sted" if lang == "nb" else "where"}="{html.escape(locator)}"'
        blocks.append(f"<{tag} {attrs}>\n{html.escape(text, quote=False)}\n</{tag}>")
    return "\n".join(blocks)
