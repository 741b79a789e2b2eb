"""`bench/run`: start everything on loopback, run each bounded load, report against floors.

Order of a run (docs/benchmarks.md explains each measurement):
  setup       fresh database platform_bench (migrated), Redis DBs 8 and 9 flushed, one Tech
              Provider whose callback URL is the local receiver, one active WABA and number
  ingest      wrk against the reference view (floor a), the platform's /webhooks/meta/ with
              its workers stopped, and pywa on FastAPI (floor b); distinct signed bodies
  backlog     the Celery workers (2 processes) and beat start and drain what ingest stored
  paced       the platform at half the reference's rate with workers running: p99, and every
              acknowledged event stored and delivered exactly once
  forward     N deliveries created at once, sent by the pump; then N posts from a requests
              loop in 2 processes (floor c)
  onboarding  the platform restarted against the sandbox with 100 ms on every Graph call;
              N signups submitted at once through the EmbeddedSignup API
  send        the message send API, when the platform has it
  dispatch    several numbers onboarded against the sandbox, each capped at 5 messages/s,
              their messages queued at once and sent by the workers: each number's busiest
              second in the sandbox's call log, all of them busy at once, each sent once
Every process started here is stopped by its own id at the end, whatever happens.
"""

import argparse
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench import conf, payloads, report
from bench.procs import RssSampler, Service

HOLD_QUEUE = "bench-hold"  # nothing is ever published here
PHASES = ("ingest", "backlog", "paced", "forward", "onboarding", "send", "dispatch")


