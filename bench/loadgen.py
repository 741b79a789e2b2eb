"""Load: wrk (closed loop, 32 connections, saturation) and a paced Python generator.

`wrk_run` drives wrk with bench/wrk/signed.lua (a distinct pre-signed body per request) and
returns what its done() hook printed. The paced generator (`python -m bench.loadgen paced ...`)
is for what wrk cannot express: a fixed number of distinct signed events at a fixed rate, some
of them sent twice as Meta's retries are, with the answer to every request kept, so the harness
can count exactly which events were acknowledged. Its latency is measured from each request's
scheduled start (not from when a free connection took it), so a server that falls behind is
charged for the wait: no coordinated omission.
"""

import argparse
import http.client
import itertools
import json
import os
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import conf, payloads

LUA = Path(__file__).resolve().parent / "wrk" / "signed.lua"
POST_LUA = Path(__file__).resolve().parent / "wrk" / "post.lua"


def wrk_run(
    url: str,
    prefix: Path,
    duration_s: float,
    *,
    log: Path,
    script: Path = LUA,
    script_args: list[str] | None = None,
) -> dict[str, Any]:
    """Run wrk for `duration_s` against `url` with the bodies at `prefix` (or `script` with its
    own arguments); what its done() hook printed, with req/s."""
    command = [
        "wrk",
        f"-t{conf.WRK_THREADS}",
        f"-c{conf.WRK_CONNECTIONS}",
        f"-d{max(1, round(duration_s))}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        url,
        "--",
        *(script_args if script_args is not None else [str(prefix)]),
    ]
    done = subprocess.run(  # noqa: S603 - wrk with our arguments
        command, capture_output=True, text=True, check=False, timeout=duration_s + 60
    )
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n{done.stdout}{done.stderr}\n")
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            result: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
            result["rps"] = round(result["requests"] / result["duration_s"], 1)
            return result
    raise RuntimeError(f"wrk printed no result (exit {done.returncode}): {done.stderr[-500:]}")


@dataclass
class Plan:
    """Request i sends event `events[i]`; about `dup_share` of requests repeat an earlier one."""

    events: list[int]

    @classmethod
    def make(cls, distinct: int, dup_share: float, seed: int = 8) -> "Plan":
        rng = random.Random(seed)  # noqa: S311 - a load shape, not security
        events: list[int] = []
        fresh = 0
        while fresh < distinct:
            if events and rng.random() < dup_share:
                events.append(rng.choice(events[-200:]))
            else:
                events.append(fresh)
                fresh += 1
        return cls(events)


def paced(url: str, tag: str, rate: float, duration_s: float, threads: int) -> dict[str, Any]:
    """Send about rate*duration requests at a steady `rate`; every answer and latency kept."""
    secret = os.environ["META_APP_SECRET"]
    distinct = max(1, int(rate * duration_s / 1.1))
    plan = Plan.make(distinct, dup_share=0.1)
    bodies = {n: payloads.body(tag, n) for n in set(plan.events)}
    sigs = {n: payloads.meta_signature(raw, secret) for n, raw in bodies.items()}
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    path = "/" + url.split("//", 1)[1].split("/", 1)[1]
    latencies: list[float] = []
    acked: set[int] = set()
    failures: list[str] = []
    counter = itertools.count()
    lock = threading.Lock()
    start = time.perf_counter() + 0.2

    def worker() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        while (i := next(counter)) < len(plan.events):
            due = start + i / rate
            if (pause := due - time.perf_counter()) > 0:
                time.sleep(pause)
            n = plan.events[i]
            headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sigs[n]}
            try:
                conn.request("POST", path, body=bodies[n], headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as error:
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=10)
                status, note = 0, type(error).__name__
            else:
                note = str(status)
            took = time.perf_counter() - due
            with lock:
                latencies.append(took)
                if status == 200:
                    acked.add(n)
                else:
                    failures.append(note)
        conn.close()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(p: float) -> float:
        return round(1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))], 2)

    return {
        "target_rps": round(rate, 1),
        "requests": len(plan.events),
        "achieved_rps": round(len(plan.events) / elapsed, 1),
        "distinct_events": distinct,
        "acked_events": len(acked),
        "failures": len(failures),
        "failure_kinds": sorted(set(failures)),
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": pct(1.0),
        "tag": tag,
        "unacked": sorted(set(range(distinct)) - acked),
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("paced", help="steady-rate signed events (secret in META_APP_SECRET)")
    p.add_argument("url")
    p.add_argument("--tag", required=True)
    p.add_argument("--rate", type=float, required=True)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--threads", type=int, default=32)
    args = parser.parse_args(argv)
    print(json.dumps(paced(args.url, args.tag, args.rate, args.duration, args.threads)))


if __name__ == "__main__":
    main(sys.argv[1:])
