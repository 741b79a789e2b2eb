"""Onboarding under load: N signups at once against the sandbox with Graph latency injected."""

from bench.harness import Bench


def run(bench: Bench) -> None:
    bench.results["onboarding_all_active"] = None
    bench.notes.append("onboarding: not wired yet")
