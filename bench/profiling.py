"""`bench/run --profile`: py-spy samples a service while a phase runs, then a text summary.

py-spy attaches to the service's leader and its children (gunicorn or Celery workers) without
pausing them (`--nonblocking`), writes collapsed stacks, and `summarize` turns them into the
functions with the largest share of samples, inclusive and self, so a report can quote where a
phase's time goes. Profiled figures run a little lower than unprofiled ones.
"""

import os
import subprocess
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from bench import conf

if TYPE_CHECKING:  # bench.procs needs psutil, which only bench/requirements.txt installs
    from bench.procs import Service

PROJECT = ("messaging/", "onboarding/", "config/", "sandbox/", "bench/")


class Recording:
    def __init__(self, service: "Service", name: str, seconds: float) -> None:
        self.raw = conf.OUT_DIR / f"profile-{name}.txt"
        self.summary = conf.OUT_DIR / f"profile-{name}.summary.txt"
        assert service.popen is not None  # noqa: S101 - started services only
        command = [
            str(conf.VENV_BIN / "py-spy"),
            "record",
            "--pid",
            str(service.popen.pid),
            "--subprocesses",
            "--nonblocking",
            "--nolineno",
            "--rate",
            "50",
            "--duration",
            str(int(seconds)),
            "--format",
            "raw",
            "--output",
            str(self.raw),
        ]
        if os.environ.get("BENCH_PYSPY_GIL"):  # only samples holding the GIL: Python's CPU
            command.append("--gil")
        self.popen = subprocess.Popen(  # noqa: S603 - py-spy from our venv
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=conf.ROOT
        )

    def finish(self, timeout_s: float = 60) -> Path | None:
        try:
            self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.popen.terminate()
            self.popen.wait(5)
        if not self.raw.exists():
            return None
        self.summary.write_text(summarize(self.raw))
        return self.summary


def _frames(stack: str) -> list[str]:
    # "process 12:\"cmd\";thread (0x..);func (file.py);..." -> the function frames
    return [f for f in stack.split(";") if "(" in f and not f.startswith(("process ", "thread "))]


def summarize(raw: Path, top: int = 25) -> str:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = _frames(stack)
        if not frames:
            continue
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    if not total:
        return "no samples\n"
    ours = Counter({f: n for f, n in inclusive.items() if f.split("(")[-1].startswith(PROJECT)})
    lines = [
        f"{total} samples (50/s, every process of the service, idle threads left out)",
        "",
        "inclusive %  function of the project",
    ]
    lines += [f"{100 * n / total:10.1f}  {frame}" for frame, n in ours.most_common(top)]
    lines += ["", "self %  function"]
    lines += [f"{100 * n / total:6.1f}  {frame}" for frame, n in own.most_common(top)]
    return "\n".join(lines) + "\n"
