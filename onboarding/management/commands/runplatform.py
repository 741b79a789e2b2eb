"""`manage.py runplatform`: the embedded default in one command.

Seeds a demo Tech Provider (wired to the sandbox when it is on), prints its credentials and signup
page, then runs a real Celery worker (with beat) and a threaded gunicorn until interrupted. The
server must be threaded: with the sandbox on, the worker calls this same server over HTTP, and the
sandbox calls back into it (webhooks, the override handshake) while a request is in flight.
"""

import signal
import subprocess
import sys
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from onboarding.models import TechProvider
from onboarding.services.tech_providers import (
    IssuedCredentials,
    tech_provider_create,
    tech_provider_rotate_token,
)

DEMO_NAME = "Demo Tech Provider"


def _demo_credentials() -> IssuedCredentials:
    """The demo account, created once; its token is rotated so it can be printed again."""
    existing = TechProvider.objects.filter(name=DEMO_NAME).first()
    if existing:
        return tech_provider_rotate_token(tech_provider=existing)
    sandbox = settings.SANDBOX_ENABLED
    return tech_provider_create(
        name=DEMO_NAME,
        meta_app_id=settings.SANDBOX_APP_ID if sandbox else "",
        meta_config_id=getattr(settings, "SANDBOX_CONFIG_ID", "") if sandbox else "",
        meta_app_secret=settings.SANDBOX_APP_SECRET if sandbox else "",
    )


class Command(BaseCommand):
    help = "Run the web server and a Celery worker (with beat), after seeding a demo account."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--bind", default="127.0.0.1:8000")
        parser.add_argument("--threads", type=int, default=16)
        parser.add_argument("--no-worker", action="store_true", help="web server only")

    def handle(self, *args: Any, **options: Any) -> None:
        self._print_demo(_demo_credentials(), options["bind"])
        children = [] if options["no_worker"] else [self._start_worker()]
        children.append(self._start_web(options["bind"], options["threads"]))
        self._wait(children)

    def _print_demo(self, issued: IssuedCredentials, bind: str) -> None:
        tp = issued.tech_provider
        base = settings.PUBLIC_BASE_URL
        self.stdout.write(f"\n{settings.PLATFORM_NAME} on {base} (listening on {bind})")
        self.stdout.write(f"Meta sandbox: {'on' if settings.SANDBOX_ENABLED else 'off'}")
        self.stdout.write("Demo Tech Provider credentials (new token each run; shown once):")
        self.stdout.write(f"  export AUTH_ID={tp.auth_id}")
        self.stdout.write(f"  export AUTH_TOKEN={issued.auth_token}")
        self.stdout.write(f"  signup page: {base}/connect/{tp.public_id}/\n")

    def _start_worker(self) -> subprocess.Popen[bytes]:
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--beat",
            "--loglevel",
            "INFO",
            "--concurrency",
            "2",
        ]
        return subprocess.Popen(command)  # noqa: S603 - fixed argv, no shell

    def _start_web(self, bind: str, threads: int) -> subprocess.Popen[bytes]:
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--bind",
            bind,
            "--workers",
            "1",
            "--threads",
            str(threads),
        ]
        return subprocess.Popen(command)  # noqa: S603 - fixed argv, no shell

    def _wait(self, children: list[subprocess.Popen[bytes]]) -> None:
        def stop(signum: int, frame: Any) -> None:
            for child in children:
                child.terminate()

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        while all(child.poll() is None for child in children):
            try:
                children[-1].wait(timeout=1)
            except subprocess.TimeoutExpired:
                continue
        stop(signal.SIGTERM, None)
        for child in children:
            child.wait(timeout=30)
