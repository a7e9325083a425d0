"""A client that drives the running app the way its page does: signs in through the shell's form,
reads /config, joins the queue (`/gradio_api/queue/join`) and reads the event stream
(`/gradio_api/queue/data`), one session hash per client (a browser tab).

gradio_client cannot be used: it needs Gradio's own login and API routes (`/gradio_api/info`,
`/gradio_api/call`), which the shell closes (assistant/web/shell.py).
"""

from __future__ import annotations

import json
import mimetypes
import secrets
import threading
import urllib.parse
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass(frozen=True)
class Upload:
    path: str


def handle_file(path: str) -> Upload:
    return Upload(path)


class AppError(RuntimeError):
    pass


class AppClient:
    def __init__(self, url: str, user: str | None = None, password: str | None = None, *, headers: dict | None = None,
                 cookies: dict | None = None):
        """Signs in as `user`, or arrives with `cookies` (a session signed in elsewhere: another replica)."""
        self.url = url if url.endswith("/") else url + "/"
        self.http = httpx.Client(base_url=self.url, timeout=120, follow_redirects=False, headers=headers or {},
                                 cookies=cookies)
        if user is not None:
            r = self.http.post("login", data={"username": user, "password": password})
            if r.status_code != 303:
                raise AppError(f"sign-in failed: {r.status_code}")
        config = self.http.get("config")
        if config.status_code != 200:
            raise AppError(f"config: {config.status_code}")
        self.config = config.json()
        self.types = {c["id"]: c["type"] for c in self.config["components"]}
        self.session_hash = secrets.token_hex(6)
        self._lock = threading.Lock()

    def _dependency(self, api_name: str) -> tuple[int, dict]:
        name = api_name.lstrip("/")
        for i, dep in enumerate(self.config["dependencies"]):
            if dep.get("api_name") == name:
                return dep.get("id", i), dep
        raise AppError(f"no event named {api_name}")

    def _upload(self, value: Upload) -> dict:
        path = Path(value.path)
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        r = self.http.post("gradio_api/upload", files={"files": (path.name, path.read_bytes(), mime)})
        r.raise_for_status()
        server_path = r.json()[0]
        return {"path": server_path, "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}

    def _encode(self, value):
        if isinstance(value, Upload):
            return self._upload(value)
        if isinstance(value, list):
            return [self._encode(v) for v in value]
        return value

    def predict(self, *args, api_name: str):
        fn, dep = self._dependency(api_name)
        values = iter(args)
        data = [None if self.types.get(i) == "state" else self._encode(next(values, None)) for i in dep["inputs"]]
        r = self.http.post("gradio_api/queue/join", json={
            "data": data, "fn_index": fn, "session_hash": self.session_hash, "event_data": None, "trigger_id": None,
        })
        if r.status_code != 200:
            raise AppError(f"queue/join: {r.status_code} {r.text[:200]}")
        event_id = r.json().get("event_id")
        with self.http.stream("GET", "gradio_api/queue/data", params={"session_hash": self.session_hash}) as stream:
            if stream.status_code != 200:
                raise AppError(f"queue/data: {stream.status_code}")
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                msg = json.loads(line[5:])
                if msg.get("event_id") not in (None, event_id):
                    continue
                if msg.get("msg") == "process_completed":
                    if not msg.get("success", True):
                        raise AppError(str(msg.get("output", {}).get("error")))
                    out = msg["output"]["data"]
                    return out[0] if len(out) == 1 else tuple(out)
        raise AppError("the event stream ended without a result")

    def submit(self, *args, api_name: str) -> Future:
        """The call in a thread, with a session of its own (as gradio_client's jobs have)."""
        future: Future = Future()
        twin = AppClient.__new__(AppClient)
        twin.__dict__.update(self.__dict__)
        twin.session_hash = secrets.token_hex(6)

        def run():
            try:
                future.set_result(twin.predict(*args, api_name=api_name))
            except BaseException as exc:  # noqa: BLE001
                future.set_exception(exc)

        threading.Thread(target=run, daemon=True).start()
        return future


def quote(path: str) -> str:
    return urllib.parse.quote(path)
