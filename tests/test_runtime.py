"""The runtime: the one place that builds the engine's parts, each once and only when asked."""

from __future__ import annotations

from assistant.core.llm import OpenAICompatibleChatModel
from assistant.core.runtime import Runtime
from tests.fakes import FakeChatModel


def test_each_part_is_built_once_on_first_use(settings, fake_embedder):
    rt = Runtime.from_settings(settings, embedder=fake_embedder)
    engine = rt.engine
    assert rt.engine is engine and rt.retriever is engine.retriever and engine.embedder is fake_embedder
    assert rt.chat_model is None and engine.chat_model is None  # the extractive default


def test_the_configured_model_or_a_given_one(settings, fake_embedder):
    configured = settings.model_copy(update={"llm_backend": "openai", "llm_base_url": "http://127.0.0.1:9/v1", "llm_model": "m"})
    assert isinstance(Runtime.from_settings(configured, embedder=fake_embedder).engine.chat_model, OpenAICompatibleChatModel)
    # Given explicitly (the eval runner, the benchmarks): None is the extractive backend, whatever is configured.
    assert Runtime.from_settings(configured, embedder=fake_embedder, chat_model=None).engine.chat_model is None
    model = FakeChatModel("Svar.")
    assert Runtime.from_settings(configured, embedder=fake_embedder, chat_model=model).engine.chat_model is model
