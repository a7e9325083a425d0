"""One error hierarchy (assistant/core/errors.py): every exception class the project defines is an
AssistantError with a message for the user, and keeps the builtin base callers may catch."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

from assistant.core.errors import AccessError, AssistantError, ConfigError, InputError, ServiceError

PACKAGES = ("assistant", "ingest", "evals")
# Control flow, never shown to anyone: the shell raises it from `receive` and answers 413. Kept out
# of the hierarchy so that no `except AssistantError` between the two can swallow it.
NOT_ERRORS = {"assistant.web.shell._TooLarge"}


def project_exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        modules = [package_name] + [m.name for m in pkgutil.walk_packages(package.__path__, f"{package_name}.")
                                    if not m.name.endswith(".__main__")]  # these run on import; they define no class
        for name in modules:
            module = importlib.import_module(name)
            for _, obj in inspect.getmembers(module, inspect.isclass):
                if issubclass(obj, BaseException) and obj.__module__ == name:
                    found[f"{name}.{obj.__qualname__}"] = obj
    return found


CLASSES = project_exception_classes()


def test_the_walk_finds_the_known_errors():
    expected = {
        "assistant.web.shell.ServeRefused", "assistant.app.auth.AuthError",
        "assistant.app.chat.Forbidden", "assistant.app.journal.NotFound", "assistant.core.embeddings.EmbeddingError",
        "assistant.core.llm.LLMError", "assistant.core.prompts.PromptError", "assistant.core.safety.InputRejected",
        "assistant.core.store.StoreError", "assistant.core.store.ModelMismatchError",
        "assistant.core.e5_onnx.ModelFileError", "ingest.loaders.LoadError", "ingest.office.OfficeError",
        "ingest.pipeline.IngestLockedError", "ingest.pdf.PdfError", "evals.runner.ThresholdError",
        "evals.judge.JudgeError", "evals.cases.CaseFileError", *NOT_ERRORS,
    }
    assert expected <= set(CLASSES)


@pytest.mark.parametrize("name", sorted(set(CLASSES) - NOT_ERRORS))
def test_every_exception_class_is_an_assistant_error_with_a_user_message(name):
    cls = CLASSES[name]
    assert issubclass(cls, AssistantError), f"{name} is not an AssistantError (assistant/core/errors.py)"
    bare = cls()
    assert bare.user_message.strip(), f"{name}() has no user_message"
    said = cls("Indeksen er borte.\nKjør `assistant ingest`.")
    assert "\n" not in said.user_message and said.user_message.strip()


def test_one_case_file_error_for_both_kinds_of_case_file():
    from evals.cases import CaseFileError
    from evals.retrieval import CaseFileError as RetrievalCaseFileError

    assert RetrievalCaseFileError is CaseFileError


@pytest.mark.parametrize(
    ("name", "kind", "builtin"),
    [
        ("assistant.core.safety.InputRejected", InputError, ValueError),
        ("assistant.app.chat.Forbidden", AccessError, PermissionError),
        ("assistant.app.journal.NotFound", AccessError, LookupError),
        ("assistant.app.auth.AuthError", AccessError, ValueError),
        ("assistant.core.llm.LLMError", ServiceError, RuntimeError),
        ("assistant.core.store.StoreError", ServiceError, RuntimeError),
        ("ingest.pipeline.IngestLockedError", ServiceError, RuntimeError),
        ("assistant.core.prompts.PromptError", ConfigError, ValueError),
        ("assistant.web.shell.ServeRefused", ConfigError, RuntimeError),
        ("ingest.loaders.LoadError", InputError, ValueError),
    ],
)
def test_kind_and_builtin_base(name, kind, builtin):
    cls = CLASSES[name]
    assert issubclass(cls, kind) and issubclass(cls, builtin)
    with pytest.raises(builtin):
        raise cls("x")


def test_user_message_is_the_message_plus_a_hint():
    from assistant.app.journal import NotFound
    from assistant.core.prompts import PromptError

    class Plain(AssistantError):
        pass

    assert Plain("Serveren svarer ikke.").user_message == "Serveren svarer ikke."
    assert Plain().user_message == AssistantError.default_message
    message = PromptError("Fant ikke promptfilen /x/system.nb.txt").user_message
    assert message.startswith("Fant ikke promptfilen /x/system.nb.txt. ") and message.endswith(PromptError.hint)
    assert PromptError(f"Feil. {PromptError.hint}").user_message.count(PromptError.hint) == 1
    assert "abc123" not in NotFound("abc123").user_message  # str() is the conversation id, not for users


def test_invalid_settings_is_one_config_error_naming_the_variable(monkeypatch):
    from assistant.core.settings import load_settings

    monkeypatch.setenv("ASSISTANT_TOP_K", "many")
    monkeypatch.setenv("ASSISTANT_LLM_BACKEND", "gpt")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = caught.value.user_message
    assert "ASSISTANT_TOP_K" in message and "ASSISTANT_LLM_BACKEND" in message and "\n" not in message
    assert "many" not in message and "gpt" not in message


def test_run_reported_turns_project_errors_into_one_line_and_exit_2(capsys):
    from assistant.core.errors import InputError, run_reported

    assert run_reported(lambda: 0) == 0
    def fail():
        raise InputError("Filen er tom. Velg en annen fil.")
    assert run_reported(fail) == 2
    assert capsys.readouterr().err.strip() == "Feil: Filen er tom. Velg en annen fil."
    assert run_reported(fail, as_json=True) == 2
    assert '"type": "InputError"' in capsys.readouterr().out
    def interrupted():
        raise KeyboardInterrupt
    assert run_reported(interrupted) == 130
    def bug():
        raise ZeroDivisionError
    with pytest.raises(ZeroDivisionError):  # not the project's error: a bug keeps its traceback
        run_reported(bug)


def test_a_closed_pipe_ends_a_command_quietly(tmp_path):
    """`assistant settings | head -1`: when the reader has gone, the command ends with 141 (what a
    shell reports for SIGPIPE) and no traceback."""
    import os
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the command writes a line
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(tmp_path)}
    try:
        proc = subprocess.run([sys.executable, "-m", "assistant", "settings"], stdout=write_end, stderr=subprocess.PIPE,
                              env=env, timeout=120)
    finally:
        os.close(write_end)
    assert proc.returncode == 141, proc.stderr.decode()
    assert b"Traceback" not in proc.stderr
