"""Many participants at once: sustained answers per second and the latency of each turn.

N simulated participants each send a fixed series of turns (questions, then guided-reflection
turns that carry the conversation so far) as fast as the answers come back, over loopback to
`python -m assistant serve` through its HTTP API (`POST /v1/chat/completions`, docs/api.md). The
plain LangChain baseline is served the same way beside it (bench/baseline_server.py) and gets
the same requests. Each N runs against a freshly started server, so its peak RSS (VmHWM) is that
load's. Answers/s is successful turns over the wall time from the first request to the last
answer; errors are non-200 responses and transport failures.

The load generator runs in this process (asyncio + httpx), on the same cores as the server: at
high N its own CPU use is part of what the server competes with, equally for both sides.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path

from bench.serve import ServedApp, chat_request
from bench.util import latency_summary, loadavg, percentile, proc_status_kb

STAGES = ("where_are_we", "where_to", "how_to_get_there", "what_it_asks_of_me", "next_step")
REFLECTIONS = (
    "Vi har mange mål som trekker i ulike retninger, og jeg er usikker på hva vi bør prioritere.",
    "Jeg vil at kommunen skal samarbeide bedre på tvers av sektorene.",
    "Kanskje vi kan starte med et felles prosjekt om klimatilpasning.",
    "Det krever nok at jeg gir fra meg litt kontroll.",
    "Neste uke kan jeg ta det opp i ledermøtet.",
    "Innbyggerne våre er lite involvert i planarbeidet.",
    "Jeg merker at jeg ofte havner i driften i stedet for å tenke langsiktig.",
    "Vi mangler et felles språk for bærekraft i ledergruppen.",
    "Politikerne vil ha raske resultater, mens omstillingen tar tid.",
    "Jeg ønsker å bli bedre til å lytte før jeg bestemmer meg.",
)
# Every turn's text differs (the app caches query vectors; a participant does not repeat
# another's words): a question or reflection with one of these openers.
OPENERS = ("", "Kort spurt: ", "Jeg lurer på dette: ", "Et spørsmål: ", "Hjelp meg å forstå: ", "Si meg: ",
           "Fra ledergruppen: ", "Til neste samling: ")
REFLECTION_OPENERS = ("", "Tja. ", "Vel, ", "Ærlig talt: ", "Jeg tenker at ", "Hmm. ", "Kort sagt: ", "For å være ærlig: ")

# The app allows ASSISTANT_API_RATE_PER_MINUTE requests a minute per key; all simulated
# participants share the local user's, so the limit is lifted for the measurement.
APP_ENV = {"ASSISTANT_API_RATE_PER_MINUTE": "1000000"}


@dataclass(frozen=True)
class Turn:
    body: dict


def script(participant: int, turns: int, questions: list[str]) -> list[Turn]:
    """One participant's series: about half questions (from the retrieval set), then reflection
    turns that carry the conversation so far. Texts are unique up to len(questions) × 8
    questions and 10 × 8 reflections across all participants."""
    n_questions = (turns + 1) // 2
    n_reflections = turns - n_questions
    out = []
    for i in range(n_questions):
        t = participant * n_questions + i
        out.append(Turn(chat_request(OPENERS[(t // len(questions)) % len(OPENERS)] + questions[t % len(questions)])))
    history: list[dict] = []
    for i in range(n_reflections):
        t = participant * n_reflections + i
        reflection = REFLECTIONS[t % len(REFLECTIONS)]
        opener = REFLECTION_OPENERS[(t // len(REFLECTIONS)) % len(REFLECTION_OPENERS)]
        text = opener + (reflection[0].lower() + reflection[1:] if opener.endswith((" at ", ", ")) else reflection)
        out.append(Turn(chat_request(text, mode="reflect", history=list(history), stage=STAGES[i % len(STAGES)])))
        # The reply is not known in advance; a short stand-in keeps the request's shape (history grows).
        history += [{"role": "user", "content": text}, {"role": "assistant", "content": "(svar)"}]
    return out


async def _participant(client, turns: list[Turn], latencies: list[float], errors: list[str]) -> None:
    import httpx

    for turn in turns:
        t0 = time.perf_counter()
        try:
            r = await client.post("/v1/chat/completions", json=turn.body)
            if r.status_code != 200:
                errors.append(f"HTTP {r.status_code}")
                continue
            r.json()["choices"][0]["message"]["content"]  # noqa: B018 - a complete answer came back
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            errors.append(type(exc).__name__)
            continue
        latencies.append((time.perf_counter() - t0) * 1000)


async def _drive(url: str, scripts: list[list[Turn]], warm_up: list[Turn], timeout: float) -> dict:
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=len(scripts), max_keepalive_connections=len(scripts))
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as client:
        # Warm-up: one participant's series first (what is loaded or cached lazily); not measured.
        for turn in warm_up:
            await client.post("/v1/chat/completions", json=turn.body)
        t0 = time.perf_counter()
        await asyncio.gather(*(_participant(client, s, latencies, errors) for s in scripts))
        wall = time.perf_counter() - t0
    out = {"turns": sum(len(s) for s in scripts), "answers": len(latencies), "errors": len(errors),
           "error_kinds": sorted(set(errors)), "wall_seconds": round(wall, 2),
           "answers_per_s": round(len(latencies) / wall, 2) if wall else None,
           **latency_summary(latencies)}
    out["p99_ms"] = round(percentile(latencies, 99), 1)
    return out


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_side(data_dir: Path, work: Path, n: int, turns: int, questions: list[str], *, baseline: bool,
                 extra_env: dict[str, str] | None = None, wrap: list[str] | None = None) -> dict:
    """One server (the app, or the baseline), N participants; `wrap` prefixes the server's command
    (a profiler such as `py-spy record ... --`)."""
    import sys

    command = [sys.executable, "-m", "bench.baseline_server" if baseline else "assistant"] + ([] if baseline else ["serve"])
    env = {**({} if baseline else APP_ENV), **(extra_env or {})}
    scripts = [script(p, turns, questions) for p in range(n)]
    with ServedApp(data_dir, work, extra_env=env, command=[*(wrap or []), *command]) as app:
        pid = _server_pid(app)
        cpu0 = _cpu_seconds(pid)
        # The warm-up series is one more participant's (its texts are not among the measured ones).
        result = asyncio.run(_drive(app.url, scripts, script(n, turns, questions), timeout=300))
        result["server_cpu_seconds"] = round(_cpu_seconds(pid) - cpu0, 2)
        # CPU the server spent per answer (warm-up included): less sensitive to other jobs than answers/s.
        result["server_cpu_ms_per_answer"] = round(1000 * result["server_cpu_seconds"] / max(1, result["answers"] + turns), 1)
        result["peak_rss_mb"] = round((proc_status_kb(pid, "VmHWM") or 0) / 1024, 1)
        result["ready_seconds"] = round(app.ready_seconds, 2)
    result["load_average"] = loadavg()
    return result


def _server_pid(app: ServedApp) -> int:
    """The Python server's pid: the process itself, or the child of a wrapper (py-spy)."""
    pid = app.proc.pid
    for _ in range(50):
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        if "python" in Path(f"/proc/{pid}/comm").read_text() or not children:
            return pid
        pid = int(children[0])
    return pid


