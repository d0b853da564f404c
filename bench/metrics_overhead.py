"""What observability adds to one gateway call, measured with timeit (microseconds per call):
config.metrics.record_call (the settlement of a non-streamed call and of a stream), the stream
gauge, and the request's log context (bind, note the body and an upstream key).

    DEBUG=1 .venv/bin/python -m bench.metrics_overhead            # one process, in memory
    DEBUG=1 .venv/bin/python -m bench.metrics_overhead --multiprocess   # gunicorn's set-up

--multiprocess points PROMETHEUS_MULTIPROC_DIR at a temporary directory (mmap'd files), as
gunicorn.conf.py does for the workers.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import timeit
from decimal import Decimal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--multiprocess", action="store_true")
    parser.add_argument("--number", type=int, default=100_000)
    options = parser.parse_args()
    if options.multiprocess:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="tollgate-metrics-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from billing.limiter import Admission
    from billing.metering import Call, Usage
    from config import logs, metrics
    from keys.principal import Principal

    principal = Principal.__new__(Principal)
    admission = Admission("c", [], 1, 1, {})

    def call(stream: bool) -> Call:
        made = Call(principal, "req_1", "chat_completions", "openai", stream=stream)
        made.served_model, made.deployment_id, made.upstream_ms = "llama3.2", 1, 120.0
        made.usage, made.ttft_ms, made.admission = Usage(42, 128), 130, admission
        made.prices = (Decimal("0.05"), Decimal("0.10"))
        return made

    plain, streamed = call(False), call(True)
    body = {"model": "llama3.2", "messages": [{"role": "user", "content": "hello"}]}
    meta = {"HTTP_X_API_KEY": "sk-tg-x"}
    cases = {
        "record_call (non-streamed call)": lambda: metrics.record_call(plain, 1, 0),
        "record_call (stream) + stream_admitted": lambda: (
            metrics.stream_admitted(),
            metrics.record_call(streamed, 1, 12),
        ),
        "limit_rejected": lambda: metrics.limit_rejected("rpm"),
        "log context: bind + note_body + note_secret": lambda: (
            logs.bind_request("req_1", meta),
            logs.note_body(body),
            logs.note_secret("upstream-key"),
        ),
    }
    mode = "multiprocess (mmap files)" if metrics.MULTIPROCESS else "one process (in memory)"
    print(
        f"Python {sys.version.split()[0]}, prometheus_client {mode}, {options.number:,} calls each"
    )
    for name, case in cases.items():
        best = min(timeit.repeat(case, number=options.number, repeat=5)) / options.number
        print(f"  {name:45} {best * 1e6:6.2f} µs")


if __name__ == "__main__":
    main()
