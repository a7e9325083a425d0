"""Imports go one way: cli -> web -> app -> ingest -> core, and evals -> app -> core (evals uses
the app like the CLI does: it replays reflection scripts through the chat flow).

The README's "Layout" section names each layer's job. This test reads every module of the three
packages with `ast` (imports inside functions included) and fails on any import against that
direction, naming the file, the line and the import."""

from __future__ import annotations

import ast
from pathlib import Path

from assistant.core.settings import REPO_ROOT

# What each layer may import from the project (third-party imports are not checked).
ALLOWED = {
    "core": {"core"},
    "ingest": {"core", "ingest"},
    "app": {"core", "ingest", "app"},
    "web": {"core", "ingest", "app", "web"},
    "evals": {"core", "app", "evals"},
    "cli": {"core", "ingest", "app", "web", "evals", "cli"},
}
PACKAGES = ("assistant", "ingest", "evals")


def layer_of(module: str) -> str | None:
    """The layer a dotted module name belongs to, or None when it is not the project's."""
    parts = module.split(".")
    if parts[0] == "ingest":
        return "ingest"
    if parts[0] == "evals":
        return "evals"
    if parts[0] != "assistant":
        return None
    if len(parts) > 1 and parts[1] in ("core", "app", "web"):
        return parts[1]
    return "cli"  # assistant, assistant.cli, assistant.__main__


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO_ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, text: str) -> list[tuple[int, str]]:
    tree = ast.parse(text, filename=str(path))
    package = module_name(path).rsplit(".", 0 if path.name == "__init__.py" else 1)[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append((node.lineno, name))
            # "from assistant import core" imports the submodule assistant.core
            found += [(node.lineno, f"{name}.{alias.name}") for alias in node.names if name in ("assistant",)]
    return found


def violations_in(path: Path, text: str) -> list[str]:
    source_layer = layer_of(module_name(path))
    assert source_layer is not None
    out: list[str] = []
    for line, imported in imports_of(path, text):
        target = layer_of(imported)
        if target is not None and imported != "assistant" and target not in ALLOWED[source_layer]:
            out.append(f"{path.relative_to(REPO_ROOT)}:{line}: {source_layer} imports {imported} ({target})")
    return out


def violations() -> list[str]:
    return [
        v
        for package in PACKAGES
        for path in sorted((REPO_ROOT / package).rglob("*.py"))
        for v in violations_in(path, path.read_text(encoding="utf-8"))
    ]


def test_imports_go_one_way():
    assert violations() == []


def test_the_check_sees_upward_imports_inside_functions_and_relative_ones():
    """So that the test above can fail: an engine module that imports the web face or the app."""
    path = REPO_ROOT / "assistant" / "core" / "selection.py"
    probe = path.read_text(encoding="utf-8") + "\n\ndef _probe():\n    from assistant.web.ui import build_app\n    from ..app import chat\n"
    found = violations_in(path, probe)
    assert any("imports assistant.web.ui (web)" in v for v in found)
    assert any("imports assistant.app (app)" in v for v in found)
    assert violations_in(REPO_ROOT / "ingest" / "cli.py", "from evals.cli import main\n")  # ingest may not use evals
    assert violations_in(REPO_ROOT / "evals" / "reflection.py", "from assistant.web.ui import build_app\n")  # nor evals the web
    assert violations_in(REPO_ROOT / "assistant" / "app" / "chat.py", "from evals.reflection import run_scripts\n")
    assert not violations_in(REPO_ROOT / "assistant" / "cli.py", "from evals.cli import main\n")
