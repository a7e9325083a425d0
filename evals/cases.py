"""Eval cases: `evals/cases/*.jsonl`, validated by a pydantic schema.

A bad line is reported with its file and line number.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from assistant.core.errors import InputError
from assistant.core.records import REFLECTION_STAGES

CASES_DIR = Path(__file__).resolve().parent / "cases"


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: str


class EvalCase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    # dev: free to read and tune on; test: frozen, never used to choose a constant or a rule.
    # Headline numbers, thresholds and CI use test (docs/evals.md, "Dev and test").
    split: Literal["dev", "test"]
    language: Literal["nb", "en"]
    mode: Literal["qa", "reflect"]
    type: Literal["fact", "reflection", "out_of_scope", "injection"]
    question: str
    history: list[Turn] = []
    reference: str
    facts: list[str] = []
    documents: list[str] = []
    stage: Literal[REFLECTION_STAGES] | None = None  # type: ignore[valid-type]


class CaseFileError(InputError, ValueError):
    """A case file line is invalid; str() names file and line. (Also the retrieval set's.)"""


def load_cases(folder: Path = CASES_DIR) -> list[EvalCase]:
    cases: list[EvalCase] = []
    seen: dict[str, str] = {}
    for path in sorted(folder.glob("*.jsonl")):
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{lineno}"
            try:
                case = EvalCase.model_validate(json.loads(line))
            except json.JSONDecodeError as exc:
                raise CaseFileError(f"{where}: not valid JSON ({exc.msg})") from exc
            except ValidationError as exc:
                first = exc.errors()[0]
                field = ".".join(str(p) for p in first["loc"])
                raise CaseFileError(f"{where}: {field}: {first['msg']}") from exc
            if case.id in seen:
                raise CaseFileError(f"{where}: duplicate id {case.id!r} (first in {seen[case.id]})")
            seen[case.id] = where
            cases.append(case)
    return cases
