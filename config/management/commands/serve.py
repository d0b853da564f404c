"""Run the whole gateway in one command: migrations, the default catalog on an empty database,
the web server (gunicorn, one gthread worker: counters are in-process in the embedded setup), a
Celery worker, and, when OLLAMA_BASE_URL is unset, the demo upstream (bench/fake_upstream)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from billing.catalog import DEFAULT_CATALOG, apply_file
from billing.models import Plan


def banner(*, demo: bool) -> str:
    """What a newcomer needs after `make run`: where to sign up, the admin, the docs."""
    base = settings.PUBLIC_BASE_URL
    lines = [
        "",
        f"Tollgate is up: {base}/  (Ctrl-C to stop)",
        f"  Sign up:    {base}/accounts/signup/",
        f"  Dashboard:  {base}/dashboard/",
        f"  API docs:   {base}/api/v1/docs",
        f"  Admin:      {base}/admin/  (an operator account first: "
        ".venv/bin/python manage.py createsuperuser)",
    ]
    if demo:
        lines += [
            "  Models:     the demo upstream answers with placeholder words, not a real model;",
            "              set OLLAMA_BASE_URL to your Ollama server for real answers.",
        ]
    return "\n".join([*lines, ""])


class Command(BaseCommand):
    help = "Run web + worker (+ demo upstream) in the foreground; Ctrl-C stops them all."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--bind", default=os.environ.get("BIND", "127.0.0.1:8000"))
        parser.add_argument("--threads", type=int, default=int(os.environ.get("WEB_THREADS", "32")))
        parser.add_argument("--no-worker", action="store_true", help="do not start a Celery worker")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        if not Plan.objects.exists():
            for line in apply_file(DEFAULT_CATALOG):
                self.stdout.write(f"catalog: {line}")
        commands = {"web": self._web(options)}
        if not options["no_worker"]:
            commands["worker"] = self._worker()
        if settings.REDIS_URL and settings.USAGE_QUEUE:
            commands["usage-flusher"] = [sys.executable, "manage.py", "flush_usage"]
        commands.update(self._extra_processes())
        self._supervise(commands)

    def _web(self, options: dict[str, Any]) -> list[str]:
        return [
            sys.executable, "-m", "gunicorn", "config.wsgi:application",
            "--bind", options["bind"], "--worker-class", "gthread", "--workers", "1",
            "--threads", str(options["threads"]), "--timeout", "0",
            "--access-logfile", "-",
        ]  # fmt: skip

    def _worker(self) -> list[str]:
        return [
            sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO",
            "--queues", "default,training", "--pool", "threads", "--concurrency", "2",
            # One host: the worker also runs the beat (the fine-tune reaper's schedule).
            "--beat", "--schedule", str(settings.VAR_DIR / "celerybeat-schedule"),
        ]  # fmt: skip

    def _extra_processes(self) -> dict[str, list[str]]:
        """The demo upstream (speaks Ollama's API) when no real Ollama is configured."""
        if settings.OLLAMA_BASE_URL:
            return {}
        port = str(settings.DEMO_UPSTREAM_PORT)
        return {"demo-upstream": [sys.executable, "-m", "bench.fake_upstream", "--port", port]}

    def _supervise(self, commands: dict[str, list[str]]) -> None:
        base_dir = Path(settings.BASE_DIR)
        processes = {
            name: subprocess.Popen(command, cwd=base_dir, env=os.environ.copy())
            for name, command in commands.items()
        }
        for name, process in processes.items():
            self.stdout.write(f"started {name} (pid {process.pid})")
        self.stdout.write(banner(demo="demo-upstream" in processes))
        stopping = False

        def stop(*_: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                exited = [n for n, p in processes.items() if p.poll() is not None]
                if exited:
                    self.stderr.write(f"{', '.join(exited)} exited; stopping the rest")
                    break
                time.sleep(0.5)
        finally:
            for process in processes.values():
                if process.poll() is None:
                    process.terminate()
            deadline = time.monotonic() + 10
            for process in processes.values():
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
