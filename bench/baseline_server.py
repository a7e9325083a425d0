"""The plain LangChain baseline served over HTTP, for the concurrency section (bench/concurrency.py).

    ASSISTANT_DATA_DIR=DIR ASSISTANT_PORT=P python -m bench.baseline_server

The recipe a user would copy (bench/worker.py: MiniLM embeddings in `langchain_chroma.Chroma`,
`similarity_search(k=4)`), behind FastAPI and uvicorn as the app is, with the same request shape
as the app's `POST /v1/chat/completions` (docs/api.md): the last user message is the query. With
no language model the answer is what a "stuff" chain would hand one: the retrieved passages, each
with its source. So the two servers do the same per turn minus what the app adds (hybrid
retrieval, sentence selection, grounding checks, reflection). Sync routes run in the same
thread pool as the app's. `GET /` answers 200 when the store and model are loaded.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import assistant.core.environment  # noqa: F401  (before any third-party import)


def create_app(data_dir: Path, k: int = 4):
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse
    from langchain_chroma import Chroma

    from bench.worker import hf_embeddings

    store = Chroma(collection_name="baseline", embedding_function=hf_embeddings(), persist_directory=str(data_dir))
    store.similarity_search("warm up", k=1)  # model and index loaded before the first request
    app = FastAPI()

    @app.get("/")
    def ready() -> dict:
        return {"ok": True}

    @app.post("/v1/chat/completions")
    def chat(body: dict) -> JSONResponse:
        messages = [m for m in body.get("messages", []) if m.get("role") == "user"]
        if not messages or not isinstance(messages[-1].get("content"), str):
            return JSONResponse({"error": {"message": "no user message", "code": "no_user_message"}}, status_code=400)
        docs = store.similarity_search(messages[-1]["content"], k=k)
        text = "\n\n".join(f"[{i}] {d.page_content}\n({d.metadata.get('source', '?')})" for i, d in enumerate(docs, 1))
        return JSONResponse({"id": "chatcmpl-baseline", "object": "chat.completion", "created": int(time.time()),
                             "model": body.get("model", "baseline"),
                             "choices": [{"index": 0, "finish_reason": "stop",
                                          "message": {"role": "assistant", "content": text}}]})

    return app


def main() -> None:
    import uvicorn

    app = create_app(Path(os.environ["ASSISTANT_DATA_DIR"]))
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["ASSISTANT_PORT"]), log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
