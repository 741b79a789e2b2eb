"""The results: the table (each figure beside its same-run floor and target), the JSON, the plot,
and the generated part of docs/benchmarks.md (between its `bench:results` markers; the text
around them is written by hand and kept).
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

START = "<!-- bench:results:start -->"
END = "<!-- bench:results:end -->"


@dataclass(frozen=True)
class Row:
    figure: str
    value: str
    floor: str
    ratio: str
    target: str
    met: str  # "yes", "no", "stretch" (the stretch goal too) or "n/a"


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, list):
        return ", ".join(_num(v, digits) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return f"{value:,.{digits}f}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_num(v, digits)}" for k, v in value.items())
    return str(value)


def _ratio(a: Any, b: Any) -> float | None:
    if not isinstance(a, int | float) or not isinstance(b, int | float) or not b:
        return None
    return round(a / b, 2)


def _verdict(ok: bool | None, stretch: bool | None = None) -> str:
    if ok is None:
        return "n/a"
    if ok and stretch:
        return "yes (stretch too)"
    return "yes" if ok else "no"


def _at_least(ratio: float | None, goal: float) -> bool | None:
    return None if ratio is None else ratio >= goal


def _send_floor(r: dict[str, Any]) -> Any:
    """The reference view measured beside the send API (runs before it had its own rounds: the
    ingest phase's)."""
    return r.get("send_floor_rps") or r.get("ingest_floor_rps")


def rows(r: dict[str, Any]) -> list[Row]:
    """The table, from the results dictionary (the JSON)."""
    ingest = _ratio(r.get("ingest_rps"), r.get("ingest_floor_rps"))
    vs_pywa = _ratio(r.get("ingest_rps"), r.get("pywa_rps"))
    forward = _ratio(r.get("forward_per_s"), r.get("forward_floor_per_s"))
    send = _ratio(r.get("send_rps"), _send_floor(r))
    p99 = r.get("ingest_p99_ms")
    sent, stored = r.get("events_sent"), r.get("events_stored")
    lost = r.get("events_lost")
    return [
        Row(
            "Webhook ingest, req/s (signed, stored, 32 conn.)",
            _num(r.get("ingest_rps")),
            f"reference view {_num(r.get('ingest_floor_rps'))}",
            _num(ingest, 2),
            ">= 0.9x",
            _verdict(_at_least(ingest, 0.9)),
        ),
        Row(
            "  same, against pywa on FastAPI (stretch)",
            _num(r.get("ingest_rps")),
            f"pywa {_num(r.get('pywa_rps'))}",
            _num(vs_pywa, 2),
            ">= 1.0x (stretch)",
            _verdict(_at_least(vs_pywa, 1.0)),
        ),
        Row(
            f"Ingest p99 ms at half the floor's rate ({_num(r.get('paced_rps'))} req/s), "
            "workers running",
            _num(p99, 1),
            "",
            "",
            "< 250 ms",
            _verdict(None if p99 is None else p99 < 250),
        ),
        Row(
            "Events stored / distinct events acknowledged",
            f"{_num(stored)} / {_num(sent)}",
            "",
            "",
            "0 lost",
            _verdict(None if lost is None else lost == 0),
        ),
        Row(
            "Forwarding, signed deliveries/s (2 worker processes)",
            _num(r.get("forward_per_s")),
            f"requests loop x2 {_num(r.get('forward_floor_per_s'))}",
            _num(forward, 2),
            ">= 0.5x (stretch 0.8x)",
            _verdict(_at_least(forward, 0.5), _at_least(forward, 0.8)),
        ),
        Row(
            "Message send API, accepted/s",
            _num(r.get("send_rps")),
            f"reference view {_num(_send_floor(r))}",
            _num(send, 2),
            ">= 0.9x",
            _verdict(_at_least(send, 0.9)),
        ),
        Row(
            f"Onboarding: {_num(r.get('onboarding_count'))} signups, 100 ms per Graph call, "
            "total s",
            _num(r.get("onboarding_total_s"), 1),
            "",
            "",
            "all active, no step twice",
            _verdict(
                None
                if r.get("onboarding_all_active") is None
                else bool(r.get("onboarding_all_active"))
                and r.get("onboarding_steps_repeated") == 0
                and not r.get("onboarding_graph_writes_repeated")
            ),
        ),
        Row(
            "  platform's own ms per onboarding beyond injected latency",
            _num(r.get("onboarding_own_ms_per_signup"), 1),
            "",
            "",
            "reported",
            "n/a",
        ),
        *_dispatch_rows(r),
        Row(
            "Peak RSS, one web worker, MB",
            _num(r.get("web_worker_rss_peak_mb"), 1),
            "",
            "",
            "reported",
            "n/a",
        ),
        Row(
            "Peak RSS, one Celery worker process, MB",
            _num(r.get("celery_worker_rss_peak_mb"), 1),
            "",
            "",
            "reported",
            "n/a",
        ),
    ]


def _dispatch_rows(r: dict[str, Any]) -> list[Row]:
    """Dispatch to the sandbox: each number held to its rate, all busy at once, each sent once."""
    numbers, rate = r.get("dispatch_numbers"), r.get("dispatch_rate_per_number")
    busiest = r.get("dispatch_busiest_second_by_number") or []
    over = r.get("dispatch_over_limit")
    held = None if not busiest or over is None else max(busiest) <= (rate or 0) and over == 0
    ideal = r.get("dispatch_ideal_per_s")
    total = _ratio(r.get("dispatch_total_per_s"), ideal)
    together = r.get("dispatch_concurrent_per_s_by_number")
    each_busy = None if not together or not rate else min(together) >= 0.8 * rate
    queued, sent = r.get("dispatch_queued"), r.get("dispatch_sent")
    wrong = [r.get(k) for k in ("dispatch_lost", "dispatch_doubled", "dispatch_wamid_mismatched")]
    once = None if queued is None or None in wrong else sent == queued and not any(wrong)
    return [
        Row(
            f"Dispatch: {_num(numbers)} numbers at {_num(rate)}/s each, busiest second per "
            "number (sandbox arrivals)",
            _num(busiest),
            f"rate {_num(rate)}",
            _num(r.get("dispatch_busiest_ratio"), 2),
            "<= 1.0x, 0 over",
            _verdict(held),
        ),
        Row(
            "  all numbers at once, sends/s (each number >= 0.8x its rate meanwhile)",
            _num(r.get("dispatch_total_per_s"), 1),
            f"numbers x rate {_num(ideal)}",
            _num(total, 2),
            ">= 0.8x, each >= 0.8x",
            _verdict(None if total is None or each_busy is None else total >= 0.8 and each_busy),
        ),
        Row(
            "  messages sent exactly once / queued",
            f"{_num(sent)} / {_num(queued)}",
            "",
            "",
            "0 lost, 0 doubled",
            _verdict(once),
        ),
    ]


def markdown_table(table: list[Row]) -> str:
    lines = [
        "| figure | value | floor (same run) | ratio | target | met |",
        "|---|---:|---|---:|---|---|",
    ]
    lines += [
        f"| {r.figure} | {r.value} | {r.floor} | {r.ratio} | {r.target} | {r.met} |" for r in table
    ]
    return "\n".join(lines)


def text_table(table: list[Row]) -> str:
    headers = ("figure", "value", "floor (same run)", "ratio", "target", "met")
    cells = [headers, *[(r.figure, r.value, r.floor, r.ratio, r.target, r.met) for r in table]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    out = []
    for n, row in enumerate(cells):
        out.append(
            "  ".join(
                c.ljust(w) if i in (0, 2, 4, 5) else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def details_table(r: dict[str, Any]) -> str:
    """The supporting figures: every phase's own numbers."""

    def line(name: str, key: str, digits: int = 0, unit: str = "") -> str:
        return f"| {name} | {_num(r.get(key), digits)}{unit} |"

    lines = [
        "| supporting figure | value |",
        "|---|---:|",
        line("ingest rounds, reference view req/s", "ingest_floor_rounds"),
        line("ingest rounds, platform req/s", "ingest_rounds"),
        line("server CPU ms per request, reference view", "ingest_floor_cpu_ms_per_req", 2),
        line("server CPU ms per request, platform ingest", "ingest_cpu_ms_per_req", 2),
        line("server CPU ms per request, pywa", "pywa_cpu_ms_per_req", 2),
        line("PostgreSQL CPU ms per request, reference view", "ingest_floor_pg_cpu_ms_per_req", 2),
        line("PostgreSQL CPU ms per request, platform ingest", "ingest_pg_cpu_ms_per_req", 2),
        line(
            "ingest CPU cost ratio, reference ÷ platform (server + PostgreSQL ms/req)",
            "ingest_cpu_cost_ratio",
            2,
        ),
        line("reference view p99 ms at saturation", "ingest_floor_p99_ms", 1),
        line("platform ingest p50 ms at saturation", "ingest_sat_p50_ms", 1),
        line("platform ingest p99 ms at saturation", "ingest_sat_p99_ms", 1),
        line("pywa p99 ms at saturation", "pywa_p99_ms", 1),
        line("paced run: requests sent (10 % are Meta-style repeats)", "paced_requests"),
        line("paced run: achieved req/s", "paced_achieved_rps", 1),
        line("paced run: p50 ms", "paced_p50_ms", 1),
        line("same rate, workers held (ingest alone): p50 ms", "ingest_p50_alone_ms", 1),
        line("same rate, workers held (ingest alone): p99 ms", "ingest_p99_alone_ms", 1),
        line("backlog after saturation: events", "backlog_events"),
        line(
            "backlog: events processed per second (2 worker processes)",
            "backlog_processed_per_s",
            1,
        ),
        line("backlog: events processed within the window", "backlog_processed"),
        line("backlog: events delivered within the window", "backlog_delivered"),
        line("end to end: distinct webhook-ids verified", "receiver_distinct_ids"),
        line("end to end: receiver signature failures", "receiver_refused"),
        line("forwarding rounds, platform deliveries/s", "forward_rounds"),
        line("forwarding rounds, requests loop x2 posts/s", "forward_floor_rounds"),
        line("forwarding: CPU ms per delivery, workers + PostgreSQL", "forward_cpu_ms", 2),
        line("forwarding: CPU ms per post, requests loop", "forward_floor_cpu_ms", 2),
        line("forwarding: attempts recorded (all rounds)", "forward_attempts"),
        line("forwarding: deliveries not succeeded", "forward_unfinished"),
        line("onboarding: onboardings that reached active", "onboarding_active"),
        line("onboarding: steps run more than once", "onboarding_steps_repeated"),
        line("onboarding: Graph calls made", "onboarding_graph_calls"),
        line(
            "onboarding: identical Graph writes answered twice", "onboarding_graph_writes_repeated"
        ),
        line(
            "onboarding: platform CPU ms per onboarding (web + workers)",
            "onboarding_cpu_ms_per_signup",
            1,
        ),
        line("onboarding: submissions accepted", "onboarding_accepted"),
        line("send API: p99 ms at saturation", "send_p99_ms", 1),
        line("send API: server CPU ms per request", "send_cpu_ms_per_req", 2),
        line("send API: PostgreSQL CPU ms per request", "send_pg_cpu_ms_per_req", 2),
        line("send API: outbox rows written while measured", "send_rows"),
        line("send API: 202 answers while measured", "send_accepted"),
        line("send API: accepted/s by round", "send_rounds"),
        line("send API: reference view req/s by round, same phase", "send_floor_rounds"),
        line("send API: reference view server CPU ms per request", "send_floor_cpu_ms_per_req", 2),
        line(
            "send API: reference view PostgreSQL CPU ms per request",
            "send_floor_pg_cpu_ms_per_req",
            2,
        ),
        line(
            "dispatch: sends/s per number, first to last send",
            "dispatch_sustained_per_s_by_number",
            2,
        ),
        line(
            "dispatch: sends/s per number while all were sending",
            "dispatch_concurrent_per_s_by_number",
            2,
        ),
        line("dispatch: seconds in which all were sending", "dispatch_common_span_s", 1),
        line(
            "dispatch: share of those seconds with every number at >= 0.8x its rate",
            "dispatch_all_busy_share",
            2,
        ),
        line(
            "dispatch: the limiter's pace in all (numbers x rate x headroom)",
            "dispatch_limiter_per_s",
            1,
        ),
        line(
            "dispatch: sends over a number's rate in the second before them", "dispatch_over_limit"
        ),
        line("dispatch: sends the sandbox refused with 130429", "dispatch_refused_130429"),
        line("dispatch: calls made to the sandbox (attempts)", "dispatch_attempts"),
        line(
            "dispatch: s to onboard, cap and approve a template for the numbers",
            "dispatch_setup_s",
            1,
        ),
        line("dispatch: s from queueing until all were sent", "dispatch_all_sent_s", 1),
        line("dispatch: same at the limiter's pace", "dispatch_ideal_s", 1),
        "| dispatch: lost / doubled / wamid mismatched | "
        + " / ".join(_num(r.get(f"dispatch_{k}")) for k in ("lost", "doubled", "wamid_mismatched"))
        + " |",
        line("dispatch: the sandbox's median ms per send", "dispatch_sandbox_p50_ms", 1),
        line("dispatch: CPU ms per message by process", "dispatch_cpu_ms_per_message", 1),
        line("run wall time s", "wall_s", 1),
    ]
    rss = r.get("rss_by_phase") or {}
    if rss:
        lines += [
            "",
            "| phase | peak RSS web worker MB | peak RSS Celery process MB |",
            "|---|---:|---:|",
        ]
        lines += [
            f"| {phase} | {_num(p.get('web'), 1)} | {_num(p.get('celery'), 1)} |"
            for phase, p in rss.items()
        ]
    return "\n".join(lines)


def write_json(path: Path, r: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(r, indent=2, sort_keys=True) + "\n")


def plot(path: Path, r: dict[str, Any]) -> bool:
    """Each figure beside its floor (left) and as a ratio against its target (right)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    pairs = [
        ("ingest\nvs reference", "ingest_rps", "ingest_floor_rps", 0.9),
        ("ingest\nvs pywa", "ingest_rps", "pywa_rps", 1.0),
        ("forwarding\nvs requests x2", "forward_per_s", "forward_floor_per_s", 0.5),
        ("send API\nvs reference", "send_rps", "send_floor_rps", 0.9),
    ]
    r = {**r, "send_floor_rps": _send_floor(r)}
    fig, (left, right, third) = plt.subplots(
        1, 3, figsize=(14, 4.2), gridspec_kw={"width_ratios": [4, 4, 2]}
    )
    xs = range(len(pairs))
    ours = [r.get(a) or 0 for _, a, _, _ in pairs]
    floors = [r.get(b) or 0 for _, _, b, _ in pairs]
    left.bar([x - 0.2 for x in xs], floors, 0.4, label="floor (same run)", color="#9aa5b1")
    left.bar([x + 0.2 for x in xs], ours, 0.4, label="platform", color="#2f6fde")
    left.set_xticks(list(xs), [p[0] for p in pairs], fontsize=8)
    left.set_ylabel("per second")
    left.set_title("Throughput beside its floor")
    left.legend(fontsize=8)
    ratios = [_ratio(r.get(a), r.get(b)) or 0 for _, a, b, _ in pairs]
    colors = [
        "#2e9d5b" if q >= goal else "#d1495b"
        for q, (_, _, _, goal) in zip(ratios, pairs, strict=True)
    ]
    right.bar(list(xs), ratios, 0.5, color=colors)
    for x, (_, a, b, goal) in zip(xs, pairs, strict=True):
        right.hlines(goal, x - 0.35, x + 0.35, colors="black", linestyles="dashed")
        ratio = _ratio(r.get(a), r.get(b))
        label = "n/a" if ratio is None else f"{ratio:.2f}"
        right.annotate(label, (x, ratio or 0), ha="center", va="bottom", fontsize=8)
    right.set_xticks(list(xs), [p[0] for p in pairs], fontsize=8)
    right.set_ylabel("ratio to floor (dashed: target)")
    right.set_title("Ratio to floor")
    p99 = [("alone", r.get("ingest_p99_alone_ms")), ("workers\nrunning", r.get("ingest_p99_ms"))]
    third.bar(
        [0, 1],
        [v or 0 for _, v in p99],
        0.5,
        color=["#2e9d5b" if (v or 0) < 250 else "#d1495b" for _, v in p99],
    )
    third.hlines(250, -0.4, 1.4, colors="black", linestyles="dashed")
    for x, (_, v) in enumerate(p99):
        third.annotate(
            "n/a" if v is None else f"{v:.0f}", (x, v or 0), ha="center", va="bottom", fontsize=8
        )
    third.set_xticks([0, 1], [name for name, _ in p99], fontsize=8)
    third.set_ylabel("ms (dashed: 250 ms)")
    third.set_title(f"Ingest p99 at {_num(r.get('paced_rps'))}/s", fontsize=10)
    fig.suptitle(f"bench/run {r.get('mode', '')} · {r.get('started_at', '')}", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


_SKELETON = """# Benchmarks

`bench/run` measures the platform's hot paths against floors measured in the same run.

{start}
{end}
"""


def write_docs(
    path: Path,
    r: dict[str, Any],
    *,
    plot_name: str | None,
    environment: Callable[[dict[str, Any]], str],
) -> None:
    text = path.read_text() if path.exists() else _SKELETON.format(start=START, end=END)
    if START not in text or END not in text:
        text = text.rstrip() + f"\n\n{START}\n{END}\n"
    generated = [
        f"Last run: {r.get('started_at')} ({r.get('mode')}, {r.get('wall_s')} s, "
        f"commit {r.get('commit')}).",
        "",
        markdown_table(rows(r)),
        "",
    ]
    if plot_name:
        generated += [
            f"![Each figure beside its floor, and its ratio to the target]({plot_name})",
            "",
        ]
    generated += [details_table(r), "", environment(r)]
    if r.get("extra_env"):
        generated += ["", f"Experiment: the platform ran with {r['extra_env']}."]
    if r.get("setup_sql"):
        generated += ["", f"Experiment: `{r['setup_sql']}` was run on the database first."]
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n" + "\n".join(generated).rstrip() + f"\n{END}{tail}")
