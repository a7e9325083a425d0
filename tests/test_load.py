"""Load on the real app, driven as its page drives it (tests/appclient.py): 25 concurrent sessions, and a full queue.

Bounded in count and time; traffic only to loopback.
"""

from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from .appclient import AppClient
from .conftest import start_app, stop_app

pytestmark = pytest.mark.integration

QUESTIONS = {
    "Hvilke kommuner deltok i piloten?": "Tønsberg",
    "Which towns took part in the pilot?": "Porsgrunn",
    "Hva er regenerativ ledelse?": "Hutchins",
    "Hvor mange samlinger hadde piloten?": "fem",
    "Hva er samfunnsmålet for 2050?": "2050",
}


def reply_text(result) -> str:
    chat = result[0]
    last = chat[-1]["content"]
    return " ".join(part.get("text", "") for part in last) if isinstance(last, list) else str(last)


@pytest.fixture(scope="module")
def app(indexed_data_copy):
    data = indexed_data_copy("load")
    proc, url = start_app(data, {"ASSISTANT_CONCURRENCY": "4", "ASSISTANT_QUEUE_SIZE": "64"})
    yield url
    stop_app(proc)


def test_25_concurrent_sessions_get_their_own_replies(app):
    questions = [q for q in QUESTIONS for _ in range(5)]  # 25 sessions

    def session(question: str):
        client = AppClient(app)
        started = time.monotonic()
        result = client.predict(question, [], "qa", [], api_name="/send_advance")
        return question, reply_text(result), time.monotonic() - started, result[0][0]

    with ThreadPoolExecutor(max_workers=25) as pool:
        results = list(pool.map(session, questions, timeout=300))
    assert len(results) == 25
    for question, text, _, first in results:
        asked = " ".join(p.get("text", "") for p in first["content"]) if isinstance(first["content"], list) else first["content"]
        assert asked == question  # the conversation shown is the one this session started
        assert QUESTIONS[question].casefold() in text.casefold(), (question, text[:200])
    latencies = sorted(r[2] for r in results)
    p50 = statistics.median(latencies)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    print(f"\n25 sessions: p50 {p50:.2f} s, p95 {p95:.2f} s, max {latencies[-1]:.2f} s")


def test_requests_past_the_queue_limit_are_refused_quickly(indexed_data_copy):
    data = indexed_data_copy("busy")
    proc, url = start_app(data, {"ASSISTANT_CONCURRENCY": "1", "ASSISTANT_QUEUE_SIZE": "2"})
    try:
        outcomes: list[tuple[str, float]] = []
        lock = threading.Lock()

        def one(i: int):
            started = time.monotonic()
            try:
                AppClient(url).predict(f"Hva er regenerativ ledelse? ({i})", [], "qa", [], api_name="/send_advance")
                result = "ok"
            except Exception as exc:  # noqa: BLE001 - we record what the client saw
                result = f"refused: {exc}"
            with lock:
                outcomes.append((result, time.monotonic() - started))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=180)
        assert not any(t.is_alive() for t in threads), "a request hung"
        refused = [o for o in outcomes if o[0].startswith("refused")]
        served = [o for o in outcomes if o[0] == "ok"]
        assert served and refused, outcomes
        assert all("queue" in r[0].lower() or "full" in r[0].lower() for r in refused), refused[:3]
        assert max(t for _, t in refused) < 30
        print(f"\nqueue limit: {len(served)} served, {len(refused)} refused, slowest refusal {max(t for _, t in refused):.1f} s")
    finally:
        stop_app(proc)
