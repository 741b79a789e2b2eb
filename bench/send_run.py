"""The message send API under load, against the durable-INSERT reference."""

from bench.harness import Bench


def run(bench: Bench) -> None:
    bench.results["send_rps"] = None
    bench.notes.append("send: not wired yet")
