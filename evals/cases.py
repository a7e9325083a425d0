"""Eval cases: `evals/cases/*.jsonl`, and multi-turn reflection scripts:
`evals/cases/scripts/*.jsonl`; both validated by a pydantic schema.

A bad line is reported with its file and line number.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from assistant.core.errors import InputError
from assistant.core.records import REFLECTION_STAGES

CASES_DIR = Path(__file__).resolve().parent / "cases"
SCRIPTS_SUBDIR = "scripts"  # under a cases folder: the multi-turn reflection scripts


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


class ScriptStep(BaseModel):
    """One step of a reflection script: the participant sends a message (`say`, with the phrases of
    it that the mirror must keep), or presses a button (`press`: finish, skip or back)."""

    model_config = ConfigDict(extra="forbid")
    say: str | None = None
    press: Literal["finish", "skip", "back"] | None = None
    move: Literal["advance", "stay"] = "advance"  # with `say`: "stay" is the stay-on-this-stage button
    mirror_keeps: list[str] = []

    @model_validator(mode="after")
    def _one_kind(self) -> "ScriptStep":
        if (self.say is None) == (self.press is None):
            raise ValueError("a step has either `say` or `press`")
        if self.press is not None and (self.mirror_keeps or self.move != "advance"):
            raise ValueError("`mirror_keeps` and `move` belong to a `say` step")
        missing = [p for p in self.mirror_keeps if self.say is not None and p.casefold() not in self.say.casefold()]
        if missing:
            raise ValueError(f"mirror_keeps must be the participant's own words; not in the message: {missing}")
        return self


class ReflectionScript(BaseModel):
    """A whole reflection replayed through the app: the participant's messages through the five
    stages, with what the summary must list as commitments and must not (worries)."""

    model_config = ConfigDict(extra="forbid")
    id: str
    split: Literal["dev", "test"]  # as for cases: test is frozen (docs/evals.md, "Dev and test")
    language: Literal["nb", "nn", "en"]
    turns: list[ScriptStep]
    commitments: list[str] = []
    worries: list[str] = []

    @model_validator(mode="after")
    def _phrases_are_the_participants(self) -> "ReflectionScript":
        said = " ".join(t.say for t in self.turns if t.say).casefold()
        missing = [p for p in (*self.commitments, *self.worries) if p.casefold() not in said]
        if missing:
            raise ValueError(f"commitments and worries must be the participant's own words; not written: {missing}")
        return self


class CaseFileError(InputError, ValueError):
    """A case file line is invalid; str() names file and line. (Also the retrieval set's.)"""


Record = TypeVar("Record", EvalCase, ReflectionScript)


def load_cases(folder: Path = CASES_DIR) -> list[EvalCase]:
    """The single-turn cases: every `*.jsonl` directly in `folder`."""
    return _load(folder, EvalCase)


def load_scripts(folder: Path = CASES_DIR) -> list[ReflectionScript]:
    """The multi-turn reflection scripts: every `*.jsonl` in `folder/scripts` (none when it is absent)."""
    return _load(folder / SCRIPTS_SUBDIR, ReflectionScript)


def _load(folder: Path, schema: type[Record]) -> list[Record]:
    cases: list[Record] = []
    seen: dict[str, str] = {}
    for path in sorted(folder.glob("*.jsonl")):
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{lineno}"
            try:
                case = schema.model_validate(json.loads(line))
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
