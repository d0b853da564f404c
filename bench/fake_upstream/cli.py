"""Command line: run one fake upstream in the foreground until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from .server import State, serve


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fake_upstream",
        description="Fake OpenAI / Anthropic / Ollama upstream for Tollgate tests and benchmarks.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=9100, help="port to bind; 0 picks a free one (default 9100)"
    )
    parser.add_argument(
        "--latency-ms", type=int, default=0, help="delay before every response's headers"
    )
    parser.add_argument("--chunk-delay-ms", type=int, default=0, help="delay between stream events")
    parser.add_argument(
        "--status", type=int, default=None, help="answer every API request with this error status"
    )
    parser.add_argument(
        "--reply-tokens", type=int, default=None, help="length of generated replies (default 12)"
    )
    parser.add_argument(
        "--require-key",
        action="append",
        default=None,
        metavar="KEY",
        help="accept only these API keys (repeatable)",
    )
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME",
        help="serve an extra model (repeatable)",
    )
    parser.add_argument(
        "--any-model", action="store_true", help="accept any model name instead of answering 404"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config: dict[str, object] = {
        "latency_ms": args.latency_ms,
        "chunk_delay_ms": args.chunk_delay_ms,
    }
    if args.status is not None:
        config["status"] = args.status
    if args.reply_tokens is not None:
        config["reply_tokens"] = args.reply_tokens
    if args.require_key:
        config["require_keys"] = args.require_key
    if args.any_model:
        config["any_model"] = True
    state = State(models=args.model, config=config)

    def ready(url: str) -> None:
        print(f"fake upstream listening on {url}", flush=True)

    async def run() -> None:
        task = asyncio.ensure_future(serve(args.host, args.port, state, ready))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    try:
        asyncio.run(run())
    except OSError as exc:
        print(f"fake upstream: {exc}", file=sys.stderr)
        return 1
    return 0