class Bench:
    """What one run holds: its settings, its services, its sampler and its results."""

    def __init__(self, durations: conf.Durations, mode: str, *, profile: bool = False) -> None:
        self.d = durations
        self.profile = profile
        self.mode = mode
        self.secrets = conf.Secrets()
        self.services: dict[str, Service] = {}
        self.sampler = RssSampler()
        self.results: dict[str, Any] = {"mode": mode}
        self.tech_provider_id = 0  # the bench's Tech Provider (bench.phases.fixtures)
        self.receiver_secrets: list[str] = []  # the whsec_ secrets the receiver accepts
        self.auth = ("", "")  # the bench Tech Provider's auth_id and auth_token
        self.setup_sql: Path | None = None
        self.extra_env: dict[str, str] = {}  # an experiment: settings given to the platform
        self.notes: list[str] = []
        self.env = {**conf.base_env(), **conf.platform_env(self.secrets)}
        self.sandbox_env = {**conf.base_env(), **conf.sandbox_server_env(self.secrets)}

    # ---- processes
    def start(self, service: Service, *, wait: bool = True) -> Service:
        """Start `service` (replacing one of that name); `wait=False`: call wait_ready later."""
        self.stop(service.name)
        self.services[service.name] = service.start() if wait else service.launch()
        self.sampler.watch(service)
        return service

    def stop(self, name: str) -> None:
        service = self.services.pop(name, None)
        if service is not None:
            stopping = time.monotonic()
            service.stop()
            self.results.setdefault("stop_s_by_service", {})[name] = round(
                time.monotonic() - stopping, 1
            )
            if service in self.sampler.services:
                self.sampler.services.remove(service)

    def stop_all(self) -> None:
        """Signal every service at once, then wait for each (SIGKILL after its timeout)."""
        for service in self.services.values():
            service.signal_stop()
        for name in list(self.services):
            self.stop(name)

    def gunicorn(
        self,
        name: str,
        wsgi: str,
        port: int,
        env: dict[str, str],
        role: str = "web",
        extra: list[str] | None = None,
        wait: bool = True,
    ) -> Service:
        command = [
            str(conf.VENV_BIN / "gunicorn"),
            wsgi,
            "--bind",
            f"{conf.HOST}:{port}",
            *conf.GUNICORN_ARGS,
            *(extra or []),
        ]
        return self.start(Service(name, command, env, role, port), wait=wait)

    def uvicorn(
        self, name: str, app: str, port: int, workers: int, env: dict[str, str], wait: bool = True
    ) -> Service:
        command = [
            str(conf.VENV_BIN / "uvicorn"),
            app,
            "--host",
            conf.HOST,
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        return self.start(Service(name, command, env, "other", port), wait=wait)

    def celery(self, env: dict[str, str], *, hold: bool = False) -> None:
        """The worker (2 prefork processes, niced) and beat. With `hold` the worker starts
        consuming only an idle queue and beat waits: `release_celery` lets both go, so a phase
        can start the workers on a backlog without waiting for them to boot."""
        celery = str(conf.VENV_BIN / "celery")
        nice = ["nice", "-n", str(conf.CELERY_NICE)] if conf.CELERY_NICE else []
        worker = [
            *nice,
            celery,
            "-A",
            "config",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            str(conf.CELERY_CONCURRENCY),
            "-n",
            "bench@%h",
            "-Q",
            HOLD_QUEUE if hold else "celery",
        ]
        service = Service("celery-worker", worker, env, "celery", stop_signal=signal.SIGQUIT)
        offset = service.log.stat().st_size if service.log.exists() else 0
        self.start(service)
        _wait_for_worker(service, offset)
        if not hold:
            self._beat(env)

    def release_celery(self) -> None:
        """Let a held worker consume the real queue, and start beat (once)."""
        from config.celery import app

        node = f"bench@{socket.gethostname()}"
        replies = app.control.add_consumer("celery", destination=[node], reply=True, timeout=10)
        if not replies:
            raise RuntimeError("the held Celery worker did not take the celery queue")
        app.control.cancel_consumer(HOLD_QUEUE, destination=[node], reply=True, timeout=10)
        if "celery-beat" not in self.services:
            self._beat(self.services["celery-worker"].env)

    def hold_celery(self) -> None:
        """Stop the worker taking new tasks (what it runs finishes); release_celery resumes."""
        from config.celery import app

        node = f"bench@{socket.gethostname()}"
        app.control.add_consumer(HOLD_QUEUE, destination=[node], reply=True, timeout=10)
        app.control.cancel_consumer("celery", destination=[node], reply=True, timeout=10)

    def _beat(self, env: dict[str, str]) -> None:
        celery = str(conf.VENV_BIN / "celery")
        beat = [
            celery,
            "-A",
            "config",
            "beat",
            "--loglevel",
            "WARNING",
            "-s",
            str(conf.OUT_DIR / "celerybeat-schedule"),
        ]
        self.start(Service("celery-beat", beat, env, "other"))

    def manage(self, *args: str, env: dict[str, str]) -> str:
        done = subprocess.run(  # noqa: S603 - our own manage.py
            [sys.executable, "manage.py", *args],
            cwd=conf.ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        if done.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stderr[-2000:]}")
        return done.stdout


def _wait_for_worker(worker: Service, offset: int, timeout_s: float = 60) -> None:
    """Until the worker logs that it is ready (its pool is up and consuming)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if worker.popen is None or worker.popen.poll() is not None:
            raise RuntimeError(f"the Celery worker exited at start; see {worker.log}")
        with worker.log.open("rb") as log:
            log.seek(offset)
            if b" ready." in log.read():
                return
        time.sleep(0.1)
    raise RuntimeError(f"the Celery worker did not get ready; see {worker.log}")


def _reset_database() -> None:
    with psycopg.connect(conf.PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {conf.DB_NAME} WITH (FORCE)")  # ours alone
        conn.execute(f"CREATE DATABASE {conf.DB_NAME}")


def _flush_redis() -> None:
    import redis

    for url in (conf.REDIS_CACHE_URL, conf.REDIS_BROKER_URL):
        redis.Redis.from_url(url).flushdb()


def _git_commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
        cwd=conf.ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
        cwd=conf.ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() + (" with uncommitted changes" if dirty.stdout.strip() else "")


def setup(bench: Bench) -> None:
    t0 = time.monotonic()
    conf.LOG_DIR.mkdir(parents=True, exist_ok=True)
    for old in conf.LOG_DIR.glob("*.log"):
        old.unlink()
    _reset_database()
    _flush_redis()
    # Migrate with the sandbox installed, so its tables exist for the onboarding phase too.
    bench.manage("migrate", "--noinput", "-v0", env=bench.sandbox_env)
    bench.results["migrate_s"] = round(time.monotonic() - t0, 1)
    os.environ.update(bench.env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    from bench import phases

    _point_at_sandbox(bench)
    phases.fixtures(bench)
    if bench.setup_sql:
        _run_sql(bench.setup_sql)
    phases.start_servers(bench)
    bench.results["setup_s"] = round(time.monotonic() - t0, 1)


def _run_sql(path: Path) -> None:
    """An experiment: SQL run on the bench database after migrating (e.g. an index dropped),
    to measure a schema change before proposing it. Named in the results."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(path.read_text())


def _point_at_sandbox(bench: Bench) -> None:
    """The platform holds the sandbox's partner app as it would hold Meta's: its app id, app
    secret (which also signs the load's bodies), system user token and credit line, explicit in
    the environment; the sandbox itself stays off in the platform and runs as its own server."""
    from django.conf import settings

    meta = {
        "META_APP_ID": settings.SANDBOX_APP_ID,
        "META_APP_SECRET": settings.SANDBOX_APP_SECRET,
        "META_SYSTEM_USER_TOKEN": settings.SANDBOX_SYSTEM_USER_TOKEN,
        "META_CREDIT_LINE_ID": settings.SANDBOX_CREDIT_LINE_ID,
        "META_WEBHOOK_VERIFY_TOKEN": settings.SANDBOX_WEBHOOK_VERIFY_TOKEN,
    }
    bench.secrets = dataclasses.replace(bench.secrets, meta_app_secret=meta["META_APP_SECRET"])
    bench.env = {
        **conf.base_env(),
        **conf.platform_env(bench.secrets, meta=meta),
        **bench.extra_env,
    }


def _bodies(bench: Bench) -> None:
    """Two disjoint sets of signed bodies: warm-ups, and measurements."""
    threads = conf.WRK_THREADS
    sets = [("W", bench.d.warm_s * 3)] + [
        (f"M{n}", bench.d.measure_s) for n in range(1, bench.d.rounds + 1)
    ]
    for tag, seconds in sets:
        per_thread = int(bench.d.max_rate * seconds / threads) + 100
        payloads.write_wrk_files(
            conf.OUT_DIR / f"bodies-{tag}-",
            tag=tag,
            threads=threads,
            per_thread=per_thread,
            app_secret=bench.secrets.meta_app_secret,
        )


def box_busy_pct(seconds: float = 0.5) -> float:
    """How busy the whole box's CPUs are (everything, not just what the bench started)."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]
        return sum(fields) - idle, sum(fields)

    busy0, total0 = sample()
    time.sleep(seconds)
    busy1, total1 = sample()
    return round(100 * (busy1 - busy0) / max(1, total1 - total0), 1)


SETTLED_PCT = 25.0


def settle(cap_s: float) -> tuple[float, float]:
    """Wait, at most `cap_s`, until the box is at most SETTLED_PCT % busy: what the phase before
    left running (the workers finishing their last batches, PostgreSQL's autovacuum after
    thousands of updates) must not be measured as the next phase's cost. Returns how busy it
    was at the end and how long it took."""
    started = time.monotonic()
    busy = box_busy_pct()
    while busy > SETTLED_PCT and time.monotonic() - started < cap_s:
        busy = box_busy_pct(1.0)
    return busy, round(time.monotonic() - started, 1)


def environment(r: dict[str, Any]) -> str:
    busy = ", ".join(
        f"{k} {v:.0f} %" for k, v in (r.get("box_busy_pct_before_phase") or {}).items()
    )
    durations = ", ".join(f"{k} {v:g} s" for k, v in (r.get("phase_s") or {}).items())
    return (
        f"Machine: {r.get('cpus')} CPUs ({r.get('cpu_model')}), Python {r.get('python')}; "
        f"PostgreSQL {r.get('postgres')}, Redis {r.get('redis')}, wrk {r.get('wrk')}. "
        "Load generator, servers, workers, PostgreSQL and Redis share the same cores. Just before "
        f"each phase the box's CPUs were busy: {busy} (anything above a few % is other work on "
        "the machine, which lowers every figure of that phase). Phase durations: "
        f"{durations}."
    )


def _facts(bench: Bench) -> None:
    r = bench.results
    r["cpus"] = os.cpu_count()
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        r["cpu_model"] = next(
            line.split(":", 1)[1].strip()
            for line in cpuinfo.splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        r["cpu_model"] = "unknown"
    r["python"] = sys.version.split()[0]
    for key, command in (
        ("postgres", ["psql", "--version"]),
        ("redis", ["redis-server", "-v"]),
        ("wrk", ["wrk", "--version"]),
    ):
        try:
            done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
            words = (done.stdout + done.stderr).split()
            r[key] = next((w.split("=")[-1] for w in words if any(c.isdigit() for c in w)), "?")
        except OSError:
            r[key] = "missing"


def run(args: argparse.Namespace) -> dict[str, Any]:
    durations = conf.Durations.quick() if args.quick else conf.Durations.full()
    bench = Bench(durations, "quick" if args.quick else "full", profile=args.profile)
    bench.results["celery_nice"] = conf.CELERY_NICE
    if args.env:
        extra = dict(item.split("=", 1) for item in args.env)
        bench.extra_env = extra
        bench.results["extra_env"] = extra
    if args.setup_sql:
        bench.setup_sql = Path(args.setup_sql).resolve()
        bench.results["setup_sql"] = str(args.setup_sql)
    chosen = [p for p in (args.phases.split(",") if args.phases else PHASES) if p]
    started = time.monotonic()
    bench.results["started_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    bench.results["commit"] = _git_commit()
    _facts(bench)
    failed: list[str] = []
    try:
        print(f"bench: setting up ({bench.mode})", flush=True)
        setup(bench)
        bench.sampler.start()
        _bodies(bench)
        from bench import phases

        for name in PHASES:
            if name not in chosen:
                continue
            busy, waited = settle(bench.d.settle_cap_s)
            bench.results.setdefault("box_busy_pct_before_phase", {})[name] = busy
            bench.results.setdefault("settle_s_before_phase", {})[name] = waited
            settled = f", after {waited:g} s settling" if waited >= 1 else ""
            print(f"bench: {name} (box {busy:.0f} % busy before it{settled})", flush=True)
            bench.sampler.phase = name
            phase_started = time.monotonic()
            try:
                getattr(phases, f"phase_{name}")(bench)
            except Exception as error:  # one broken phase must not hide the others' figures
                traceback.print_exc()
                failed.append(name)
                bench.notes.append(f"phase {name} failed: {type(error).__name__}: {error}")
            took = round(time.monotonic() - phase_started, 1)
            bench.results.setdefault("phase_s", {})[name] = took
            print(f"  ({took:g} s)", flush=True)
    finally:
        bench.sampler.stop()
        stopping = time.monotonic()
        bench.stop_all()
        bench.results["stop_s"] = round(time.monotonic() - stopping, 1)
    r = bench.results
    r["rss_by_phase"] = {k: v for k, v in bench.sampler.peaks.items() if v}
    r["web_worker_rss_peak_mb"] = bench.sampler.overall("web")
    r["celery_worker_rss_peak_mb"] = bench.sampler.overall("celery")
    r["notes"] = bench.notes
    r["failed_phases"] = failed
    r["wall_s"] = round(time.monotonic() - started, 1)
    for key in (
        "ingest_rps",
        "ingest_floor_rps",
        "ingest_p99_ms",
        "pywa_rps",
        "events_sent",
        "events_stored",
        "forward_per_s",
        "forward_floor_per_s",
        "send_rps",
        "onboarding_total_s",
        "onboarding_all_active",
        "dispatch_total_per_s",
        "dispatch_busiest_second_by_number",
        "dispatch_over_limit",
        "dispatch_lost",
        "dispatch_doubled",
    ):
        r.setdefault(key, None)
    return r


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run")
    parser.add_argument("--json", metavar="PATH", help="write the figures as JSON to PATH")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the platform during ingest and the workers during backlog "
        "and forward; summaries in var/bench/profile-*.summary.txt",
    )
    parser.add_argument(
        "--env",
        metavar="NAME=VALUE",
        action="append",
        help="an experiment: a setting for the platform and its workers (repeatable)",
    )
    parser.add_argument(
        "--setup-sql",
        metavar="FILE",
        help="an experiment: SQL run on the bench database after migrating",
    )
    parser.add_argument("--phases", help=f"comma-separated subset of {','.join(PHASES)}")
    docs = parser.add_mutually_exclusive_group()
    docs.add_argument(
        "--docs",
        dest="docs",
        action="store_true",
        default=None,
        help="write docs/benchmarks.md and its plot (default for a full run)",
    )
    docs.add_argument("--no-docs", dest="docs", action="store_false")
    args = parser.parse_args(argv)
    r = run(args)
    table = report.rows(r)
    print()
    print(report.text_table(table))
    for note in r["notes"]:
        print(f"note: {note}")
    out = Path(args.json) if args.json else conf.OUT_DIR / "results.json"
    report.write_json(out, r)
    print(f"\nJSON: {out}")
    if args.docs if args.docs is not None else not args.quick:
        plotted = report.plot(conf.PLOT_FILE, r)
        report.write_docs(
            conf.DOCS_FILE,
            r,
            plot_name=conf.PLOT_FILE.name if plotted else None,
            environment=environment,
        )
        print(f"docs: {conf.DOCS_FILE.relative_to(conf.ROOT)}")
    return 1 if r["failed_phases"] else 0
