"""Processes the harness starts: each in its own session, logged to var/bench/logs, stopped by
its own process group id (never by name), and sampled for peak RSS while it runs.
"""

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench import conf


def port_open(port: int, host: str = conf.HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


@dataclass
class Service:
    """One command started here (with its children: gunicorn or Celery workers)."""

    name: str
    command: list[str]
    env: dict[str, str]
    role: str  # "web", "celery" or "other": what its child processes count as for RSS
    port: int | None = None
    # gunicorn and uvicorn stop at once on SIGINT; a Celery worker on SIGQUIT (cold shutdown:
    # acks_late puts an unfinished task back in the queue). Nothing of a run is kept.
    stop_signal: int = signal.SIGINT
    popen: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = conf.LOG_DIR / f"{self.name}.log"

    def start(self, *, wait_s: float = 60.0) -> "Service":
        self.launch()
        self.wait_ready(wait_s)
        return self

    def launch(self) -> "Service":
        if self.port is not None and port_open(self.port):
            raise RuntimeError(
                f"port {self.port} ({self.name}) is already taken: is an earlier bench still "
                "running? Stop it by its process id, then run again."
            )
        out = self.log.open("ab")
        self.popen = subprocess.Popen(  # noqa: S603 - our own fixed command lines
            self.command,
            env=self.env,
            cwd=conf.ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        return self

    def wait_ready(self, wait_s: float = 60.0) -> None:
        if self.port is None or self.popen is None:
            return
        deadline = time.monotonic() + wait_s
        while not port_open(self.port):
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start; see {self.log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not listen on {self.port}; see {self.log}")
            time.sleep(0.05)

    def processes(self) -> list[psutil.Process]:
        if self.popen is None or self.popen.poll() is not None:
            return []
        try:
            parent = psutil.Process(self.popen.pid)
            return [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        """CPU time (user and system) of the live processes of this service so far."""
        total = 0.0
        for process in self.processes():
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
        return total

    def signal_stop(self) -> None:
        """`stop_signal` to the process group this service leads (it was started as its own
        session, so the group id is the leader's pid); `stop` then waits for it."""
        if self.popen is not None and self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, self.stop_signal)

    def stop(self, *, timeout_s: float = 5.0) -> None:
        """`stop_signal` to the process group this service leads, SIGKILL after `timeout_s`."""
        if self.popen is None or self.popen.poll() is not None:
            return
        pgid = self.popen.pid  # start_new_session: the group id is the leader's pid
        try:
            os.killpg(pgid, self.stop_signal)
            self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.popen.wait(5)
        except ProcessLookupError:
            pass


class RssSampler:
    """Peak resident memory of any one process per role ("web", "celery"), per phase."""

    def __init__(self, interval_s: float = 0.25) -> None:
        self.interval_s = interval_s
        self.services: list[Service] = []
        self.phase = "setup"
        self.peaks: dict[str, dict[str, float]] = defaultdict(dict)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="rss-sampler")

    def watch(self, service: Service) -> None:
        self.services.append(service)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)

    def sample(self) -> None:
        for service in list(self.services):
            if service.role not in ("web", "celery"):
                continue
            for process in service.processes():
                try:
                    rss_mb = process.memory_info().rss / 2**20
                except psutil.Error:
                    continue
                peaks = self.peaks[self.phase]
                peaks[service.role] = max(peaks.get(service.role, 0.0), round(rss_mb, 1))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def overall(self, role: str) -> float | None:
        values = [p[role] for p in self.peaks.values() if role in p]
        return max(values) if values else None
