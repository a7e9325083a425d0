"""Gradio, imported without regenerating its type stubs.

Every Gradio component class is created by `gradio.component_meta.ComponentMeta`, which on
creation reads the class's source file, parses it and compares (and may rewrite) the `.pyi` stub
beside it (`create_or_modify_pyi`), for editors' type hints. Those stubs ship in the wheel; doing
it again on every start was about half of `import gradio` here (3.3 s -> 1.6 s,
docs/performance.md) and writes into site-packages at run time.

`install()` puts an import hook first in `sys.meta_path` that, once `gradio.component_meta` is
loaded, replaces that one function with a no-op. Nothing else of Gradio changes, and a Gradio
without the function is left as it is. `assistant.web` installs it before any of its modules
imports Gradio.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from types import ModuleType

TARGET = "gradio.component_meta"
FUNCTION = "create_or_modify_pyi"


def _skip_stub_update(*_args, **_kwargs) -> None:
    """Stands in for `create_or_modify_pyi`: the installed stubs are kept as they are."""


def _patch(module: ModuleType) -> None:
    if hasattr(module, FUNCTION):
        setattr(module, FUNCTION, _skip_stub_update)


class _StubUpdateSkipper(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != TARGET:
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)  # once: the module is loaded once per process
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        load = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            load(module)
            _patch(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install() -> None:
    """Patch Gradio's stub updater when it is imported (or now, if it already was)."""
    loaded = sys.modules.get(TARGET)
    if loaded is not None:
        _patch(loaded)
        return
    if not any(isinstance(f, _StubUpdateSkipper) for f in sys.meta_path):
        sys.meta_path.insert(0, _StubUpdateSkipper())


def active() -> bool:
    """Whether the loaded Gradio skips the stub update (for the tests)."""
    loaded = sys.modules.get(TARGET)
    return loaded is not None and getattr(loaded, FUNCTION, None) is _skip_stub_update
