"""``python -m bench.fake_upstream --port 9100 [--host 127.0.0.1]``."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
