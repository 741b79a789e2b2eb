"""The end-to-end stack: gunicorn serving the platform and the sandbox, celery beat, workers.

Shared by the end-to-end modules; each module gets its own stack (the `stack` fixture in
conftest.py). Needs PostgreSQL (DATABASE_URL) and Redis (CELERY_BROKER_URL).
"""

import collections
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.leaks import register_secret

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PORTS = range(18110, 18200)  # the end-to-end suite's ports


def free_port(ports: range = PORTS) -> int:
    for port in ports:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1}")


def wait_for(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@dataclass
class Stack:
    """gunicorn (platform + sandbox) and celery beat, shared by the module; workers per test."""

    url: str
    env: dict[str, str]
    logs: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    started: int = 0
    prefix: str = "w"

    def start_worker(self, *, pool: str = "prefork", **env: str) -> subprocess.Popen[bytes]:
        self.started += 1
        name = f"{self.prefix}{self.started}"
        command = [
            str(BIN / "celery"), "-A", "config", "worker", "-l", "INFO", "-n", f"{name}@%h",
            "--pool", pool, "--concurrency", "1" if pool == "solo" else "2",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        log = open(self.logs / f"worker-{name}.log", "wb")  # noqa: SIM115 - closed with the process
        worker = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**self.env, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.workers.append(worker)
        log_path = self.logs / f"worker-{name}.log"
        wait_for(
            lambda: " ready." in log_path.read_text(errors="replace") or worker.poll() is not None,
            timeout=60,
            what=f"worker {name}",
        )
        return worker

    def stop_workers(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        self.workers.clear()

    # --------------------------------------------------------------- the sandbox, over HTTP

    def control(self, method: str, path: str, **body: Any) -> Any:
        response = requests.request(
            method, f"{self.url}/sandbox/control/{path}", json=body or None, timeout=10
        )
        assert response.status_code < 300, response.text
        return response.json()

    def calls(self, **query: str) -> list[dict[str, Any]]:
        return list(self.control("GET", "calls/?limit=1000&" + _query(query))["data"])

    def endpoint_counts(self) -> collections.Counter[str]:
        return collections.Counter(call["endpoint"] for call in self.calls())

    def signup(self, **choices: str) -> dict[str, Any]:
        signup = dict(self.control("POST", "signups/", **choices))
        register_secret(signup["code"], "code")
        return signup


def _query(params: dict[str, str]) -> str:
    return "&".join(f"{k}={v}" for k, v in params.items())


def spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=open(log, "wb"),  # noqa: SIM115 - closed with the process
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
