"""Performance benchmarks, side by side with a plain LangChain baseline (issue 8).

Run with `python -m bench` (or `python bench/run.py`); `--quick` for a short run,
`--json` for the JSON record on stdout. Not part of the test suite.
See docs/performance.md for the latest results and how they were measured.
"""
