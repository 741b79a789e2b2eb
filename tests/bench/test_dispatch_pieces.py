"""The dispatch phase's arithmetic: the busiest 1-second window and the sends over a rate, each
number's rate while all were sending, and the exactly-once check of the queued messages against
the sends Meta accepted; and the verdicts the table draws from them."""

from bench import dispatch_run, report


def _paced(rate: float, count: int, start: float = 0.0) -> list[float]:
    return [start + i / rate for i in range(count)]


def test_busiest_window_is_half_open_and_counts_the_send_itself() -> None:
    times = [0.0, 0.5, 0.99, 1.0, 1.5]
    # (t - 1, t]: at 1.0 the send at 0.0 is out, at 0.99 it is in
    assert dispatch_run.window_counts(times) == [1, 2, 3, 3, 3]
    assert dispatch_run.busiest_window(times) == 3
    assert dispatch_run.busiest_window([]) == 0
    assert dispatch_run.busiest_window([3.0, 1.1, 2.0, 1.5]) == 3  # order does not matter


def test_sends_at_the_limiters_pace_stay_within_the_rate_and_one_early_send_does_not() -> None:
    times = _paced(5 * 0.85, 40)  # 4.25 a second: a 1-second window holds at most 5
    assert dispatch_run.busiest_window(times) == 5
    assert dispatch_run.over_limit(times, 5) == 0
    early = sorted([*times, times[10] + 0.01])  # one more, squeezed in
    assert dispatch_run.busiest_window(early) == 6
    assert dispatch_run.over_limit(early, 5) >= 1
    assert dispatch_run.over_limit(_paced(20, 40), 5) == 40 - 5  # every send after the fifth


def test_sustained_rate_runs_from_first_to_last_send() -> None:
    assert dispatch_run.sustained_per_s(_paced(4, 9)) == 4.0
    assert dispatch_run.sustained_per_s([1.0]) is None
    assert dispatch_run.sustained_per_s([1.0, 1.0]) is None


def test_a_number_left_idle_while_the_others_send_shows_in_the_concurrent_figures() -> None:
    steady = _paced(4.25, 86)  # 0 to 20 s
    idle_midway = [t for t in steady if not 5 <= t < 12]
    late = _paced(4.25, 70, start=3.0)  # starts at 3 s, ends about 19.2 s
    times = {"a": steady, "b": late}
    assert dispatch_run.common_span(times) == (3.0, late[-1])
    together = dispatch_run.concurrent_per_s(times)
    assert together is not None
    assert all(abs(x - 4.25) < 0.3 for x in together)
    assert dispatch_run.all_busy_share(times, 5) == 1.0
    gapped = {"a": idle_midway, "b": late}
    gapped_together = dispatch_run.concurrent_per_s(gapped)
    assert gapped_together is not None
    assert gapped_together[0] < 3.0
    assert gapped_together[1] == together[1]
    assert dispatch_run.all_busy_share(gapped, 5) == 9 / 16  # 'a' idle in 7 of 16 whole seconds
    assert dispatch_run.common_span({"a": steady, "b": []}) is None
    assert dispatch_run.all_busy_share({"a": [1.0, 1.5], "b": [1.2, 1.4]}, 5) is None  # < 1 s


def test_once_check_finds_lost_doubled_mismatched_and_stray_sends() -> None:
    recorded = {"u1": "w1", "u2": "w2", "u3": "w3", "u4": None, "u5": "w5"}
    accepted = [
        ("u1", "w1"),
        ("u2", "w2a"),  # Meta took it twice: two wamids
        ("u2", "w2b"),
        ("u4", "w4"),  # Meta took it, the platform holds no wamid
        ("u5", "other"),  # and here another one
        ("x9", "w9"),  # a send for nothing queued in this phase
    ]
    once = dispatch_run.once_check(recorded, accepted)
    assert once == dispatch_run.Once(sent=1, lost=1, doubled=1, mismatched=2, stray=1)
    clean = dispatch_run.once_check({"u1": "w1"}, [("u1", "w1")])
    assert clean == dispatch_run.Once(sent=1, lost=0, doubled=0, mismatched=0, stray=0)


DISPATCH = {
    "dispatch_numbers": 4,
    "dispatch_rate_per_number": 5,
    "dispatch_busiest_second_by_number": [5, 5, 4, 5],
    "dispatch_busiest_ratio": 1.0,
    "dispatch_over_limit": 0,
    "dispatch_total_per_s": 16.5,
    "dispatch_ideal_per_s": 20,
    "dispatch_concurrent_per_s_by_number": [4.2, 4.1, 4.25, 4.2],
    "dispatch_queued": 400,
    "dispatch_sent": 400,
    "dispatch_lost": 0,
    "dispatch_doubled": 0,
    "dispatch_wamid_mismatched": 0,
}


def _dispatch_verdicts(results: dict[str, object]) -> list[str]:
    table = report.rows(results)
    first = next(i for i, row in enumerate(table) if row.figure.startswith("Dispatch:"))
    return [row.met for row in table[first : first + 3]]


def test_dispatch_rows_hold_the_rate_keep_all_busy_and_send_each_once() -> None:
    assert _dispatch_verdicts(DISPATCH) == ["yes", "yes", "yes"]
    over = {**DISPATCH, "dispatch_busiest_second_by_number": [6, 5, 5, 5], "dispatch_over_limit": 1}
    assert _dispatch_verdicts(over)[0] == "no"
    one_idle = {**DISPATCH, "dispatch_concurrent_per_s_by_number": [4.2, 4.1, 2.4, 4.2]}
    assert _dispatch_verdicts(one_idle)[1] == "no"  # the total may pass; one number starved
    doubled = {**DISPATCH, "dispatch_sent": 399, "dispatch_doubled": 1}
    assert _dispatch_verdicts(doubled)[2] == "no"
    assert _dispatch_verdicts({}) == ["n/a", "n/a", "n/a"]