def bench_concurrency(ours_dir: Path, baseline_dir: Path, work: Path, levels: list[int], turns: int,
                      log=print, min_total: int = 0) -> dict:
    """Each level N: N participants of max(turns, ceil(min_total / N)) turns each (so a small N
    still measures a few seconds of load), against the app, then against the baseline."""
    from bench import quality

    questions = quality.queries()
    per_level = {n: max(turns, -(-min_total // n)) for n in levels}
    out: dict = {"levels": levels, "turns_per_participant": turns, "min_total_turns": min_total,
                 "turns_at_level": {str(n): t for n, t in per_level.items()},
                 "turn_mix": "about half questions (byledelse-qa), then reflection turns (byledelse-reflect) "
                             "that carry the conversation so far",
                 "ours": {}, "baseline": {}}
    for n in levels:
        log(f"concurrency: {n} participants × {per_level[n]} turns, ours")
        out["ours"][str(n)] = measure_side(ours_dir, work, n, per_level[n], questions, baseline=False)
        log(f"concurrency: {n} participants, baseline")
        out["baseline"][str(n)] = measure_side(baseline_dir, work, n, per_level[n], questions, baseline=True)
        o, b = out["ours"][str(n)], out["baseline"][str(n)]
        log(f"concurrency {n}: ours {o['answers_per_s']}/s p95 {o['p95_ms']} ms ({o['errors']} errors); "
            f"baseline {b['answers_per_s']}/s p95 {b['p95_ms']} ms")
    return out
