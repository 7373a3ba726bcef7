"""Line-delimited JSON progress on the original stdout: `{"event": ..., "pid": ..., ...fields, "t": ...}`.

Every line carries the pid of the process that wrote it: the progress file of a job holds the lines
of every launch, and whoever follows it (a retried activity re-attaching) keeps the current one's.
Libraries print (exporters, warnings); the progress stream must stay parseable, so `claim_stdout`
moves fd 1 to stderr and keeps a private handle on the original stdout for progress lines only.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from typing import IO, Any


def _clean(value: Any) -> Any:
    # JSON has no NaN/Infinity; a diverged loss must still produce a parseable line.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return _clean(value.item())
    return value


class Progress:
    def __init__(self, stream: IO[str]):
        self._stream = stream
        self._t0 = time.monotonic()

    def emit(self, event: str, **fields: Any) -> None:
        line = {"event": event, "pid": os.getpid(), **_clean(fields), "t": round(time.monotonic() - self._t0, 3)}
        self._stream.write(json.dumps(line, separators=(",", ":")) + "\n")
        self._stream.flush()


def claim_stdout() -> Progress:
    """Progress on the real stdout; everything else written to fd 1 goes to stderr from now on."""
    sys.stdout.flush()
    progress_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return Progress(os.fdopen(progress_fd, "w", buffering=1, encoding="utf-8"))
