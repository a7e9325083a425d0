"""The one sanitiser (`assistant.core.safety.safe_markdown`) against a corpus of hostile inputs: what it
returns, rendered as Markdown by a CommonMark renderer with GFM autolinks (as the browser's is),
has no link, no image and no HTML element other than the ones the product writes itself."""

from __future__ import annotations

import re

import pytest
from markdown_it import MarkdownIt

from assistant.core.safety import inline_code, plain_text, safe_markdown

# A renderer at least as eager as the browser's: raw HTML on, bare addresses linkified.
RENDER = MarkdownIt("gfm-like", {"html": True, "linkify": True}).enable(["table", "strikethrough"])
ALLOWED_TAGS = {"p", "strong", "em", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "code", "pre",
                "table", "thead", "tbody", "tr", "th", "td", "hr", "br", "del", "s"}

HOSTILE = [
    "![spor](http://127.0.0.1:9/pixel.png)",
    "[klikk](http://evil.example/a)",
    "[x]( //evil.example/a)",  # a space before the address (passed the old regexes)
    "[x](<http://evil.example/a b>)",
    "[x](javascript:alert(1))",
    "[x][ref]\n\n[ref]: http://evil.example/r",
    "<http://evil.example/auto>",
    "<mailto:a@evil.example>",
    "Se www.evil.example/side for mer.",
    "Skriv til kari@evil.example i dag.",
    "Bare https://evil.example/bare her.",
    "<img src=http://127.0.0.1:9/i.png onerror=alert(1)>",
    "<a href='http://evil.example'>lenke</a>",
    "<script>alert(1)</script>",
    "<iframe src=http://evil.example></iframe>",
    "<!-- <img src=x> -->",
    "<svg onload=alert(1)>",
    "&lt;img src=x&gt;",
    "[![bilde](http://evil.example/i.png)](http://evil.example)",
    "| a | b |\n|---|---|\n| [x](http://evil.example) | ![i](http://evil.example/i.png) |",
    "- punkt [x](http://evil.example)\n  - under ![i](http://e.example/i.png)",
    "> sitat <img src=x>\n> www.evil.example",
    "# Tittel [x](http://evil.example)",
    "```\n<img src=x> http://evil.example\n```",
    "`kode` og \\[escaped\\](http://evil.example)",
    "[x](http://evil.example 'title')",
    "[\nx\n](http://evil.example)",
    "data:text/html;base64,PHNjcmlwdD4=",
    "file:///etc/passwd",
    "h​ttp://evil.example (zero-width)",
    "<details open ontoggle=alert(1)>",
    "[1]: http://evil.example\n\nSe [1].",
]


def rendered(markdown: str) -> str:
    return RENDER.render(markdown)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_input_renders_no_link_image_or_html(text):
    out = safe_markdown(text)
    html = rendered(out)
    assert "<a " not in html and "<img" not in html, (text, out, html)
    tags = {t.lower() for t in re.findall(r"<([a-zA-Z][a-zA-Z0-9]*)", html)}
    assert tags <= ALLOWED_TAGS, (text, out, tags - ALLOWED_TAGS)
    # An address is never left as text a renderer could still turn into a link.
    assert not re.search(r"(https?|ftp|mailto|javascript|data|file):|www\.", re.sub(r"`[^`]*`", "", out), re.I), (text, out)


@pytest.mark.parametrize("text", HOSTILE)
def test_sanitising_twice_changes_nothing(text):
    once = safe_markdown(text)
    assert safe_markdown(once) == once


def test_an_address_the_sources_contain_stays_visible_as_code():
    out = safe_markdown("Se [KS](https://www.ks.no/p) og https://www.ks.no/p, ikke http://evil.example.", {"https://www.ks.no/p"})
    assert out.count("`https://www.ks.no/p`") == 2 and "evil.example" not in out
    assert "<a " not in rendered(out)


def test_the_products_own_markdown_survives():
    text = "**Mer fra materialet:**\n\n- første [1]\n- andre [2]\n\n# Forberedelse av samling\n\n*kursiv* og `kode`"
    out = safe_markdown(text)
    html = rendered(out)
    assert "<strong>Mer fra materialet:</strong>" in html and html.count("<li>") == 2
    assert "<h1>Forberedelse av samling</h1>" in html and "<em>kursiv</em>" in html and "[1]" in out


def test_an_empty_list_item_before_a_heading_is_kept_and_does_not_fail():
    """The reflection summary wrote "-" for an empty section: the heading after it raised IndexError
    (found by the multi-turn reflection eval, an English script whose turns offered no insight)."""
    out = safe_markdown("### Innsikter\n\n-\n\n### Forpliktelser\n\n- Jeg skal ringe Eva.")
    assert out.splitlines()[2].strip() == "-" and "### Forpliktelser" in out and "- Jeg skal ringe Eva." in out


def test_titles_and_names_are_plain():
    assert "<" not in rendered(plain_text("# Tittel <img src=x> [a](http://e.example)")).replace("<p>", "").replace("</p>", "").replace("&lt;", "")
    assert rendered(inline_code("kari@ks.no")).strip() == "<p><code>kari@ks.no</code></p>"


def test_log_lines_keep_the_traceback_shape_and_nothing_users_wrote():
    import io

    from assistant.core.logsafe import PrivateLog

    out = io.StringIO()
    log = PrivateLog(out)
    log.write('Traceback (most recent call last):\n  File "/x/gradio/blocks.py", line 2064, in validate_inputs\n'
              "    raise ValueError(\n    ^^^^^^^^\nValueError: didn't receive enough input values\nReceived inputs:\n")
    log.write("    [{'text': 'HEMMELIG'}]\n")
    log.write("* Kjører på / Running on http://127.0.0.1:7860\n" + "x" * 2_000_000 + "HEMMELIG\n")
    log.write("KeyError: 'HEMMELIG-ID'\n")
    text = out.getvalue()
    assert "HEMMELIG" not in text and max(len(line) for line in text.splitlines()) <= 300
    assert 'File "/x/gradio/blocks.py", line 2064, in validate_inputs' in text and "raise ValueError(" in text
    assert "ValueError: [message withheld]" in text and "KeyError: [message withheld]" in text
    assert "* Kjører på / Running on http://127.0.0.1:7860" in text and "characters withheld]" in text
