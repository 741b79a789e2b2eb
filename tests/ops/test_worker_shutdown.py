"""Graceful shutdown with real worker processes on Redis: SIGTERM lets a running task finish, or
(soft shutdown, a killed child) puts it back on the queue so it runs again exactly once.

Also shows what a live worker gives /healthz (its heartbeat) and its logs (JSON with task ids).
"""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings

from config import heartbeat
from tests.ops.shutdown_tasks import slow_step

pytestmark = pytest.mark.worker

ROOT = Path(__file__).resolve().parents[2]


def wait_until(condition: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or condition}")


class Worker:
    """A `celery -A config worker` process on its own queue, logging JSON to a file."""

    def __init__(self, queue: str, log: Path, **env: str) -> None:
        self.hostname = f"ops-{uuid.uuid4().hex[:8]}@test"
        self.log = log
        environment = {
            **os.environ,
            "LOG_FORMAT": "json",
            "WORKER_HEARTBEAT_INTERVAL_S": "0.5",
            "PYTHONPATH": str(ROOT),
            **env,
        }
        command = [
            sys.executable, "-m", "celery", "-A", "config", "worker",
            "-I", "tests.ops.shutdown_tasks", "-Q", queue, "-n", self.hostname,
            "--pool", "prefork", "--concurrency", "1", "--loglevel", "INFO",
            "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        with log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - fixed argv
                command, cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT
            )
        wait_until(self.heartbeat_seen, what=f"{self.hostname} heartbeat")

    def heartbeat_seen(self) -> bool:
        assert self.process.poll() is None, self.log.read_text()[-3000:]
        workers, _ = heartbeat.heartbeats_read()
        return self.hostname in workers

    def sigterm_and_wait(self, timeout: float = 30.0) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def json_lines(self) -> list[dict[str, Any]]:
        lines = []
        for raw in self.log.read_text().splitlines():
            if raw.startswith("{"):
                lines.append(json.loads(raw))
        return lines


@pytest.fixture
def broker() -> redis.Redis:
    return redis.Redis.from_url(settings.CELERY_BROKER_URL)


@pytest.fixture
def marks() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@pytest.fixture
def queue(broker: redis.Redis) -> Iterator[str]:
    name = f"ops-shutdown-{uuid.uuid4().hex[:8]}"
    yield name
    broker.delete(name)


@pytest.fixture
def workers(tmp_path: Path, queue: str) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(**env: str) -> Worker:
        worker = Worker(queue, tmp_path / f"worker-{len(started)}.log", **env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def counts(marks: redis.Redis, run_key: str) -> tuple[int, int]:
    starts, finishes = marks.mget(f"{run_key}:starts", f"{run_key}:finishes")
    return int(starts or 0), int(finishes or 0)


def messages_left(broker: redis.Redis, queue: str) -> int:
    """Messages of this queue still waiting, or held unacknowledged by some worker."""
    # kombu keeps each unacknowledged message as [message, exchange, routing key]; other tests'
    # killed workers may leave theirs behind, so count only this queue's.
    held = [json.loads(raw) for raw in broker.hvals("unacked")]
    return int(broker.llen(queue)) + sum(1 for _, _, key in held if key == queue)


def test_sigterm_lets_a_running_task_finish_then_the_worker_exits(
    workers: Callable[..., Worker], queue: str, marks: Any, broker: Any
) -> None:
    worker = workers()
    run_key = f"run-{uuid.uuid4().hex}"
    result = slow_step.apply_async((run_key, 2.0), queue=queue)
    wait_until(lambda: counts(marks, run_key)[0] == 1, what="task start")

    exit_code = worker.sigterm_and_wait()

    assert exit_code == 0
    assert counts(marks, run_key) == (1, 1)  # it finished, once
    assert messages_left(broker, queue) == 0  # and was acknowledged
    assert worker.hostname not in heartbeat.heartbeats_read()[0]  # a clean stop leaves /healthz
    started = [line for line in worker.json_lines() if line["message"] == "slow step started"]
    assert [line["task_id"] for line in started] == [result.id]
    assert started[0]["task"] == "tests.ops.slow_step"
    assert started[0]["logger"] == "tests.ops.shutdown_tasks"


def test_soft_shutdown_requeues_an_unfinished_task_which_runs_again_exactly_once(
    workers: Callable[..., Worker], queue: str, marks: Any, broker: Any
) -> None:
    # The deploy-platform setting: SIGTERM starts a cold shutdown after a soft grace period.
    impatient = workers(REMAP_SIGTERM="SIGQUIT", CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT="1")
    run_key = f"run-{uuid.uuid4().hex}"
    slow_step.apply_async((run_key, 120.0), queue=queue)
    wait_until(lambda: counts(marks, run_key)[0] == 1, what="task start")

    impatient.sigterm_and_wait()

    assert counts(marks, run_key) == (1, 0)  # interrupted, not finished
    assert messages_left(broker, queue) == 1  # but back on the queue, not lost
    workers()
    wait_until(lambda: counts(marks, run_key)[1] == 1, what="the redelivered run")
    time.sleep(1.0)  # room for a duplicate to show up, if there were one
    assert counts(marks, run_key) == (2, 1)
    assert messages_left(broker, queue) == 0


def test_a_killed_child_process_has_its_task_redelivered_once(
    workers: Callable[..., Worker], queue: str, marks: Any, broker: Any
) -> None:
    worker = workers()
    run_key = f"run-{uuid.uuid4().hex}"
    slow_step.apply_async((run_key, 120.0), queue=queue)
    wait_until(lambda: counts(marks, run_key)[0] == 1, what="task start")
    child = int(marks.get(f"{run_key}:pid"))
    assert child != worker.process.pid

    os.kill(child, signal.SIGKILL)  # the OOM killer's way: reject_on_worker_lost requeues it

    wait_until(lambda: counts(marks, run_key)[1] == 1, what="the redelivered run")
    time.sleep(1.0)
    assert counts(marks, run_key) == (2, 1)
    assert messages_left(broker, queue) == 0
    assert worker.sigterm_and_wait() == 0
