"""The runtime: the one place that builds the engine's parts, each once and only when asked, each
with the small config derived from the settings (never the settings themselves)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from assistant.app.chat import ChatConfig
from assistant.core.answer import AnswerConfig
from assistant.core.compose import Composition, GenerativeConfig
from assistant.core.llm import LLMConfig, OpenAICompatibleChatModel
from assistant.core.policy import PolicyConfig
from assistant.core.retrieval import RetrievalConfig
from assistant.core.runtime import Runtime
from assistant.core.scoring import RefusalConfig
from assistant.core.settings import ComponentConfig, Settings
from assistant.core.store import ChromaStore, StoreConfig
from assistant.web.shell import ShellConfig
from ingest.pipeline import sync_corpus
from tests.fakes import FakeChatModel

FLAT_CONFIGS = (RetrievalConfig, PolicyConfig, RefusalConfig, GenerativeConfig, StoreConfig, LLMConfig, ChatConfig, ShellConfig)


def test_each_part_is_built_once_on_first_use(settings, fake_embedder):
    rt = Runtime.from_settings(settings, embedder=fake_embedder)
    engine = rt.engine
    assert rt.engine is engine and rt.retriever is engine.retriever and engine.embedder is fake_embedder
    assert rt.chat_model is None and engine.chat_model is None  # the extractive default


def test_the_configured_model_or_a_given_one(settings, fake_embedder):
    configured = settings.model_copy(update={"llm_backend": "openai", "llm_base_url": "http://127.0.0.1:9/v1", "llm_model": "m",
                                             "llm_timeout_s": 7.0})
    model = Runtime.from_settings(configured, embedder=fake_embedder).engine.chat_model
    assert isinstance(model, OpenAICompatibleChatModel)
    assert model.config == LLMConfig.from_settings(configured) and model.model == "m" and model.timeout_s == 7.0
    # Given explicitly (the eval runner, the benchmarks): None is the extractive backend, whatever is configured.
    assert Runtime.from_settings(configured, embedder=fake_embedder, chat_model=None).engine.chat_model is None
    model = FakeChatModel("Svar.")
    assert Runtime.from_settings(configured, embedder=fake_embedder, chat_model=model).engine.chat_model is model


def test_the_runtime_gives_each_part_its_config_derived_from_the_settings(settings, fake_embedder):
    s = settings.model_copy(update={"top_k": 7, "collection": "annen", "answer_lead_candidates": 3, "answer_max_sentences": 2,
                                    "answer_min_similarity": 0.5, "verify_mode": "mark"})
    rt = Runtime.from_settings(s, embedder=fake_embedder)
    assert isinstance(rt.store, ChromaStore) and rt.store.config == StoreConfig.from_settings(s)
    assert rt.store.config.collection == "annen" and rt.store.config.chroma_dir == s.chroma_dir
    assert rt.retriever.config == RetrievalConfig.from_settings(s) and rt.retriever.config.top_k == 7
    engine = rt.engine
    assert engine.config == AnswerConfig.from_settings(s)
    assert engine.policy.config.answer_lead_candidates == 3 and engine.config.refusal.answer_min_similarity == 0.5
    assert engine.composers[Composition.EXTRACTIVE].max_sentences == 2 and engine.config.generative.verify_mode == "mark"
    assert engine.rewriter.prompts_dir == s.prompts_dir


def test_a_changed_setting_changes_what_the_runtime_built_does(settings, small_corpus, fake_embedder, memory_store):
    """Through the runtime, a threshold set in the settings decides: the relevance floor drops
    every hit, the refusal threshold refuses an answerable question."""
    base = settings.model_copy(update={"answer_min_similarity": 0.0, "answer_confident_similarity": 0.0})
    sync_corpus(base, fake_embedder, memory_store)
    question = "Hvilke kommuner deltok i piloten?"

    def runtime(**update) -> Runtime:
        return Runtime(settings=base.model_copy(update=update), embedder=fake_embedder, store=memory_store)

    assert runtime().retriever.search(question) and not runtime(relevance_floor=0.99).retriever.search(question)
    assert not runtime().engine.answer(question).refused
    assert runtime(answer_min_similarity=0.999).engine.answer(question).refused


@pytest.mark.parametrize("config", FLAT_CONFIGS, ids=lambda c: c.__name__)
def test_a_component_config_copies_its_settings_by_name(config):
    """Each field is the `Settings` value of the same name (so `ASSISTANT_<FIELD>` names it), and
    a config is frozen: a component keeps what it was built with."""
    s = Settings(_env_file=None, allowed_hosts=["chat.example.org"], retention_days=30, chroma_host="chroma.local")
    derived = config.from_settings(s)
    assert issubclass(config, ComponentConfig) and config.model_fields
    for name in config.model_fields:
        expected = getattr(s, name)
        assert getattr(derived, name) == (tuple(expected) if isinstance(expected, list) else expected), name
    with pytest.raises(ValidationError):
        setattr(derived, next(iter(config.model_fields)), None)
