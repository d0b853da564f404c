"""The test session's settings: config.settings with a state directory of its own.

Each pytest session gets a fresh temporary folder as TOLLGATE_VAR_DIR before config.settings is
read, so the embedded Celery broker, SQLite file, media and beat schedule of a test run never land
in the checkout's var/ (where `make run` would find them), and two sessions never share a queue.
Subprocesses started by the tests inherit the variable, and so the folder.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

_SESSION_VAR_DIR = tempfile.mkdtemp(prefix="tollgate-tests-")
os.environ["TOLLGATE_VAR_DIR"] = _SESSION_VAR_DIR
atexit.register(shutil.rmtree, _SESSION_VAR_DIR, ignore_errors=True)

from config.settings import *  # noqa: E402, F403
